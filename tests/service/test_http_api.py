"""The HTTP API against a running sidecar: shapes, headers, errors, batch, refresh, shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from akv_sidecar.testing import FakeClock, run_sidecar

from .conftest import Vault, max_rand, wait_for

SECRET_FIELDS = {
    "vault", "name", "value", "version", "content_type", "tags", "enabled", "not_before",
    "expires_on", "updated_on", "fetched_at", "age_seconds", "stale",
}  # fmt: skip


def test_read_shape_headers_versions_and_disabled(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """A read carries every field, X-Cache, Age and no-store; versions and disabled secrets work."""
    first = kv.seed("bronze")["bronze"]
    old_version = kv.emulator.set_secret("kv1", "old", "x")  # not a seeded value: never read
    kv.rotate("old")
    kv.emulator.set_secret("kv1", "off", "hidden-disabled-value")
    kv.emulator.set_enabled("kv1", "off", False)
    with run_sidecar(make_config("bronze")) as sidecar:
        headers = sidecar.headers
        with httpx.Client(base_url=sidecar.url, headers=headers) as http:
            hit = http.get("/v1/vaults/KV1/secrets/Bronze")
            assert hit.status_code == 200
            assert set(hit.json()) == SECRET_FIELDS
            assert hit.json()["value"] == first
            assert hit.json()["stale"] is False
            assert hit.headers["x-cache"] == "hit"
            assert hit.headers["age"] == "0"
            assert hit.headers["cache-control"] == "no-store"
            pinned = http.get("/v1/vaults/kv1/secrets/old", params={"version": old_version})
            assert pinned.json()["version"] == old_version
            assert pinned.json()["value"] == "x"
            assert pinned.headers["x-cache"] == "miss"
            again = http.get("/v1/vaults/kv1/secrets/old", params={"version": old_version})
            assert again.headers["x-cache"] == "hit"
            assert kv.gets("old") == 1
            disabled = http.get("/v1/vaults/kv1/secrets/off")
            assert disabled.status_code == 404
            assert disabled.json()["error"]["code"] == "SecretDisabled"
            assert "hidden-disabled-value" not in disabled.text


def test_batch_keeps_request_order_with_per_item_errors(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """One batch: results in request order, a secret or a per-item error each."""
    values = kv.seed("bronze", "silver")
    with run_sidecar(make_config("bronze")) as sidecar:
        headers = sidecar.headers
        items = [
            {"vault": "kv1", "name": "silver"},
            {"vault": "kv1", "name": "missing"},
            {"vault": "nokv", "name": "bronze"},
            {"vault": "kv1", "name": "bronze"},
            {"vault": "kv1", "name": "bad_name"},
        ]
        response = httpx.post(
            f"{sidecar.url}/v1/secrets:batch", json={"secrets": items}, headers=headers
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        results = response.json()["results"]
        assert [(r["vault"], r["name"]) for r in results] == [
            (i["vault"], i["name"]) for i in items
        ]
        assert results[0]["value"] == values["silver"]
        assert results[3]["value"] == values["bronze"]
        assert [r.get("error", {}).get("code") for r in results] == [
            None, "SecretNotFound", "VaultNotConfigured", None, "InvalidName",
        ]  # fmt: skip


def test_refresh_fetches_now_at_most_once_per_10_s(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """POST .../refresh returns the newest version at once, then 429 until 10 s have passed."""
    kv.seed("bronze")
    clock = FakeClock()
    with run_sidecar(make_config("bronze"), clock=clock, rand=max_rand) as sidecar:
        url = f"{sidecar.url}/v1/vaults/kv1/secrets/bronze/refresh"
        headers = sidecar.headers
        rotated = kv.rotate("bronze")
        fresh = httpx.post(url, headers=headers)
        assert fresh.status_code == 200
        assert fresh.json()["value"] == rotated
        assert fresh.headers["x-cache"] == "miss"
        clock.advance(9.5)
        limited = httpx.post(url, headers=headers)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["error"]["code"] == "TooManyRequests"
        clock.advance(0.5)
        assert httpx.post(url, headers=headers).status_code == 200
        assert kv.gets("bronze") == 3
        hit = httpx.get(f"{sidecar.url}/v1/vaults/kv1/secrets/bronze", headers=headers)
        assert hit.json()["value"] == rotated


def test_bad_input_gets_status_and_json_error_and_service_keeps_serving(
    kv: Vault,
    make_config: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every kind of bad request gets its status and a JSON error; good reads still work after."""
    value = kv.seed("bronze")["bronze"]
    monkeypatch.setenv("LIMITED_TOKEN", "limited-caller-token-123")
    config = make_config("bronze")
    config["auth"]["tokens"].append(
        {"name": "limited", "token_env": "LIMITED_TOKEN", "allow": ["kv1/public-*"]}
    )
    with run_sidecar(config) as sidecar:
        good = sidecar.headers
        secret = "/v1/vaults/kv1/secrets/bronze"
        json_type = {**good, "Content-Type": "application/json"}
        too_many = {"secrets": [{"vault": "kv1", "name": "a"}] * 101}
        bad_basic = {"Authorization": "Basic dXNlcjpwdw=="}
        wrong = {"Authorization": "Bearer wrong-token"}
        limited = {"Authorization": "Bearer limited-caller-token-123"}
        batch = "/v1/secrets:batch"
        cases: list[tuple[str, str, dict[str, Any], int, str]] = [
            ("GET", "/v1/vaults/kv1/secrets/bad_name", {"headers": good}, 400, "InvalidName"),
            ("GET", "/v1/vaults/x/secrets/bronze", {"headers": good}, 400, "InvalidName"),
            ("GET", f"{secret}?version=xyz", {"headers": good}, 400, "InvalidName"),
            ("GET", f"{secret}%0A", {"headers": good}, 400, "InvalidName"),
            # U+212A KELVIN SIGN lower-cases to "k": not a vault name, not a way to "kv1".
            ("GET", "/v1/vaults/%E2%84%AAv1/secrets/bronze", {"headers": good}, 400, "InvalidName"),
            ("GET", "/v1/vaults/nokv/secrets/bronze", {"headers": good}, 404, "VaultNotConfigured"),
            ("GET", secret, {}, 401, "Unauthenticated"),
            ("GET", secret, {"headers": bad_basic}, 401, "Unauthenticated"),
            ("GET", secret, {"headers": wrong}, 403, "Forbidden"),
            ("GET", secret, {"headers": limited}, 403, "Forbidden"),
            ("POST", batch, {"headers": good, "content": b"x" * 70_000}, 413, "PayloadTooLarge"),
            (
                "POST",
                batch,
                {"headers": json_type, "content": b'{"secrets": ['},
                400,
                "MalformedBody",
            ),
            ("POST", batch, {"headers": good, "content": b"secrets=a"}, 422, "InvalidRequest"),
            ("POST", batch, {"headers": good, "json": {"secrets": "a"}}, 422, "InvalidRequest"),
            ("POST", batch, {"json": {"secrets": []}}, 401, "Unauthenticated"),
            ("POST", batch, {"headers": good, "json": too_many}, 400, "InvalidRequest"),
            ("GET", "/v2/nothing", {"headers": good}, 404, "NotFound"),
            ("DELETE", secret, {"headers": good}, 405, "MethodNotAllowed"),
        ]
        with httpx.Client(base_url=sidecar.url) as http:
            for method, path, options, status, code in cases:
                response = http.request(method, path, **options)
                assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
                    path
                )
                assert response.json()["error"]["message"]
                assert response.headers["cache-control"] == "no-store"
                assert value not in response.text
            unauthenticated = http.get(secret)
            assert unauthenticated.headers["www-authenticate"] == "Bearer"
            assert http.get(secret, headers=good).json()["value"] == value
        assert httpx.get(f"{sidecar.url}/healthz").json() == {"status": "ok"}


