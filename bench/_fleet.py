"""Launching simulated drivers (``bench._drivers``) against the sidecar or straight at Key Vault."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from akv_sidecar.testing import free_port
from bench._emulator import EmulatorProcess
from bench._names import VAULT
from bench._processes import REPO_ROOT, python_command
from bench._sidecar import SidecarProcess


def run_drivers(
    emulator: EmulatorProcess,
    sidecar: SidecarProcess | None,
    *,
    drivers: int,
    connections: int,
) -> dict[str, Any]:
    """Start ``drivers`` drivers in one fresh process; through ``sidecar``, or direct if None."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AKV_SIDECAR_")}
    env.update(emulator.identity_env())
    command = python_command(
        "-m", "bench._drivers", "--drivers", str(drivers), "--connections", str(connections)
    )
    if sidecar is None:
        command.append("--direct")
        env.update(
            {
                # Nothing listens there: the client falls back to Key Vault at once.
                "AKV_SIDECAR_URL": f"http://127.0.0.1:{free_port()}",
                "AKV_SIDECAR_FALLBACK": "direct",
                "AKV_SIDECAR_FALLBACK_VAULT_URLS": f"{VAULT}={emulator.vault_url()}",
                "AKV_SIDECAR_FALLBACK_CA_FILE": emulator.ca_file,
            }
        )
    else:
        env.update({"AKV_SIDECAR_URL": sidecar.url, "AKV_SIDECAR_TOKEN": sidecar.token})
    completed = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the drivers failed: {completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result
