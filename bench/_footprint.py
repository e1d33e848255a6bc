"""Scenario 8: what one sidecar costs a pod, each number beside a floor measured in the same run.

- resident memory at rest with 5 secrets, against the bare app (``bench/bare_app.py``: uvicorn
  on the sidecar's settings answering the same bytes) after it answered the same request;
- resident memory with 10,000 secrets of 100 B;
- spawn to ``/readyz`` 200 with N=5 at 150 ms Key Vault latency, against the bare app's spawn to
  first 200 plus the prefetch's own time (its logged summary);
- the prefetch of N=50 at 150 ms (first fetch sent to last answer) against the ideal,
  ceil(N / upstream.concurrency) x latency.

Spawns alternate (bare, sidecar, bare, sidecar...) and medians are compared, so noise from the
shared machine falls on both. Readiness is polled every 10 ms for both, a small quantum next to
what is measured.
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets as value_source
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from akv_sidecar import Config
from akv_sidecar.testing import free_port
from bench._cold_start import _prefetch_summary
from bench._emulator import EmulatorProcess, running_emulator
from bench._memory import _settled_rss
from bench._names import secret_names
from bench._processes import python_command, spawn, wait_for_status
from bench._report import Row
from bench._settings import Outcome, RunSettings
from bench._sidecar import capture_response, running_sidecar

POLL_S = 0.01
READY_TARGET = 1.5  # x (bare spawn to first 200 + prefetch)
PREFETCH_TARGET = 1.15  # x ceil(N / concurrency) x latency
RSS_TARGET = 1.3  # x the bare app's
RSS_FULL_TARGET_MIB = 100.0
SMALL, PREFETCH_N, FULL_N = 5, 50, 10_000


@contextlib.contextmanager
def _bare_app(response_file: Path, work_dir: Path) -> Iterator[tuple[int, float, str]]:
    """The bare app; yields its pid, seconds from spawn to its first 200, and its secret URL."""
    port = free_port()
    command = python_command(
        "-m", "bench.bare_app", "--port", str(port), "--response", str(response_file)
    )
    started = time.perf_counter()
    with spawn(command, log_path=work_dir / "bare.log") as process:
        url = f"http://127.0.0.1:{port}/v1/vaults/bench/secrets/{secret_names(1)[0]}"
        wait_for_status(url, process, interval_s=POLL_S)
        yield process.pid, time.perf_counter() - started, url


def _small_runs(emulator: EmulatorProcess, settings: RunSettings) -> dict[str, Any]:
    """N=5 at 150 ms, alternating with the bare app: spawn to ready and RSS at rest."""
    work = settings.work_dir / "footprint"
    runs: list[dict[str, Any]] = []
    response_file = work / "response.json"
    for index in range(settings.footprint_repeats):
        run_dir = work / f"small-{index}"
        with running_sidecar(
            emulator, run_dir, secret_names(SMALL), ready_interval_s=POLL_S
        ) as sidecar:
            ready_s = sidecar.ready_s
            _, _, prefetch_s = _prefetch_summary(sidecar.log_path.read_bytes())
            captured = capture_response(sidecar, secret_names(1)[0])  # one hit, as a caller would
            response_file.write_text(json.dumps(captured))
            sidecar_rss = _settled_rss(sidecar.pid)
        with _bare_app(response_file, run_dir) as (pid, bare_s, url):
            httpx.get(url).raise_for_status()  # the same request, answered
            bare_rss = _settled_rss(pid)
        runs.append(
            {
                "spawn_to_ready_s": round(ready_s, 3),
                "prefetch_s": prefetch_s,
                "bare_spawn_to_first_200_s": round(bare_s, 3),
                "rss_mib": round(sidecar_rss, 1),
                "bare_rss_mib": round(bare_rss, 1),
            }
        )
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]} | {"runs": runs}


def _prefetch_runs(emulator: EmulatorProcess, settings: RunSettings) -> dict[str, Any]:
    work = settings.work_dir / "footprint"
    times = []
    for index in range(settings.footprint_repeats):
        with running_sidecar(emulator, work / f"prefetch-{index}", secret_names(PREFETCH_N)) as s:
            times.append(_prefetch_summary(s.log_path.read_bytes())[2])
    concurrency = Config().upstream.concurrency
    ideal = math.ceil(PREFETCH_N / concurrency) * settings.keyvault_latency_s
    return {"prefetch_s": statistics.median(times), "ideal_s": ideal, "runs": times}


def _full_rss(settings: RunSettings) -> dict[str, Any]:
    """RSS with 10,000 secrets of 100 B, no injected latency (as scenario 6 measures it)."""
    size = settings.memory_secret_bytes
    seed = {name: value_source.token_hex(size // 2) for name in secret_names(FULL_N)}
    work = settings.work_dir / "footprint" / "full"
    with (
        running_emulator(work / "emulator", seed) as emulator,
        running_sidecar(emulator, work, ["*"], ready_timeout_s=600) as sidecar,
    ):
        return {"secrets": FULL_N, "value_bytes": size, "rss_mib": _settled_rss(sidecar.pid)}


def run(settings: RunSettings) -> Outcome:
    seed = {name: value_source.token_urlsafe(75) for name in secret_names(PREFETCH_N)}
    with running_emulator(settings.work_dir / "footprint" / "emulator", seed) as emulator:
        emulator.inject(latency=settings.keyvault_latency_s)
        small = _small_runs(emulator, settings)
        prefetch = _prefetch_runs(emulator, settings)
    full = _full_rss(settings)
    data = {"small": small, "prefetch": prefetch, "full": full}
    return Outcome(data, _rows(small, prefetch, full))


def _rows(small: dict[str, Any], prefetch: dict[str, Any], full: dict[str, Any]) -> list[Row]:
    floor_s = small["bare_spawn_to_first_200_s"] + small["prefetch_s"]
    ready_ratio = small["spawn_to_ready_s"] / floor_s
    rss_ratio = small["rss_mib"] / small["bare_rss_mib"]
    prefetch_ratio = prefetch["prefetch_s"] / prefetch["ideal_s"]
    return [
        Row(
            "8. Spawn to ready, N = 5 at 150 ms",
            f"{small['spawn_to_ready_s']:.2f} s vs bare spawn to first 200 "
            f"{small['bare_spawn_to_first_200_s']:.2f} s + prefetch {small['prefetch_s']:.2f} s:"
            f" **{ready_ratio:.2f}x**",
            f"<= {READY_TARGET}x (bare + prefetch)",
            ready_ratio <= READY_TARGET,
        ),
        Row(
            "8. Prefetch, N = 50 at 150 ms",
            f"{prefetch['prefetch_s']:.2f} s vs ideal {prefetch['ideal_s']:.2f} s: "
            f"**{prefetch_ratio:.2f}x**",
            f"<= {PREFETCH_TARGET}x ceil(N/concurrency) x latency",
            prefetch_ratio <= PREFETCH_TARGET,
        ),
        Row(
            "8. Memory at rest, 5 secrets",
            f"RSS {small['rss_mib']:.0f} MiB vs bare app {small['bare_rss_mib']:.0f} MiB: "
            f"**{rss_ratio:.2f}x**",
            f"<= {RSS_TARGET}x bare app",
            rss_ratio <= RSS_TARGET,
        ),
        Row(
            "8. Memory, 10,000 secrets of 100 B",
            f"RSS **{full['rss_mib']:.0f} MiB**",
            f"<= {RSS_FULL_TARGET_MIB:.0f} MiB",
            full["rss_mib"] <= RSS_FULL_TARGET_MIB,
        ),
    ]
