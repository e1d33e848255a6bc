"""The sidecar as users run it: ``akv-sidecar serve --config FILE`` in its own process."""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from akv_sidecar.testing import emulator_config, free_port
from bench._emulator import EmulatorProcess
from bench._names import VAULT
from bench._processes import python_command, spawn, wait_for_status

CALLER = "bench"


@dataclass
class SidecarProcess:
    """A running sidecar: its URL, caller token, pid, log file, and seconds from spawn to ready."""

    url: str
    token: str
    pid: int
    log_path: Path
    ready_s: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def secret_path(self, name: str) -> str:
        return f"/v1/vaults/{VAULT}/secrets/{name}"


def sidecar_config(
    emulator: EmulatorProcess,
    work_dir: Path,
    secrets: Sequence[str],
    *,
    port: int,
    cache: dict[str, Any] | None = None,
    upstream: dict[str, Any] | None = None,
) -> tuple[Path, str]:
    """Write a config for one vault on the emulator; return its path and the caller token."""
    config = emulator_config(
        emulator,
        work_dir,
        {VAULT: secrets},
        caller=CALLER,
        listen={"host": "127.0.0.1", "port": port},
        cache=cache or {},
        upstream=upstream or {},
    )
    token = (work_dir / "token").read_text(encoding="utf-8")
    path = work_dir / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, token


@contextlib.contextmanager
def running_sidecar(
    emulator: EmulatorProcess,
    work_dir: Path,
    secrets: Sequence[str],
    *,
    port: int | None = None,
    cache: dict[str, Any] | None = None,
    upstream: dict[str, Any] | None = None,
    ready_timeout_s: float = 120.0,
    ready_interval_s: float = 0.05,
) -> Iterator[SidecarProcess]:
    """Start ``akv-sidecar serve`` and return once /readyz answers 200.

    Its stdout (the JSON logs and the audit line of every read) goes to a file: the audit log stays
    on, as in production, but the terminal is not the bottleneck.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config_path, token = sidecar_config(
        emulator, work_dir, secrets, port=port, cache=cache, upstream=upstream
    )
    log_path = work_dir / "sidecar.log"
    command = python_command("-m", "akv_sidecar", "serve", "--config", str(config_path))
    started_at = time.perf_counter()
    with spawn(command, log_path=log_path, env=emulator.identity_env()) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for_status(
            f"{url}/readyz", process, timeout_s=ready_timeout_s, interval_s=ready_interval_s
        )
        ready_s = time.perf_counter() - started_at
        yield SidecarProcess(url, token, process.pid, log_path, ready_s)


def capture_response(sidecar: SidecarProcess, name: str) -> dict[str, Any]:
    """The status, headers and body the sidecar answers for one secret (for the bare app)."""
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers) as client:
        response = client.get(sidecar.secret_path(name))
    response.raise_for_status()
    return {
        "status": response.status_code,
        "headers": list(response.headers.multi_items()),
        "body_b64": base64.b64encode(response.content).decode("ascii"),
    }