def test_only_paths_that_served_a_hit_are_remembered(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """The fast path keeps no made-up target: only ones that served an authorised cache hit."""
    kv.seed("bronze")
    with run_sidecar(make_config("bronze")) as sidecar:
        hits = sidecar.server.config.app.hits
        with httpx.Client(base_url=sidecar.url) as http:
            for index in range(50):
                made_up = f"/v1/vaults/kv1/secrets/bronze{'x' * 100}{index}"
                assert http.get(made_up).status_code == 401
                assert http.get("/v1/vaults/kv1/secrets/bronze").status_code == 401
            assert len(hits._known) == 0
            good = sidecar.headers
            assert http.get("/v1/vaults/KV1/secrets/bronze", headers=good).status_code == 200
            assert http.get("/v1/vaults/KV1/secrets/bronze", headers=good).status_code == 200
            assert dict(hits._known.items()) == {
                b"/v1/vaults/KV1/secrets/bronze": ("kv1", "bronze")
            }


def test_on_demand_off_serves_only_configured_secrets(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """With on_demand false a secret outside the list is 404 without any Key Vault call."""
    kv.seed("bronze", "silver")
    with run_sidecar(make_config("bronze", cache={"on_demand": False})) as sidecar:
        headers = sidecar.headers
        response = httpx.get(f"{sidecar.url}/v1/vaults/kv1/secrets/silver", headers=headers)
        assert response.status_code == 404
        assert "on-demand reads are off" in response.text
        assert kv.gets("silver") == 0


def test_readyz_waits_for_prefetch_and_lists_failures(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """/readyz is 503 NotReady during prefetch, then 200 naming the secrets that failed."""
    kv.seed("bronze")
    kv.emulator.inject(vault="kv1", latency=0.5)
    with run_sidecar(make_config("bronze", "absent"), wait_ready=False) as sidecar:
        starting = httpx.get(f"{sidecar.url}/readyz")
        assert starting.status_code == 503
        assert starting.json()["error"]["code"] == "NotReady"
        wait_for(lambda: httpx.get(f"{sidecar.url}/readyz").status_code == 200, what="ready")
        ready = httpx.get(f"{sidecar.url}/readyz").json()
        assert ready["status"] == "ready"
        assert [(f["vault"], f["name"]) for f in ready["failed"]] == [("kv1", "absent")]


def test_shutdown_finishes_in_flight_reads_then_cancels_and_closes(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """Stopping lets an in-flight read finish, then cancels every task and closes the clients."""
    value = kv.seed("slow")["slow"]
    results: list[httpx.Response] = []
    tasks_left_at_close: list[int] = []
    with run_sidecar(make_config()) as sidecar:
        service = sidecar.sidecar
        assert service is not None
        close_upstream = service.upstream.close

        async def close_counting_tasks() -> None:
            tasks_left_at_close.append(len(service.tasks))
            await close_upstream()

        service.upstream.close = close_counting_tasks  # type: ignore[method-assign]
        kv.emulator.inject(vault="kv1", latency=1.0)
        headers = sidecar.headers
        reader = threading.Thread(
            target=lambda: results.append(
                httpx.get(f"{sidecar.url}/v1/vaults/kv1/secrets/slow", headers=headers, timeout=10)
            )
        )
        reader.start()
        wait_for(lambda: kv.emulator.calls(op="challenge") >= 1, what="the read to reach Key Vault")
    reader.join(10)
    assert results
    assert results[0].status_code == 200
    assert results[0].json()["value"] == value
    assert tasks_left_at_close == [0]  # every task cancelled before the clients close
    assert len(service.tasks) == 0


def test_openapi_documents_the_routes(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """The schema documents the fast-path GET route, batch and refresh, with bearer security."""
    with run_sidecar(make_config()) as sidecar:
        schema = httpx.get(f"{sidecar.url}/openapi.json").json()
    paths = schema["paths"]
    assert "get" in paths["/v1/vaults/{vault}/secrets/{name}"]
    assert "post" in paths["/v1/secrets:batch"]
    assert "post" in paths["/v1/vaults/{vault}/secrets/{name}/refresh"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
