"""The cache's own accounting: the prefetch summary, and pinned reads of the current version.

Against the emulator over HTTPS through the real async SDK; where time matters the sidecar runs
on a FakeClock with jitter fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from akv_sidecar.testing import FakeClock, run_sidecar

from .conftest import Vault, client, max_rand, wait_for


def test_prefetch_summary_counts_every_failure(
    kv: Vault, make_config: Callable[..., dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """5 missing secrets fetched concurrently: the summary says 5 failed, as /readyz lists 5."""
    caplog.set_level(logging.INFO, logger="akv_sidecar")
    kv.seed("present")
    missing = [f"missing-{index}" for index in range(5)]
    kv.emulator.inject(vault="kv1", latency=0.05)  # every fetch overlaps the others
    config = make_config("present", *missing, upstream={"concurrency": 8})
    with run_sidecar(config) as sidecar, client(sidecar) as http:
        failed = http.get("/readyz").json()["failed"]
    assert sorted(item["name"] for item in failed) == missing
    summaries = [r.getMessage() for r in caplog.records if "prefetch done" in r.getMessage()]
    assert len(summaries) == 1
    assert summaries[0].startswith("prefetch done: 6 secrets, 5 failed, in ")


def test_a_pinned_read_of_the_current_version_is_as_stale_as_the_value(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """?version=<current> says stale:true while Key Vault fails, and 503 past max_stale, exactly
    as the plain read does; a pinned older version is still served."""
    kv.seed("bronze")
    clock = FakeClock()
    config = make_config(
        "bronze", cache={"refresh_interval": "10s", "max_stale": "60s", "backoff_max": "5s"}
    )
    with run_sidecar(config, clock=clock, rand=max_rand) as sidecar, client(sidecar) as http:
        path = "/v1/vaults/kv1/secrets/bronze"
        old = http.get(path).json()["version"]
        kv.rotate("bronze")
        clock.advance(9.0)
        wait_for(lambda: kv.gets("bronze", status=200) == 2, what="the refresh to the new version")
        current = http.get(path).json()["version"]
        assert current != old
        assert http.get(path, params={"version": old}).status_code == 200  # fetched and kept
        kv.emulator.inject(vault="kv1", outage="503")
        clock.advance(9.0)
        wait_for(lambda: kv.gets("bronze", status=503) == 1, what="the failed refresh")
        plain, pinned = http.get(path), http.get(path, params={"version": current})
        assert plain.status_code == pinned.status_code == 200
        assert plain.json()["stale"] is pinned.json()["stale"] is True
        assert pinned.headers["x-cache"] == "stale"
        clock.advance(52.0)  # the value is now older than max_stale
        plain, pinned = http.get(path), http.get(path, params={"version": current})
        assert plain.status_code == 503, plain.text
        assert pinned.status_code == 503, pinned.text
        assert pinned.json()["error"]["code"] == plain.json()["error"]["code"] == "Unavailable"
        older = http.get(path, params={"version": old})
        assert older.status_code == 200
        assert older.json()["version"] == old
