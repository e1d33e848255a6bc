"""Servers under test run as subprocesses, so the load generator never shares their process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]  # no stubs in the dev group

REPO_ROOT = Path(__file__).resolve().parent.parent


def wait_for_status(
    url: str,
    process: subprocess.Popen[bytes],
    *,
    status: int = 200,
    timeout_s: float = 60.0,
    headers: dict[str, str] | None = None,
    interval_s: float = 0.05,
) -> float:
    """Poll ``url`` until it answers ``status``; return the seconds waited.

    Raises if the process dies or the deadline passes, so a broken server never hangs the bench.
    """
    started = time.perf_counter()
    deadline = started + timeout_s
    with httpx.Client(timeout=1.0, verify=False) as client:  # noqa: S501 - loopback readiness probe
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url} server exited with code {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url, headers=headers).status_code == status:
                    return time.perf_counter() - started
            time.sleep(interval_s)
    raise TimeoutError(f"{url} did not answer {status} within {timeout_s} s")


@contextlib.contextmanager
def spawn(
    command: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` with stdout and stderr in ``log_path``; stop it (TERM, then KILL) on exit."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO_ROOT
        )
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """Terminate ``process`` and reap it; kill it if it outlives the grace period."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace_s)


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MiB."""
    parent = psutil.Process(pid)
    total = int(parent.memory_info().rss)
    for child in parent.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user) + float(times.system)


def python_command(*args: str) -> list[str]:
    """``python args...`` with the interpreter running the bench (the project's venv)."""
    return [sys.executable, *args]
