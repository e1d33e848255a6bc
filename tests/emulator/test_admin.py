"""The admin API drives counters, faults, identity failures and secrets from outside."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from akv_emulator import Emulator

from .conftest import ClientFactory, request_token


@pytest.fixture
def admin(emulator: Emulator) -> Iterator[httpx.Client]:
    """An httpx client for the emulator's admin API."""
    with httpx.Client(base_url=emulator.admin_url) as client:
        yield client


def test_put_secret_then_sdk_reads_it(admin: httpx.Client, make_client: ClientFactory) -> None:
    """PUT /admin/vaults/{v}/secrets/{n} sets a value without auth; the SDK reads it."""
    answer = admin.put("/admin/vaults/kv1/secrets/bench-1", json={"value": "x", "tags": {"k": "v"}})
    assert answer.status_code == 200
    assert len(answer.json()["version"]) == 32
    fetched = make_client().get_secret("bench-1")
    assert fetched.value == "x"
    assert fetched.properties.tags == {"k": "v"}


def test_counters_filter_and_reset(
    emulator: Emulator, admin: httpx.Client, make_client: ClientFactory
) -> None:
    """GET /admin/counters counts by filter; POST /admin/counters/reset zeroes them."""
    emulator.set_secret("kv1", "c", "v")
    client = make_client()
    client.get_secret("c")
    client.get_secret("c")
    body = admin.get("/admin/counters", params={"vault": "kv1", "op": "get", "status": 200}).json()
    assert body["count"] == 2
    assert {"vault": "kv1", "op": "get", "secret": "c", "status": 200, "count": 2} in body[
        "counters"
    ]
    assert admin.post("/admin/counters/reset").status_code == 200
    assert admin.get("/admin/counters").json()["count"] == 0
    assert emulator.calls() == 0


def test_faults_post_and_delete(
    emulator: Emulator, admin: httpx.Client, make_client: ClientFactory
) -> None:
    """POST /admin/faults injects a fault the SDK sees; DELETE /admin/faults clears it."""
    emulator.set_secret("kv1", "f", "v")
    client = make_client(retry_total=0)
    answer = admin.post("/admin/faults", json={"vault": "kv1", "secret": "f", "status": 500})
    assert answer.status_code == 200
    assert answer.json()["faults"] == [{"vault": "kv1", "secret": "f", "status": 500}]
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("f")
    assert caught.value.status_code == 500
    assert admin.delete("/admin/faults", params={"vault": "kv1"}).json()["faults"] == []
    assert client.get_secret("f").value == "v"


def test_latency_range_through_admin(
    admin: httpx.Client, emulator: Emulator, make_client: ClientFactory
) -> None:
    """A JSON [lo, hi] latency becomes a range fault that delays answers."""
    emulator.set_secret("kv1", "slow", "v")
    client = make_client(retry_total=0)
    client.get_secret("slow")
    answer = admin.post("/admin/faults", json={"latency": [0.1, 0.2], "throttle": [5, 1]})
    assert answer.json()["faults"] == [
        {"vault": "kv1", "secret": None, "latency": [0.1, 0.2], "throttle": [5, 1.0]}
    ]
    started = time.monotonic()
    assert client.get_secret("slow").value == "v"
    assert 0.1 <= time.monotonic() - started < 0.2 + 1.0


def test_identity_switch_through_admin(admin: httpx.Client, emulator: Emulator) -> None:
    """POST /admin/identity makes the token endpoint fail, and work again."""
    admin.post("/admin/identity", json={"status": 503})
    assert request_token(emulator).status_code == 503
    admin.post("/admin/identity", json={"status": None})
    assert request_token(emulator).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/admin/faults", {"bogus": 1}, 400, "BadParameter"),
        ("POST", "/admin/faults", {"error_rate": 2}, 400, "BadParameter"),
        ("POST", "/admin/faults", {"vault": "nope", "latency": 1}, 404, "VaultNotFound"),
        ("PUT", "/admin/vaults/nope/secrets/x", {"value": "v"}, 404, "VaultNotFound"),
        ("PUT", "/admin/vaults/kv1/secrets/bad_name", {"value": "v"}, 400, "BadParameter"),
        ("PUT", "/admin/vaults/kv1/secrets/x", {"value": "v", "colour": 1}, 400, "BadParameter"),
        ("GET", "/admin/nothing", None, 404, "NotFound"),
    ],
)
def test_bad_admin_requests_are_json_4xx(
    admin: httpx.Client, method: str, path: str, body: object, status: int, code: str
) -> None:
    """Bad admin input gets a 4xx with a JSON error body naming the problem."""
    answer = admin.request(method, path, json=body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
    assert answer.json()["error"]["message"]
