"""Scenario 4: a Spark driver's start, ``configure_connections_parallel`` over 5 ADLS connections,
through a warm sidecar against the same call reading Key Vault directly (150 ms latency).

Each start is a fresh process (a driver starting), so the direct path pays for its credential,
token and challenge as a real driver does; the median of the repeats is reported.
"""

from __future__ import annotations

import secrets as value_source
import statistics

from bench._emulator import running_emulator
from bench._fleet import run_drivers
from bench._names import secret_names
from bench._report import Row
from bench._settings import Outcome, RunSettings
from bench._sidecar import running_sidecar

TARGET = 10.0


def run(settings: RunSettings) -> Outcome:
    count = settings.driver_connections
    names = secret_names(count)
    seed = {name: value_source.token_urlsafe(66) for name in names}
    work_dir = settings.work_dir / "driver-start"
    sidecar_s: list[float] = []
    direct_s: list[float] = []
    errors = 0
    with running_emulator(work_dir / "emulator", seed) as emulator:
        emulator.inject(latency=settings.keyvault_latency_s)
        with running_sidecar(emulator, work_dir / "sidecar", names) as sidecar:
            for _ in range(settings.driver_repeats):
                through = run_drivers(emulator, sidecar, drivers=1, connections=count)
                direct = run_drivers(emulator, None, drivers=1, connections=count)
                sidecar_s += through["driver_s"]
                direct_s += direct["driver_s"]
                errors += through["errors"] + direct["errors"]
    through_median, direct_median = statistics.median(sidecar_s), statistics.median(direct_s)
    speedup = direct_median / through_median
    data = {
        "connections": count,
        "keyvault_latency_s": settings.keyvault_latency_s,
        "repeats": settings.driver_repeats,
        "sidecar_s": sidecar_s,
        "direct_s": direct_s,
        "sidecar_median_s": through_median,
        "direct_median_s": direct_median,
        "speedup": speedup,
        "errors": errors,
    }
    row = Row(
        f"4. Spark driver start, {count} connections",
        f"through the sidecar {through_median * 1000:.1f} ms vs direct "
        f"{direct_median * 1000:.0f} ms (medians of {settings.driver_repeats}): **{speedup:.0f}x**",
        f">= {TARGET:.0f}x faster",
        speedup >= TARGET and errors == 0,
    )
    return Outcome(data, [row])
