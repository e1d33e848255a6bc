"""The promise every fault test checks: serve what it has, say so, recover by itself."""

from __future__ import annotations

import time

from akv_emulator import Emulator
from tests.reliability.conftest import VAULT, Api, wait_until


def wait_degraded(api: Api, name: str) -> None:
    """Until /v1/status shows a failed refresh of ``name`` and its value marked stale."""

    def degraded() -> bool:
        """/v1/status shows the secret stale with a last error"""
        entry = api.status(name)
        return bool(entry["stale"] and entry["last_error"])

    wait_until(degraded)


def assert_serves_last_good(api: Api, name: str, value: str) -> None:
    """The cached value is answered at once, marked stale, while Key Vault fails."""
    started = time.monotonic()
    response = api.read(name)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["value"] == value
    assert body["stale"] is True
    assert response.headers["X-Cache"] == "stale"
    assert elapsed < 1.0  # a read never waits on Key Vault (wide bound)


def assert_reported(api: Api, name: str) -> None:
    """/readyz stays 200 (the pod keeps serving) and lists the secret as stale; /v1/status shows
    the stale value and the error."""
    ready = api.readyz()
    assert ready.status_code == 200, ready.text
    assert (VAULT, name) in {(item["vault"], item["name"]) for item in ready.json()["stale"]}
    entry = api.status(name)
    assert entry["stale"] is True
    assert entry["last_error"]


def recover_with_new_version(api: Api, emulator: Emulator, name: str) -> str:
    """Clear the faults; a version created meanwhile is served, fresh, without any manual step."""
    rotated = f"rotated-{name}-{time.monotonic_ns()}"
    emulator.set_secret(VAULT, name, rotated)
    emulator.clear_faults()

    def recovered() -> bool:
        """the new version is served and not stale"""
        response = api.read(name)
        return (
            response.status_code == 200
            and response.json()["value"] == rotated
            and (response.json()["stale"] is False)
        )

    wait_until(recovered)
    entry = api.status(name)
    assert entry["stale"] is False
    ready = api.readyz()
    assert ready.status_code == 200
    return rotated
