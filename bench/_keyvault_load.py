"""Scenario 5: Key Vault load of 200 drivers starting at once, each needing the same 5 secrets.

Counts come from the emulator's counters: secret gets, and separately the SDK's unauthenticated
challenge requests and managed-identity token requests. With the sidecar, the counters are reset
before it starts, so its prefetch (and any scheduled refresh in the window) is included.
"""

from __future__ import annotations

import secrets as value_source

from bench._emulator import EmulatorProcess, running_emulator
from bench._fleet import run_drivers
from bench._names import secret_names
from bench._report import Row
from bench._settings import Outcome, RunSettings
from bench._sidecar import running_sidecar


def _counts(emulator: EmulatorProcess) -> dict[str, int]:
    return {
        "get": emulator.calls(op="get"),
        "challenge": emulator.calls(op="challenge"),
        "token": emulator.calls(vault="identity", op="token"),
    }


def run(settings: RunSettings) -> Outcome:
    drivers, per_driver = settings.drivers, settings.secrets_per_driver
    names = secret_names(per_driver)
    seed = {name: value_source.token_urlsafe(66) for name in names}
    work_dir = settings.work_dir / "keyvault-load"
    with running_emulator(work_dir / "emulator", seed) as emulator:
        emulator.inject(latency=settings.keyvault_latency_s)
        emulator.reset_counters()
        with running_sidecar(emulator, work_dir / "sidecar", names) as sidecar:
            through = run_drivers(emulator, sidecar, drivers=drivers, connections=per_driver)
            with_sidecar = _counts(emulator)
        emulator.reset_counters()
        direct = run_drivers(emulator, None, drivers=drivers, connections=per_driver)
        without = _counts(emulator)
    expected_direct = drivers * per_driver
    data = {
        "drivers": drivers,
        "secrets_per_driver": per_driver,
        "keyvault_latency_s": settings.keyvault_latency_s,
        "with_sidecar": {"calls": with_sidecar, "errors": through["errors"],
                         "wall_s": through["wall_s"]},
        "without_sidecar": {"calls": without, "errors": direct["errors"],
                            "wall_s": direct["wall_s"]},
    }  # fmt: skip
    row = Row(
        f"5. Key Vault load, {drivers} drivers x {per_driver} secrets",
        f"with the sidecar **{with_sidecar['get']}** gets ({with_sidecar['token']} token, "
        f"{with_sidecar['challenge']} challenge requests); without **{without['get']:,}** gets "
        f"({without['token']} token, {without['challenge']} challenge requests)",
        f"{per_driver} (+ scheduled refreshes) vs {expected_direct:,}",
        with_sidecar["get"] == per_driver
        and without["get"] == expected_direct
        and through["errors"] == 0
        and direct["errors"] == 0,
    )
    return Outcome(data, [row])
