"""Client fixtures: the real sidecar (akv_sidecar.testing) in front of the Key Vault emulator.

Every value seeded here is scanned for in the logs and captured output of every client test: no
secret may leak into either.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from akv_client import Secret, SidecarClient, SidecarError
from tests._leaks import scan_output
from tests.client.azurite import DEV_KEY

if TYPE_CHECKING:
    from akv_emulator import Emulator
    from akv_sidecar.testing import RunningSidecar

# Prefetched by the sidecar; "azurite-key" holds Azurite's published development key.
PREFETCHED = ("bronze-key", "silver-key", "azurite-key")
SEEDED = {
    "bronze-key": "bronze-" + secrets.token_hex(12),
    "silver-key": "silver-" + secrets.token_hex(12),
    "sp-secret": "sp-" + secrets.token_hex(12),
    "sas-token": "sv=2024-01-01&sig=" + secrets.token_hex(12),
    "slow-key": "slow-" + secrets.token_hex(12),
    "azurite-key": DEV_KEY,
}
# Azurite's development key is public (its own docs print it): every other value must not leak.
PRIVATE_VALUES = [value for name, value in SEEDED.items() if name != "azurite-key"]


@pytest.fixture(autouse=True)
def no_secret_in_output(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """After each test: no seeded value in any log record or stdout/stderr, even output the
    test read itself."""
    with scan_output(caplog, capsys, monkeypatch, PRIVATE_VALUES):
        yield


def seed(emulator: Emulator) -> None:
    for name, value in SEEDED.items():
        emulator.set_secret("kv1", name, value)


def sidecar_config(emulator: Emulator, tmp_path: Path, **sections: Any) -> dict[str, Any]:
    from akv_sidecar.testing import emulator_config

    defaults: dict[str, Any] = {
        "upstream": {"timeout": "3s"},
        "listen": {"host": "127.0.0.1", "port": 0, "shutdown_timeout": "1s"},
    }
    return emulator_config(emulator, tmp_path, {"kv1": list(PREFETCHED)}, **(defaults | sections))


@pytest.fixture
def sidecar(
    emulator: Emulator, identity_env: dict[str, str], tmp_path: Path
) -> Iterator[RunningSidecar]:
    """The real sidecar, ready, serving the seeded vault kv1 (three secrets prefetched)."""
    from akv_sidecar.testing import run_sidecar

    seed(emulator)
    try:
        with run_sidecar(sidecar_config(emulator, tmp_path)) as running:
            yield running
    finally:
        emulator.clear_faults()  # release any hang first, so the sidecar stops at once


class CountingClient(SidecarClient):
    """The real client, counting the calls it makes to the sidecar (a spy, not a mock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, method: str) -> None:
        with self._count_lock:
            self.calls[method] += 1

    def get_secret(self, *args: Any, **kwargs: Any) -> Secret:
        self._count("get_secret")
        return super().get_secret(*args, **kwargs)

    def get_secrets(self, *args: Any, **kwargs: Any) -> list[Secret | SidecarError]:
        self._count("get_secrets")
        return super().get_secrets(*args, **kwargs)

    def refresh_secret(self, *args: Any, **kwargs: Any) -> Secret:
        self._count("refresh_secret")
        return super().refresh_secret(*args, **kwargs)


@pytest.fixture
def client(sidecar: RunningSidecar) -> Iterator[CountingClient]:
    """A counting client of the sidecar, closed after the test."""
    counting = CountingClient(sidecar.url, sidecar.token, timeout=5.0)
    try:
        yield counting
    finally:
        counting.close()
