"""The client's HTTP behaviour against a scripted server: the exact status sequences, trickling
and Unix-socket cases the real sidecar cannot be made to produce on demand (see scripted_server).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from akv_client import (
    SecretNotFound,
    SidecarClient,
    SidecarTimeout,
    SidecarUnavailable,
    UpstreamError,
)
from akv_sidecar.testing import free_port
from tests.client.scripted_server import Reply, ScriptedServer

SECRET = {"vault": "kv1", "name": "bronze", "value": "v-123", "version": "abcd", "stale": False}
NOT_READY = Reply(503, {"error": {"code": "NotReady", "message": "prefetch running"}})


def test_retries_502_503_then_succeeds() -> None:
    """A 503 and a 502 are retried within the deadline; the third attempt's secret is returned."""
    bad_gateway = Reply(502, {"error": {"code": "UpstreamError", "message": "x"}})
    with (
        ScriptedServer([NOT_READY, bad_gateway, Reply(200, SECRET)]) as server,
        SidecarClient(server.url, "tok", retries=3, timeout=5) as client,
    ):
        secret = client.get_secret("kv1", "bronze")
    assert secret.value == "v-123"
    assert len(server.seen) == 3
    assert {seen.path for seen in server.seen} == {"/v1/vaults/kv1/secrets/bronze"}
    assert server.seen[0].headers["Authorization"] == "Bearer tok"


def test_no_retry_on_404_and_retries_are_bounded() -> None:
    """A 404 is final after one request; a 503 storm stops after 1 + retries requests."""
    missing = Reply(404, {"error": {"code": "SecretNotFound", "message": "no such secret"}})
    with ScriptedServer([missing]) as server, SidecarClient(server.url, "t") as client:
        with pytest.raises(SecretNotFound, match="'kv1/nope' was not found"):
            client.get_secret("kv1", "nope")
        assert len(server.seen) == 1
    with ScriptedServer([NOT_READY]) as server, SidecarClient(server.url, "t", retries=2) as client:
        with pytest.raises(SidecarUnavailable, match="'kv1/bronze'"):
            client.get_secret("kv1", "bronze")
        assert len(server.seen) == 3


def test_unreachable_sidecar_is_unavailable() -> None:
    """Nothing listening: SidecarUnavailable naming the secret and what to check."""
    with (
        SidecarClient(f"http://127.0.0.1:{free_port()}", "t", retries=1) as client,
        pytest.raises(SidecarUnavailable) as info,
    ):
        client.get_secret("kv1", "bronze")
    assert "'kv1/bronze'" in str(info.value)
    assert "AKV_SIDECAR_URL" in str(info.value)


def test_trickling_server_cannot_exceed_the_deadline() -> None:
    """A server sending one byte every 0.2 s is cut off at the 1 s deadline (+1 s bound)."""
    with (
        ScriptedServer([Reply(200, SECRET, trickle=0.2)]) as server,
        SidecarClient(server.url, "t") as client,
    ):
        start = time.monotonic()
        with pytest.raises(SidecarTimeout) as info:
            client.get_secret("kv1", "bronze", timeout=1.0)
        elapsed = time.monotonic() - start
    assert elapsed < 2.0
    assert isinstance(info.value, TimeoutError)
    assert "'kv1/bronze'" in str(info.value)


def test_batch_is_one_request_with_per_item_results() -> None:
    """get_secrets sends one POST and returns each item's Secret or its own error, in order."""
    results = {
        "results": [
            SECRET,
            {"vault": "kv1", "name": "gone", "error": {"code": "SecretNotFound", "message": "-"}},
            {"vault": "kv2", "name": "x", "error": {"code": "UpstreamError", "message": "-"}},
        ]
    }
    with ScriptedServer([Reply(200, results)]) as server, SidecarClient(server.url, "t") as client:
        outcomes = client.get_secrets([("kv1", "bronze"), ("kv1", "gone", "v1"), ("kv2", "x")])
    assert [seen.path for seen in server.seen] == ["/v1/secrets:batch"]
    assert server.seen[0].body == {
        "secrets": [
            {"vault": "kv1", "name": "bronze"},
            {"vault": "kv1", "name": "gone", "version": "v1"},
            {"vault": "kv2", "name": "x"},
        ]
    }
    first, second, third = outcomes
    assert not isinstance(first, Exception)
    assert first.value == "v-123"
    assert isinstance(second, SecretNotFound)
    assert "'kv1/gone'" in str(second)
    assert isinstance(third, UpstreamError)


def test_wait_until_ready_polls_readyz() -> None:
    """wait_until_ready returns once /readyz is 200, and times out while it stays 503."""
    ready = Reply(200, {"status": "ready", "failed": []})
    with (
        ScriptedServer([NOT_READY, NOT_READY, ready]) as server,
        SidecarClient(server.url) as client,
    ):
        client.wait_until_ready(timeout=5)
        assert [seen.path for seen in server.seen] == ["/readyz"] * 3
    with ScriptedServer([NOT_READY]) as server, SidecarClient(server.url) as client:
        start = time.monotonic()
        with pytest.raises(SidecarTimeout, match="readyz"):
            client.wait_until_ready(timeout=0.5)
        assert time.monotonic() - start < 1.5


def test_unix_domain_socket(tmp_path: Path) -> None:
    """uds= sends the requests over a Unix domain socket."""
    path = tmp_path / "sidecar.sock"
    with ScriptedServer([Reply(200, SECRET)], uds=path) as server:
        with SidecarClient(token="t", uds=str(path)) as client:
            assert client.get_secret("kv1", "bronze").value == "v-123"
        assert len(server.seen) == 1
