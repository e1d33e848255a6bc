"""Refreshing many secrets without a task each, /readyz naming trouble, and paged listings.

Against the emulator over HTTPS through the real async SDK; where time matters the sidecar runs
on a FakeClock with jitter fixed (rand = 1.0: refreshes at 0.9 x the interval, backoff at its
ceiling), so every schedule is exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from akv_sidecar.config.loading import load_config
from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.clock import SystemClock
from akv_sidecar.keyvault.client import Upstream
from akv_sidecar.keyvault.gate import VaultGate
from akv_sidecar.keyvault.outcomes import Failed, Failure
from akv_sidecar.testing import FakeClock, run_sidecar

from .conftest import Vault, client, max_rand, wait_for

START = FakeClock().time()  # the wall time every FakeClock starts at
# Key Vault's code and message, as failures carry them (the emulator's 503 text).
UNAVAILABLE = "HTTP 503 ServiceUnavailable: The service is temporarily unavailable."


def iso(seconds_after_start: float) -> str:
    """The ISO 8601 form the sidecar gives a FakeClock time."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(START + seconds_after_start)) + ".000Z"


def test_prefetch_and_refresh_of_many_secrets_use_a_bounded_number_of_tasks(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """100 secrets, concurrency 4: never more than a few tasks, not one per secret, when they
    are prefetched (one get each) and when they all come due for refresh at once."""
    names = [f"s-{i:03d}" for i in range(100)]
    kv.seed(*names)
    kv.emulator.inject(vault="kv1", latency=0.02)
    config = make_config(*names, upstream={"concurrency": 4})
    most = 0
    clock = FakeClock()
    with run_sidecar(config, clock=clock, wait_ready=False) as running:
        sidecar = running.sidecar
        deadline = time.monotonic() + 10
        while not sidecar.cache.ready and time.monotonic() < deadline:  # bounded sampling
            most = max(most, len(sidecar.tasks))
            time.sleep(0.002)
        assert sidecar.cache.ready
        # drain, token watcher, prefetch, the refresh schedule, and 4 fetches at most
        assert 4 <= most <= 8
        # The prefetch's task ends just after it marks the cache ready: give it a moment.
        deadline = time.monotonic() + 5
        while len(sidecar.tasks) > 3 and time.monotonic() < deadline:  # bounded sampling
            time.sleep(0.01)
        assert len(sidecar.tasks) == 3  # drain, token watcher, the refresh schedule
        assert kv.gets() == 100
        assert all(kv.gets(name) == 1 for name in names[::10])
        clock.advance(3600.0)  # every secret is due for refresh now
        most = 0
        deadline = time.monotonic() + 10
        while kv.gets() < 200 and time.monotonic() < deadline:  # bounded sampling
            most = max(most, len(sidecar.tasks))
            time.sleep(0.002)
        assert kv.gets() == 200
        # the three above, plus per refresh worker (4) its fetch and the fetch's shared flight
        assert 4 <= most <= 11


def test_on_demand_secret_joins_the_schedule_and_a_sooner_retry_wakes_it(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """Configured and on-demand secrets refresh at 0.9 x interval; a failure retries 1 s later."""
    kv.seed("bronze", "gold")
    clock = FakeClock()
    config = make_config("bronze", cache={"refresh_interval": "60s"})
    with (
        run_sidecar(config, clock=clock, rand=max_rand) as sidecar,
        client(sidecar) as http,
    ):
        clock.advance(20.0)
        assert http.get("/v1/vaults/kv1/secrets/gold").headers["x-cache"] == "miss"
        clock.advance(34.0)  # t=54: bronze is due, gold (due at 74) is not
        wait_for(lambda: kv.gets("bronze") == 2, what="bronze's refresh")
        assert kv.gets("gold") == 1
        kv.emulator.inject(vault="kv1", secret="gold", outage="503")
        clock.advance(20.0)  # t=74: gold's refresh fails; its retry (t=75) is before bronze's (108)
        wait_for(lambda: kv.gets("gold", status=503) == 1, what="gold's failed refresh")
        wait_for(lambda: clock.sleeping == 1, what="the schedule to sleep until the retry")
        clock.advance(1.0)
        wait_for(lambda: kv.gets("gold", status=503) == 2, what="gold's retry at t=75")
        status = http.get("/v1/status").json()["secrets"]
        gold = next(s for s in status if s["name"] == "gold")
        assert gold["stale"] is True
        assert gold["next_refresh_at"] == iso(77.0)  # backoff ceiling 2 s after the 2nd failure
        assert kv.gets("bronze") == 2
        assert kv.gets() == 5


def test_readyz_names_stale_then_unservable_secrets_and_clears_on_recovery(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """/readyz stays 200 and lists a failing secret as stale, then as failed past max_stale."""
    kv.seed("bronze", "silver")
    clock = FakeClock()
    config = make_config(
        "bronze",
        "silver",
        cache={"refresh_interval": "10s", "max_stale": "60s", "backoff_max": "5s"},
    )
    with run_sidecar(config, clock=clock, rand=max_rand) as sidecar:
        readyz = f"{sidecar.url}/readyz"
        assert httpx.get(readyz).json() == {
            "status": "ready",
            "stale": [],
            "failed": [],
            "throttled": [],
        }
        kv.emulator.inject(vault="kv1", secret="bronze", outage="503")
        clock.advance(9.0)
        wait_for(lambda: kv.gets("bronze", status=503) == 1, what="the failed refresh")
        wait_for(lambda: kv.gets("silver") == 2, what="silver's refresh")
        trouble = {"vault": "kv1", "name": "bronze", "since": iso(9.0), "error": UNAVAILABLE}
        ready = httpx.get(readyz)
        assert ready.status_code == 200
        assert ready.json()["stale"] == [trouble]
        assert ready.json()["failed"] == []
        clock.advance(52.0)  # t=61: the last good value is older than max_stale
        wait_for(lambda: kv.gets("bronze", status=503) == 2, what="the retry")
        ready = httpx.get(readyz)
        assert ready.status_code == 200
        assert ready.json()["stale"] == []
        assert ready.json()["failed"] == [trouble]
        kv.emulator.clear_faults()
        wait_for(lambda: clock.sleeping == 1, what="the schedule to sleep until the next retry")
        clock.advance(2.0)
        wait_for(lambda: kv.gets("bronze", status=200) == 2, what="the recovering refresh")
        assert httpx.get(readyz).json() == {
            "status": "ready",
            "stale": [],
            "failed": [],
            "throttled": [],
        }


async def test_listing_a_vault_applies_the_timeout_to_each_page(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """125 secrets in 5 pages of 0.2 s each list within a 0.7 s timeout; a 1 s page times out."""
    names = {f"s-{i:03d}" for i in range(125)}
    kv.seed(*names)
    config = load_config(data=make_config("*", upstream={"timeout": "0.7s"}), environ={})
    upstream = Upstream(config, VaultGate(SystemClock(), Backoff(1.0, 1.0, lambda: 1.0)))
    await upstream.open()
    try:
        kv.emulator.inject(vault="kv1", latency=0.2)
        started = time.monotonic()
        listed = await upstream.list_enabled("kv1")
        assert time.monotonic() - started > 0.7  # the whole listing took longer than the timeout
        assert isinstance(listed, list)
        assert set(listed) == names
        assert kv.emulator.calls(vault="kv1", op="list", status=200) == 5
        kv.emulator.inject(vault="kv1", latency=1.0)
        started = time.monotonic()
        slow = await upstream.list_enabled("kv1")
        assert time.monotonic() - started < 0.7 + 1.0
        assert isinstance(slow, Failed)
        assert slow.kind is Failure.TIMEOUT
    finally:
        await upstream.close()
