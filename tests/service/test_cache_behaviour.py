"""The cache against the emulator over HTTPS, through the real async SDK and managed identity.

Where time matters the sidecar runs on a FakeClock with jitter fixed (rand = 1.0: refreshes at
0.9 x the interval, backoff at its ceiling), so every schedule is exact.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from akv_sidecar.testing import FakeClock, run_sidecar

from .conftest import Vault, client, max_rand, wait_for


def test_prefetch_of_50_secrets_is_parallel_and_fetches_each_once(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """50 secrets at 100 ms latency, concurrency 16: ready in under 1 s, one get per secret."""
    names = [f"secret-{i:02d}" for i in range(50)]
    values = kv.seed(*names)
    kv.emulator.inject(vault="kv1", latency=0.1)
    config = make_config(*names, upstream={"concurrency": 16})
    with run_sidecar(config, wait_ready=False) as sidecar, client(sidecar) as http:
        started = time.monotonic()  # the server is up; its lifespan started the prefetch
        wait_for(lambda: http.get("/readyz").status_code == 200, what="ready")
        elapsed = time.monotonic() - started
        assert elapsed < 1.0, f"prefetch took {elapsed:.2f} s"
        assert all(kv.gets(name, status=200) == 1 for name in names)
        assert http.get("/v1/vaults/kv1/secrets/secret-07").json()["value"] == values["secret-07"]
    assert kv.gets() == 50


def test_reads_cost_no_key_vault_calls_and_rotation_lands_within_one_interval(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """1,000 hits make zero Key Vault calls; a new version is served one refresh interval later."""
    first = kv.seed("bronze", "silver")
    clock = FakeClock()
    config = make_config("bronze", "silver", cache={"refresh_interval": "60s"})
    with run_sidecar(config, clock=clock, rand=max_rand) as sidecar, client(sidecar) as http:
        calls = kv.gets()
        for i in range(1000):
            response = http.get(f"/v1/vaults/kv1/secrets/{('bronze', 'silver')[i % 2]}")
            assert response.status_code == 200
            assert response.headers["x-cache"] == "hit"
        assert kv.gets() == calls == 2
        assert response.json()["value"] == first["silver"]
        rotated = kv.rotate("bronze")
        clock.advance(59.0)
        wait_for(lambda: kv.gets("bronze") == 2, what="the scheduled refresh")
        body = http.get("/v1/vaults/kv1/secrets/bronze").json()
        assert body["value"] == rotated
        assert body["stale"] is False
        wait_for(lambda: kv.gets("silver") == 2, what="silver's refresh")
        assert kv.gets() == 4  # the two prefetches and one scheduled refresh each, nothing else
    sidecar.sidecar.records.drain()
    assert sidecar.sidecar.metrics.cache_reads["hit"] == 1001


def test_outage_serves_stale_until_max_stale_then_503_then_recovers(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """During an outage reads return the last value marked stale until max_stale, then 503."""
    value = kv.seed("bronze")["bronze"]
    clock = FakeClock()
    config = make_config(
        "bronze",
        cache={
            "refresh_interval": "10s",
            "max_stale": "60s",
            "backoff_base": "1s",
            "backoff_max": "5s",
        },
    )
    with run_sidecar(config, clock=clock, rand=max_rand) as sidecar, client(sidecar) as http:
        kv.emulator.inject(vault="kv1", outage="503")
        clock.advance(9.0)  # the first refresh (0.9 x 10 s) fails
        wait_for(lambda: kv.gets("bronze", status=503) == 1, what="the failed refresh")
        while clock.monotonic() < 60.0:
            response = http.get("/v1/vaults/kv1/secrets/bronze")
            assert response.status_code == 200, f"read failed at t={clock.monotonic()}"
            assert response.headers["x-cache"] == "stale"
            assert response.json()["stale"] is True
            assert response.json()["value"] == value
            age = clock.monotonic()  # fetched at 0 on this clock
            assert response.headers["age"] == str(int(age))
            assert response.json()["age_seconds"] == pytest.approx(age, abs=0.1)
            clock.advance(min(2.5, 60.0 - clock.monotonic()))
            wait_for(lambda: clock.sleeping >= 1, what="the refresh task to sleep")
        assert http.get("/v1/vaults/kv1/secrets/bronze").status_code == 200  # age exactly 60 s
        assert kv.gets("bronze", status=503) >= 5  # it kept retrying, with backoff
        clock.advance(0.5)
        gone = http.get("/v1/vaults/kv1/secrets/bronze")
        assert gone.status_code == 503, gone.text
        assert gone.json()["error"]["code"] == "Unavailable"
        assert value not in gone.text
        kv.emulator.clear_faults()
        clock.advance(5.0)
        wait_for(lambda: kv.gets("bronze", status=200) == 2, what="the recovering refresh")
        fresh = http.get("/v1/vaults/kv1/secrets/bronze")
        assert fresh.status_code == 200
        assert fresh.headers["x-cache"] == "hit"
        assert fresh.json()["stale"] is False
        assert fresh.json()["value"] == value


def test_retry_after_closes_the_vault_for_every_call(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """After a 429 with Retry-After: 2, no request reaches that vault before 2 s have passed."""
    kv.seed("bronze", "silver")
    clock = FakeClock()
    config = make_config("bronze", cache={"refresh_interval": "10s"})
    with run_sidecar(config, clock=clock, rand=max_rand) as sidecar, client(sidecar) as http:
        kv.emulator.inject(vault="kv1", throttle=(0, 3600), retry_after=2)
        clock.advance(9.0)
        wait_for(lambda: kv.gets(status=429) == 1, what="the throttled refresh")
        throttled_at = clock.monotonic()
        # A miss for another secret of that vault is answered without calling Key Vault.
        miss = http.get("/v1/vaults/kv1/secrets/silver")
        assert miss.status_code == 503
        assert miss.headers["retry-after"] == "2"
        for step in (0.5, 0.5, 0.5, 0.4):  # up to 1.9 s after the 429
            clock.advance(step)
            wait_for(lambda: clock.sleeping == 1, what="the refresh task to wait")
            assert kv.gets() == 2, f"a call went out {clock.monotonic() - throttled_at:.1f} s in"
        clock.advance(0.1)
        wait_for(lambda: kv.gets(status=429) == 2, what="the retry at 2 s")


def test_429_without_retry_after_backs_off_exponentially(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """Without Retry-After, successive calls to a throttling vault are 1, 2, 4, 8 s apart."""
    kv.seed("bronze")
    clock = FakeClock()
    config = make_config("bronze", cache={"refresh_interval": "10s", "backoff_max": "60s"})
    with run_sidecar(config, clock=clock, rand=max_rand):
        kv.emulator.inject(vault="kv1", throttle=(0, 3600))
        call_times: list[float] = []
        seen = 0
        while clock.monotonic() < 9.0 + 16.0:
            clock.advance(0.25)
            wait_for(lambda: clock.sleeping == 1, what="the refresh task to wait")
            if (now := kv.gets(status=429)) > seen:
                seen = now
                call_times.append(clock.monotonic())
        gaps = [later - earlier for earlier, later in itertools.pairwise(call_times)]
        assert gaps == [1.0, 2.0, 4.0, 8.0]


async def test_concurrent_misses_make_one_call_and_missing_secrets_are_remembered(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """100 concurrent first reads: one Key Vault call; 100 reads of a missing secret: one or two."""
    value = kv.seed("on-demand")["on-demand"]
    kv.emulator.inject(vault="kv1", latency=0.2)
    with run_sidecar(make_config()) as sidecar:
        headers = sidecar.headers
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=sidecar.url, headers=headers, limits=limits) as http:
            reads = await asyncio.gather(
                *(http.get("/v1/vaults/kv1/secrets/on-demand") for _ in range(100))
            )
            assert {r.status_code for r in reads} == {200}
            assert {r.json()["value"] for r in reads} == {value}
            assert kv.gets("on-demand") == 1
            missing = await asyncio.gather(
                *(http.get("/v1/vaults/kv1/secrets/typo") for _ in range(50))
            )
            missing += [await http.get("/v1/vaults/kv1/secrets/typo") for _ in range(50)]
            assert {r.status_code for r in missing} == {404}
            assert {r.json()["error"]["code"] for r in missing} == {"SecretNotFound"}
            assert kv.gets("typo") in (1, 2)
