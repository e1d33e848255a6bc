"""Audit log, Prometheus metrics and /v1/status against a running sidecar and the emulator."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import SEEDED, Output, StartSidecar, bearer

if TYPE_CHECKING:
    from akv_emulator import Emulator

READ_ROUTE = "/v1/vaults/{vault}/secrets/{name}"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> Samples:
    """Every sample of /metrics, parsed with prometheus-client's own parser."""
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    """How much one sample moved between two scrapes."""
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_audit_line_per_read_with_every_field_and_no_value(
    start: StartSidecar, output: Output
) -> None:
    """Hits, misses, denials and not-found reads each write one JSON audit line, without values."""
    with start() as sidecar, httpx.Client(base_url=sidecar.url, headers=bearer(sidecar.token)) as c:
        assert c.get("/v1/vaults/kv1/secrets/bronze").status_code == 200
        assert c.get("/v1/vaults/kv1/secrets/gold").status_code == 200
        assert c.get("/v1/vaults/kv1/secrets/missing").status_code == 404
        lines = output.audit_lines(3)
    assert [(line["secret"], line["outcome"], line["cache"]) for line in lines] == [
        ("bronze", "ok", "hit"),
        ("gold", "ok", "miss"),
        ("missing", "SecretNotFound", "none"),
    ]
    for line in lines:
        assert set(line) >= {"time", "caller", "vault", "secret", "version", "outcome", "cache"}
        assert {"latency_ms", "client"} <= set(line)
        assert line["caller"] == "tests"
        assert line["vault"] == "kv1"
        assert line["client"] == "127.0.0.1"
        assert line["latency_ms"] >= 0
    assert len(lines[0]["version"]) == 32
    assert not any(value in str(lines) for value in SEEDED.values())


def test_metrics_move_as_expected_after_known_traffic(start: StartSidecar, kv: Emulator) -> None:
    """Known reads move request, cache, Key Vault call, latency, age and ready metrics exactly."""
    with start() as sidecar, httpx.Client(base_url=sidecar.url, headers=bearer(sidecar.token)) as c:
        before = scrape(c, "/metrics")
        kv_gets = kv.calls(vault="kv1", op="get")
        for _ in range(5):
            assert c.get("/v1/vaults/kv1/secrets/bronze").status_code == 200
        assert c.get("/v1/vaults/kv1/secrets/gold").status_code == 200  # miss, then cached
        assert c.get("/v1/vaults/kv1/secrets/gold").status_code == 200
        assert c.get("/v1/vaults/kv1/secrets/missing").status_code == 404
        assert (
            c.get("/v1/vaults/kv1/secrets/bronze", headers={"Authorization": "x"}).status_code
            == 401
        )
        after = _scrape_until_drained(c, before)
        assert kv.calls(vault="kv1", op="get") - kv_gets == 2
    assert (
        delta(after, before, "akv_sidecar_http_requests_total", route=READ_ROUTE, status="200") == 7
    )
    assert (
        delta(after, before, "akv_sidecar_http_requests_total", route=READ_ROUTE, status="404") == 1
    )
    assert (
        delta(after, before, "akv_sidecar_http_requests_total", route=READ_ROUTE, status="401") == 1
    )
    assert (
        delta(after, before, "akv_sidecar_http_requests_total", route="/metrics", status="200") >= 1
    )
    assert delta(after, before, "akv_sidecar_cache_reads_total", result="hit") == 6
    assert delta(after, before, "akv_sidecar_cache_reads_total", result="miss") == 1
    assert delta(after, before, "akv_sidecar_cache_reads_total", result="stale") == 0
    assert delta(after, before, "akv_sidecar_keyvault_calls_total", vault="kv1", outcome="ok") == 1
    assert (
        delta(after, before, "akv_sidecar_keyvault_calls_total", vault="kv1", outcome="not_found")
        == 1
    )
    assert after["akv_sidecar_keyvault_latency_seconds_count", (("vault", "kv1"),)] == 4
    assert after["akv_sidecar_keyvault_calls_total", (("outcome", "ok"), ("vault", "kv1"))] == 3
    ages = {k[1]: v for k, v in after.items() if k[0] == "akv_sidecar_secret_age_seconds"}
    assert set(ages) == {
        (("secret", "bronze"), ("vault", "kv1")),
        (("secret", "gold"), ("vault", "kv1")),
        (("secret", "silver"), ("vault", "kv1")),
    }
    assert all(0 <= age < 60 for age in ages.values())
    assert after["akv_sidecar_ready", ()] == 1


