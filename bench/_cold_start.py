"""Scenario 3: cold start, the sidecar's parallel prefetch against what drivers do without it.

Key Vault answers after 150 ms (the emulator's injected latency) and throttles at its published
rate. Each baseline runs in a fresh process; the sidecar's time is its own logged prefetch
summary (first Key Vault call to last, token and challenge included), and the time from spawning
the process to /readyz 200 (Python start-up and imports included) is recorded beside it.
"""

from __future__ import annotations

import re
import secrets as value_source
import statistics
from typing import Any

from akv_sidecar import Config
from bench import _report
from bench._direct import measure
from bench._emulator import EmulatorProcess, running_emulator
from bench._names import secret_names
from bench._processes import cpu_seconds
from bench._report import Row
from bench._settings import Outcome, RunSettings
from bench._sidecar import running_sidecar

_SUMMARY = re.compile(rb"prefetch done: (\d+) secrets, (\d+) failed, in (\d+) ms")
TARGETS = {5: ("one_by_one", 3.8), 50: ("one_by_one", 10.0)}
IDEAL_FACTOR = 1.5


def _prefetch_summary(log: bytes) -> tuple[int, int, float]:
    match = _SUMMARY.search(log)
    if match is None:
        raise RuntimeError("the sidecar logged no prefetch summary")
    return int(match[1]), int(match[2]), int(match[3]) / 1000


def _sidecar_cold_start(
    emulator: EmulatorProcess, settings: RunSettings, count: int
) -> dict[str, Any]:
    emulator.reset_counters()
    work_dir = settings.work_dir / "cold-start" / f"sidecar-{count}"
    emulator_cpu = cpu_seconds(emulator.pid)
    with running_sidecar(emulator, work_dir, secret_names(count)) as sidecar:
        fetched, failed, seconds = _prefetch_summary(sidecar.log_path.read_bytes())
        ready_s = sidecar.ready_s
        sidecar_cpu = cpu_seconds(sidecar.pid)
    return {
        # Where the time over the ideal goes on a 2-core machine: both processes' CPU.
        "sidecar_cpu_s_to_ready": round(sidecar_cpu, 3),
        "emulator_cpu_s": round(cpu_seconds(emulator.pid) - emulator_cpu, 3),
        "prefetch_s": seconds,
        "spawn_to_ready_s": round(ready_s, 3),
        "secrets": fetched,
        "failed": failed,
        "keyvault_gets": emulator.calls(op="get"),
        "keyvault_throttled": emulator.calls(status=429),
    }


def _one_by_one(emulator: EmulatorProcess, settings: RunSettings, count: int) -> dict[str, Any]:
    if count <= settings.one_by_one_limit:
        return {"seconds": measure(emulator, count, 1), "extrapolated": False}
    sample = settings.one_by_one_sample
    seconds = measure(emulator, sample, 1)
    return {
        "seconds": seconds * count / sample,
        "extrapolated": True,
        "sample_size": sample,
        "sample_seconds": seconds,
    }


def _measure_size(
    emulator: EmulatorProcess, settings: RunSettings, count: int, concurrency: int
) -> dict[str, Any]:
    """The three ways, interleaved, repeated for small N; medians are compared."""
    repeats = settings.cold_start_repeats if count <= settings.one_by_one_limit else 1
    runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        runs.append(
            {
                "one_by_one": _one_by_one(emulator, settings, count),
                "five_threads_s": measure(emulator, count, 5),
                "sidecar": _sidecar_cold_start(emulator, settings, count),
            }
        )
    one_by_one = _median_run([r["one_by_one"] for r in runs], "seconds")
    threaded = statistics.median(r["five_threads_s"] for r in runs)
    sidecar = _median_run([r["sidecar"] for r in runs], "prefetch_s")
    ideal = count / concurrency * settings.keyvault_latency_s
    return {
        "one_by_one": one_by_one,
        "five_threads_s": threaded,
        "sidecar": sidecar,
        "ideal_s": ideal,
        "speedup_vs_one_by_one": one_by_one["seconds"] / sidecar["prefetch_s"],
        "speedup_vs_five_threads": threaded / sidecar["prefetch_s"],
        "vs_ideal": sidecar["prefetch_s"] / ideal,
        "repeats": repeats,
        "all_runs": runs,
    }


def _median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose ``key`` is the median (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda run: float(run[key]))
    return ordered[(len(ordered) - 1) // 2]


def run(settings: RunSettings) -> Outcome:
    sizes = settings.cold_start_sizes
    concurrency = Config().upstream.concurrency
    latency = settings.keyvault_latency_s
    seed = {name: value_source.token_urlsafe(75) for name in secret_names(max(sizes))}
    per_size: dict[int, dict[str, Any]] = {}
    with running_emulator(settings.work_dir / "cold-start" / "emulator", seed) as emulator:
        emulator.inject(latency=latency, throttle=list(settings.throttle))
        for count in sizes:
            per_size[count] = _measure_size(emulator, settings, count, concurrency)
    _report.plot_cold_start(
        {
            "one by one (sync SDK)": {n: r["one_by_one"]["seconds"] for n, r in per_size.items()},
            "5 threads (odibi)": {n: r["five_threads_s"] for n, r in per_size.items()},
            "sidecar prefetch": {n: r["sidecar"]["prefetch_s"] for n, r in per_size.items()},
            f"ideal N/{concurrency} x latency": {n: r["ideal_s"] for n, r in per_size.items()},
        },
        settings.results_dir / "cold_start.png",
    )
    data = {
        "settings": {
            "keyvault_latency_s": latency,
            "throttle": {"requests": settings.throttle[0], "window_s": settings.throttle[1]},
            "sidecar_concurrency": concurrency,
            "baseline_threads": 5,
        },
        "sizes": {str(n): r for n, r in per_size.items()},
    }
    return Outcome(data, [_row(count, result) for count, result in per_size.items()])


def _row(count: int, result: dict[str, Any]) -> Row:
    sidecar = result["sidecar"]
    one = result["one_by_one"]
    estimated = " (extrapolated)" if one["extrapolated"] else ""
    measured = "; ".join(
        (
            f"sidecar {sidecar['prefetch_s']:.2f} s "
            f"(spawn to ready {sidecar['spawn_to_ready_s']:.2f} s)",
            f"one by one {one['seconds']:.2f} s{estimated}: "
            f"**{result['speedup_vs_one_by_one']:.1f}x**",
            f"5 threads {result['five_threads_s']:.2f} s: {result['speedup_vs_five_threads']:.1f}x",
            f"ideal {result['ideal_s']:.2f} s: {result['vs_ideal']:.2f}x",
        )
    )
    if count in TARGETS:
        factor = TARGETS[count][1]
        target = f">= {factor}x faster than one by one"
        met = result["speedup_vs_one_by_one"] >= factor and sidecar["failed"] == 0
    else:
        target = f"<= {IDEAL_FACTOR}x ideal (N/concurrency x latency), throttled"
        met = result["vs_ideal"] <= IDEAL_FACTOR and sidecar["failed"] == 0
    return Row(f"3. Cold start, N = {count}", measured, target, met)
