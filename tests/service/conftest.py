"""Fixtures for the sidecar's tests: seeded vaults, running sidecars, and the log scan.

Every secret value a test seeds goes through ``kv.seed`` so that the autouse ``no_secret_in_logs``
fixture can check, after each test, that no log record produced during it contains any of them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from akv_emulator import Emulator
from akv_sidecar.testing import RunningSidecar, emulator_config

from .._leaks import assert_not_leaked, logged_text, watch_logs
from .._waiting import wait_for

__all__ = ["Vault", "client", "max_rand", "wait_for"]

SEEDED: set[str] = set()  # every value seeded (and caller token made) in this session


def max_rand() -> float:
    """The upper end of every jitter draw: refresh times become exact on a FakeClock."""
    return 1.0


def client(sidecar: RunningSidecar) -> httpx.Client:
    """An HTTP client for the sidecar, with its caller token."""
    return httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)


class Vault:
    """The emulator's vault "kv1" with values that are random and registered for the log scan."""

    name = "kv1"

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def seed(self, *names: str) -> dict[str, str]:
        return {name: self.rotate(name) for name in names}

    def rotate(self, name: str) -> str:
        """Set a new random value (a new version) and return it."""
        value = f"val-{name}-{secrets.token_hex(12)}"
        SEEDED.add(value)
        self.emulator.set_secret(self.name, name, value)
        return value

    def gets(self, name: str | None = None, status: int | None = None) -> int:
        """Key Vault get calls so far (challenges excluded)."""
        return self.emulator.calls(vault=self.name, op="get", secret=name, status=status)


@pytest.fixture
def kv(emulator: Emulator, identity_env: dict[str, str]) -> Vault:
    """The vault "kv1" of a fresh emulator, with the managed-identity environment set."""
    return Vault(emulator)


@pytest.fixture
def make_config(emulator: Emulator, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """emulator_config for kv1 with the given secrets and section overrides; its caller token
    joins the log scan."""

    def make(*names: str, **sections: Any) -> dict[str, Any]:
        config = emulator_config(emulator, tmp_path, {"kv1": list(names)}, **sections)
        SEEDED.add((tmp_path / "token").read_text(encoding="utf-8"))
        return config

    return make


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After each test: no log record of any logger contains a seeded secret value."""
    watch_logs(caplog)
    yield
    assert_not_leaked(logged_text(caplog), SEEDED)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Tell the run how many values the log scan covered."""
    if SEEDED:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"service log scan: {len(SEEDED)} seeded secret values never logged"
            )
