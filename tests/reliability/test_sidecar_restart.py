"""The sidecar killed (SIGKILL) and restarted on the same port while clients keep reading.

The sidecar runs as users run it, ``python -m akv_sidecar serve --config FILE``, in a subprocess;
the clients are akv_client's SidecarClient in threads with a 2 s deadline per call.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from akv_client import SidecarClient, SidecarUnavailable
from akv_emulator import Emulator
from akv_sidecar.testing import emulator_config, free_port
from tests.reliability.conftest import SECRETS, VAULT, wait_until

DEADLINE_S = 2.0
READERS = 4


@dataclass(frozen=True)
class Outcome:
    at: float
    seconds: float
    error: BaseException | None


class Sidecar:
    """Start/kill the sidecar subprocess on a fixed port."""

    def __init__(self, config_path: Path, env: dict[str, str], log_path: Path, port: int) -> None:
        self._command = [sys.executable, "-m", "akv_sidecar", "serve", "--config", str(config_path)]
        self._env = env
        self._log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command, stdout=log, stderr=subprocess.STDOUT, env=self._env
            )

        def ready() -> bool:
            """the sidecar answers /readyz 200"""
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30.0)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def sidecar(
    emulator: Emulator, seeded: dict[str, str], identity_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Sidecar, str]]:
    port = free_port()
    config = emulator_config(emulator, tmp_path, {VAULT: list(SECRETS)})
    config["listen"]["port"] = port
    config_path = tmp_path / "sidecar.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, **identity_env}
    process = Sidecar(config_path, env, tmp_path / "sidecar.log", port)
    process.start()
    try:
        yield process, (tmp_path / "token").read_text()
    finally:
        process.stop()


def test_killed_sidecar_fails_fast_then_serves_again(
    sidecar: tuple[Sidecar, str], seeded: dict[str, str]
) -> None:
    """Killed, it fails reads fast with SidecarUnavailable only; restarted, reads succeed again."""
    process, token = sidecar
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    stop = threading.Event()

    def reader() -> None:
        with SidecarClient(process.url, token, timeout=DEADLINE_S, retries=1) as client:
            while not stop.is_set():
                started = time.monotonic()
                error: BaseException | None = None
                try:
                    assert client.get_secret(VAULT, "alpha").value == seeded["alpha"]
                except Exception as exc:  # recorded and asserted on below
                    error = exc
                with lock:
                    outcomes.append(Outcome(started, time.monotonic() - started, error))
                time.sleep(0.01)

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        killed_at = time.monotonic()
        process.kill()
        time.sleep(1.5)
        restarted_at = time.monotonic()
        process.start()
        back_at = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(DEADLINE_S + 5)
    assert not any(thread.is_alive() for thread in threads)

    before = [o for o in outcomes if o.at + o.seconds < killed_at]
    down = [o for o in outcomes if killed_at < o.at and o.at + o.seconds < restarted_at]
    after = [o for o in outcomes if o.at > back_at]
    assert before
    assert all(o.error is None for o in before)
    assert down, "no read was attempted while the sidecar was down"
    assert all(isinstance(o.error, SidecarUnavailable) for o in down), {
        type(o.error).__name__ for o in down
    }
    assert after
    assert all(o.error is None for o in after)
    failures = [o for o in outcomes if o.error is not None]
    assert all(isinstance(o.error, SidecarUnavailable) for o in failures)
    assert max(o.seconds for o in outcomes) < DEADLINE_S + 1.0
