"""The Key Vault emulator in its own process, driven through its admin HTTP API."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench._names import VAULT
from bench._processes import python_command, spawn


@dataclass
class EmulatorProcess:
    """A running ``python -m akv_emulator``: its URLs, its CA, and its admin API."""

    info: dict[str, Any]
    admin: httpx.Client
    pid: int

    def vault_url(self, vault: str = VAULT) -> str:
        return str(self.info["vaults"][vault])

    @property
    def ca_file(self) -> str:
        return str(self.info["ca_file"])

    def identity_env(self) -> dict[str, str]:
        return {
            "IDENTITY_ENDPOINT": self.info["identity_endpoint"],
            "IDENTITY_HEADER": self.info["identity_header"],
        }

    def process_env(self) -> dict[str, str]:
        """This environment plus the emulator's managed-identity variables (for subprocesses)."""
        return {**os.environ, **self.identity_env()}

    def inject(self, **fault: Any) -> None:
        self.admin.post("/admin/faults", json={"vault": VAULT, **fault}).raise_for_status()

    def clear_faults(self) -> None:
        self.admin.delete("/admin/faults").raise_for_status()

    def fail_identity(self, status: int | None) -> None:
        self.admin.post("/admin/identity", json={"status": status}).raise_for_status()

    def calls(self, **filters: str | int) -> int:
        """Requests the vault received, e.g. ``calls(op="get")``, from the emulator's counters."""
        params = {"vault": VAULT, **{k: str(v) for k, v in filters.items()}}
        response = self.admin.get("/admin/counters", params=params)
        response.raise_for_status()
        return int(response.json()["count"])

    def reset_counters(self) -> None:
        self.admin.post("/admin/counters/reset").raise_for_status()

    def set_secret(self, name: str, value: str) -> None:
        self.admin.put(
            f"/admin/vaults/{VAULT}/secrets/{name}", json={"value": value}
        ).raise_for_status()


def write_seed(path: Path, secrets: Mapping[str, str]) -> Path:
    path.write_text(yaml.safe_dump({"secrets": dict(secrets)}, sort_keys=False))
    return path


@contextlib.contextmanager
def running_emulator(
    work_dir: Path, secrets: Mapping[str, str], *, timeout_s: float = 30.0
) -> Iterator[EmulatorProcess]:
    """Start the emulator with ``secrets`` seeded in vault ``bench``; stop it on exit."""
    work_dir.mkdir(parents=True, exist_ok=True)
    seed = write_seed(work_dir / "seed.yaml", secrets)
    log_path = work_dir / "emulator.log"
    command = python_command(
        "-m", "akv_emulator", "--vault", VAULT, "--port", "0", "--seed", str(seed),
        "--cert-dir", str(work_dir / "certs"),
    )  # fmt: skip
    with spawn(command, log_path=log_path) as process:
        info = _first_json_line(log_path, process.poll, timeout_s)
        with httpx.Client(base_url=info["admin_url"], timeout=30.0) as admin:
            yield EmulatorProcess(info, admin, process.pid)


def _first_json_line(log_path: Path, poll: Any, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log_path.read_text().splitlines():
            if line.startswith("{"):
                info: dict[str, Any] = json.loads(line)
                return info
        if poll() is not None:
            raise RuntimeError(f"the emulator exited: {log_path.read_text()[-2000:]}")
        time.sleep(0.02)
    raise TimeoutError(f"the emulator printed nothing in {timeout_s} s")