def _scrape_until_drained(client: httpx.Client, before: Samples) -> Samples:
    """Reads are counted by the drain task: scrape until the 7 served reads show (bounded)."""
    after = before
    for _ in range(50):
        after = scrape(client, "/metrics")
        hits = delta(after, before, "akv_sidecar_cache_reads_total", result="hit")
        if hits >= 6:
            break
        time.sleep(0.05)
    return after


def test_metrics_behind_a_token(start: StartSidecar) -> None:
    """With metrics.require_token, /metrics answers 401 without a caller token, 200 with one."""
    with start(metrics={"require_token": True}) as sidecar, httpx.Client(base_url=sidecar.url) as c:
        refused = c.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "Unauthenticated"
        assert scrape(c, "/metrics", bearer(sidecar.token))["akv_sidecar_ready", ()] == 1


def test_metrics_on_a_separate_port(start: StartSidecar) -> None:
    """With metrics.port, /metrics is served there (no token) and not on the API port."""
    with start(metrics={"port": 0}) as sidecar, httpx.Client() as c:
        assert sidecar.metrics_url is not None
        assert sidecar.metrics_url != sidecar.url
        assert scrape(c, f"{sidecar.metrics_url}/metrics")["akv_sidecar_ready", ()] == 1
        assert c.get(f"{sidecar.url}/metrics").status_code == 404


def test_status_shows_each_secret_without_values(start: StartSidecar, kv: Emulator) -> None:
    """/v1/status needs a token and lists version, age, staleness, last error, next refresh and
    the Key Vault calls and reads of each secret; a failed refresh shows as the last error."""
    with start() as sidecar, httpx.Client(base_url=sidecar.url, headers=bearer(sidecar.token)) as c:
        assert httpx.get(f"{sidecar.url}/v1/status").status_code == 401
        for _ in range(3):
            assert c.get("/v1/vaults/kv1/secrets/bronze").status_code == 200
        kv.inject(vault="kv1", secret="silver", status=500)
        assert c.post("/v1/vaults/kv1/secrets/silver/refresh").status_code == 502
        document = _status_once_drained(c)
    assert not any(value in str(document) for value in SEEDED.values())
    assert document["ready"] is True
    by_name = {secret["name"]: secret for secret in document["secrets"]}
    assert set(by_name) == {"bronze", "silver"}
    bronze, silver = by_name["bronze"], by_name["silver"]
    assert bronze["reads"] == 3
    assert bronze["keyvault_calls"] == 1
    assert len(bronze["version"]) == 32
    assert bronze["stale"] is False
    assert bronze["last_error"] is None
    assert 0 <= bronze["age_seconds"] < 60
    assert bronze["fetched_at"].endswith("Z")
    assert bronze["next_refresh_at"] > bronze["fetched_at"]
    assert silver["keyvault_calls"] == 2
    assert silver["last_error"].startswith("error: HTTP 500")
    assert silver["stale"] is True


def _status_once_drained(client: httpx.Client) -> dict[str, Any]:
    """Reads are counted by the drain task: poll /v1/status until bronze shows 3 reads."""
    document: dict[str, Any] = {}
    for _ in range(50):
        response = client.get("/v1/status")
        assert response.status_code == 200
        document = response.json()
        if any(s["name"] == "bronze" and s["reads"] == 3 for s in document["secrets"]):
            break
        time.sleep(0.05)
    return document
