"""The sidecar under Key Vault faults: it keeps serving what it has, says so, and recovers.

Faults are the emulator's own (real HTTPS through the real async SDK): refused connections, 503s,
a 429 storm, hung connections, latency spikes beyond the Key Vault timeout, and malformed JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from akv_emulator import Emulator
from akv_sidecar.testing import RunningSidecar
from tests.reliability._checks import (
    assert_reported,
    assert_serves_last_good,
    recover_with_new_version,
    wait_degraded,
)
from tests.reliability.conftest import Api

FAULTS: dict[str, dict[str, Any]] = {
    "outage-refused": {"outage": "refuse"},
    "outage-503": {"outage": "503"},
    "429-storm": {"throttle": (0, 60.0), "retry_after": 1},
    "hung-connections": {"hang": True},
    "latency-spike": {"latency": 3.0},
    "malformed-json": {"malformed": True},
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_serves_cached_through_fault_and_recovers(
    api: Api, emulator: Emulator, seeded: dict[str, str], fault: dict[str, Any]
) -> None:
    """Under the fault cached reads serve stale, /v1/status says so, and recovery is automatic."""
    emulator.inject(**fault)
    for name in seeded:  # each one: their refreshes fall due a few ms apart
        wait_degraded(api, name)
    for name, value in seeded.items():
        assert_serves_last_good(api, name, value)
    assert_reported(api, "alpha")
    recover_with_new_version(api, emulator, "alpha")


def test_429_storm_slows_every_call_to_the_vault(
    start_sidecar: Callable[..., AbstractContextManager[RunningSidecar]],
    emulator: Emulator,
    seeded: dict[str, str],
) -> None:
    """During a 429 storm with Retry-After, the sidecar backs off instead of hammering the vault."""
    # Retry-After is honoured up to cache.backoff_max (1 s in this suite): allow the 2 s here.
    with start_sidecar(cache={"backoff_max": "2s"}) as sidecar:
        api = Api(sidecar)
        try:
            emulator.inject(throttle=(0, 60.0), retry_after=2)
            wait_degraded(api, "alpha")
            before = emulator.calls(status=429)
            assert_serves_last_good(api, "alpha", seeded["alpha"])
            time.sleep(3.0)
            # Two secrets refreshing each second would make ~6 calls in 3 s; Retry-After: 2 on
            # the whole vault allows at most a couple of probes.
            assert emulator.calls(status=429) - before <= 4
            recover_with_new_version(api, emulator, "alpha")
        finally:
            api.close()
