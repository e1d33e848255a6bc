"""Starting, probing and stopping the sidecar processes the deployment tests run."""

from __future__ import annotations

import hashlib
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

# Variables through which a child could pick up the host's Azure credentials or sidecar settings.
_FOREIGN_PREFIXES = ("AZURE_", "MSI_", "IDENTITY_", "IMDS_", "AKV_SIDECAR_", "VIRTUAL_ENV")


def clean_environ(extra: Mapping[str, str]) -> dict[str, str]:
    """The host environment without Azure/sidecar variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
    env.update(extra)
    return env


def http_status(url: str) -> int | None:
    """The status a GET answers, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_for_status(url: str, alive: Callable[[], bool], *, timeout: float) -> None:
    """Poll ``url`` until it answers 200 (bounded: at most ``timeout`` s, ~10 polls a second)."""
    deadline = time.monotonic() + timeout
    while http_status(url) != 200:
        assert alive(), f"the process serving {url} exited"
        assert time.monotonic() < deadline, f"{url} did not answer 200 within {timeout} s"
        time.sleep(0.1)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its parent's wait counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    try:
        return status.read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def terminate_pid(pid: int, *, timeout: float = 15.0) -> float:
    """SIGTERM a process we did not spawn and wait until it is gone; returns the seconds taken."""
    started = time.monotonic()
    if pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
    while pid_alive(pid):
        if time.monotonic() - started > timeout:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"pid {pid} ignored SIGTERM for {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def fingerprint(value: str) -> str:
    """A digest to compare secret values by, so no value reaches test output."""
    return hashlib.sha256(value.encode()).hexdigest()
