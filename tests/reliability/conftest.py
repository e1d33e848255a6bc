"""Fixtures for the reliability suite: a seeded vault and a sidecar tuned to cycle fast.

The sidecar refreshes every second with short backoff and a 1 s Key Vault timeout, so that a
fault meets a refresh within a second or two and recovery needs no manual step; every wait is a
bounded poll.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from akv_emulator import Emulator
from akv_sidecar.testing import RunningSidecar, emulator_config, run_sidecar

from .._waiting import wait_for

T = TypeVar("T")

VAULT = "kv1"
SECRETS = ("alpha", "beta")
FAST_CACHE = {
    "refresh_interval": "1s",
    "refresh_jitter": 0,
    "backoff_base": "0.2s",
    "backoff_max": "1s",
}
FAST_UPSTREAM = {"timeout": "1s"}


def wait_until(check: Callable[[], T], timeout: float = 15.0) -> T:
    """Poll ``check`` with the reliability suite's patience (faults take seconds to show)."""
    return wait_for(check, timeout, interval=0.1)


class Api:
    """Short calls to a running sidecar, with the caller token."""

    def __init__(self, sidecar: RunningSidecar) -> None:
        self.sidecar = sidecar
        self.http = httpx.Client(
            base_url=sidecar.url,
            headers=sidecar.headers,
            timeout=5.0,
        )

    def read(self, name: str) -> httpx.Response:
        return self.http.get(f"/v1/vaults/{VAULT}/secrets/{name}")

    def readyz(self) -> httpx.Response:
        return self.http.get("/readyz")

    def status(self, name: str) -> dict[str, Any]:
        """The /v1/status entry of one secret."""
        response = self.http.get("/v1/status")
        assert response.status_code == 200, response.text
        entries = [s for s in response.json()["secrets"] if s["name"].lower() == name.lower()]
        assert entries, f"/v1/status lists no {name}"
        return dict(entries[0])

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def seeded(emulator: Emulator, identity_env: dict[str, str]) -> dict[str, str]:
    """Random values for SECRETS in kv1 (made up, never printed)."""
    values = {name: f"value-{name}-{secrets.token_hex(8)}" for name in SECRETS}
    for name, value in values.items():
        emulator.set_secret(VAULT, name, value)
    return values


@pytest.fixture
def start_sidecar(
    emulator: Emulator, seeded: dict[str, str], tmp_path: Path
) -> Callable[..., AbstractContextManager[RunningSidecar]]:
    """A function starting the real sidecar (in a thread) on kv1's SECRETS with fast cycles."""

    def start(
        vault_url: str | None = None, wait_ready: bool = True, **sections: Any
    ) -> AbstractContextManager[RunningSidecar]:
        config = emulator_config(
            emulator,
            tmp_path,
            {VAULT: list(SECRETS)},
            cache={**FAST_CACHE, **sections.pop("cache", {})},
            upstream={**FAST_UPSTREAM, **sections.pop("upstream", {})},
            **sections,
        )
        if vault_url is not None:
            config["vaults"][0]["url"] = vault_url
        return run_sidecar(config, wait_ready=wait_ready, timeout=30.0)

    return start


@pytest.fixture
def api(start_sidecar: Callable[..., AbstractContextManager[RunningSidecar]]) -> Iterator[Api]:
    """A ready sidecar with both secrets prefetched, and a client for it."""
    with start_sidecar() as sidecar:
        client = Api(sidecar)
        try:
            yield client
        finally:
            client.close()
