"""Scenarios 1 and 2: cache-hit throughput, CPU per hit and latency, sidecar against a bare ASGI
app.

Both servers run at once in their own processes under the same uvicorn settings and sit idle
while wrk loads the other. The rounds alternate (bare, sidecar, bare, sidecar, ...) so that noise
from the shared machine falls on both alike, and the ratio is taken over the rounds' totals.

CPU per hit is the server process's CPU time (user + system, /proc/<pid>/stat) over a measured
run and the moment after it, divided by the requests it served: the sidecar's audit lines and
metrics of those reads are written by then (drained every 0.2 s), so their cost is counted too.
"""

from __future__ import annotations

import contextlib
import json
import secrets as value_source
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from akv_sidecar.testing import free_port
from bench import _report
from bench._emulator import running_emulator
from bench._processes import cpu_seconds, python_command, spawn, wait_for_status
from bench._report import Row
from bench._settings import Outcome, RunSettings
from bench._sidecar import SidecarProcess, capture_response, running_sidecar
from bench._wrk import WrkResult, WrkSettings, run_wrk

SECRET = "bench-secret"
THROUGHPUT_TARGET = 1.5  # issue 15: at least 1.5x the bare app's hits per second
P99_TARGET = 1.0  # and a p99 no worse than its
CPU_TARGET = 0.6  # and at most 0.6x its CPU per hit
# After a measured run: longer than two drains of the read records (every 0.2 s).
_SETTLE_S = 0.5


@dataclass(frozen=True)
class Loaded:
    """One measured wrk run, the requests of it and its warm-up, and the server's CPU over it."""

    result: WrkResult
    requests: int
    cpu_s: float


@contextlib.contextmanager
def running_bare_app(response_file: Path, work_dir: Path) -> Iterator[tuple[str, int]]:
    """The bare app under uvicorn with the sidecar's settings; yields its secret URL and pid."""
    port = free_port()
    command = python_command(
        "-m", "bench.bare_app", "--port", str(port), "--response", str(response_file)
    )
    with spawn(command, log_path=work_dir / "bare.log") as process:
        url = f"http://127.0.0.1:{port}"
        wait_for_status(f"{url}/readyz", process)
        yield f"{url}/v1/vaults/bench/secrets/{SECRET}", process.pid


def _audit_lines(sidecar: SidecarProcess) -> int:
    with sidecar.log_path.open("rb") as log:
        return sum(1 for line in log if b"secret read" in line)


def _cache_hits(sidecar: SidecarProcess) -> float | None:
    """The sidecar's own count of cache hits, from /metrics (None if it has no such metric)."""
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as client:
        response = client.get("/metrics")
    if response.status_code != 200:
        return None
    for line in response.text.splitlines():
        if line.startswith("akv_sidecar_cache_reads_total") and 'result="hit"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def _wait_for_audit(sidecar: SidecarProcess, expected: int, timeout_s: float = 10.0) -> int:
    """Audit lines are written in batches after the reads: wait (bounded) until all are there."""
    deadline = time.monotonic() + timeout_s
    lines = _audit_lines(sidecar)
    while lines < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        lines = _audit_lines(sidecar)
    return lines


def _load(url: str, settings: RunSettings, headers: dict[str, str], pid: int) -> Loaded:
    """A warm-up run (discarded) then the measured run, with the CPU server ``pid`` spent on it."""
    warmup = WrkSettings(settings.connections, settings.wrk_threads, settings.warmup_seconds)
    measured = WrkSettings(settings.connections, settings.wrk_threads, settings.wrk_seconds)
    first = run_wrk(url, warmup, headers)
    time.sleep(_SETTLE_S)  # the warm-up's records are drained outside the measured CPU
    cpu_before = cpu_seconds(pid)
    result = run_wrk(url, measured, headers)
    time.sleep(_SETTLE_S)
    cpu = cpu_seconds(pid) - cpu_before
    return Loaded(result, first.requests + result.requests, cpu)


def cpu_us_per_request(loads: list[Loaded]) -> float:
    """Server CPU time over requests served, in µs, over all the rounds."""
    return sum(load.cpu_s for load in loads) * 1e6 / sum(load.result.requests for load in loads)


def _summary(results: list[WrkResult]) -> dict[str, Any]:
    requests = sum(r.requests for r in results)
    seconds = sum(r.duration_s for r in results)
    keys = results[0].percentiles_us.keys()
    return {
        "requests": requests,
        "requests_per_s": round(requests / seconds, 1),
        "errors": sum(r.error_count for r in results),
        "p50_ms": round(sum(r.percentiles_us["50"] for r in results) / len(results) / 1000, 3),
        "p99_ms": round(sum(r.percentiles_us["99"] for r in results) / len(results) / 1000, 3),
        "percentiles_us": {k: round(sum(r.percentiles_us[k] for r in results) / len(results))
                           for k in keys},
        "rounds": [r.as_json() for r in results],
    }  # fmt: skip


def _access_log_lines(sidecar: SidecarProcess) -> int:
    """uvicorn access-log lines: there must be none (the audit log replaces them)."""
    with sidecar.log_path.open("rb") as log:
        return sum(1 for line in log if b"uvicorn.access" in line)


def _measure(
    settings: RunSettings, work_dir: Path, value: str
) -> tuple[list[Loaded], list[Loaded], dict[str, Any]]:
    """Alternate wrk rounds on the bare app and the sidecar; check the reads were all recorded."""
    bare_loads: list[Loaded] = []
    sidecar_loads: list[Loaded] = []
    with (
        running_emulator(work_dir / "emulator", {SECRET: value}) as emulator,
        running_sidecar(emulator, work_dir / "sidecar", [SECRET]) as sidecar,
    ):
        response_file = work_dir / "bare-response.json"
        response_file.write_text(json.dumps(capture_response(sidecar, SECRET)))
        sidecar_url = sidecar.url + sidecar.secret_path(SECRET)
        with running_bare_app(response_file, work_dir) as (bare_url, bare_pid):
            lines_before, hits_before = _audit_lines(sidecar), _cache_hits(sidecar)
            for _ in range(settings.rounds):
                bare_loads.append(_load(bare_url, settings, sidecar.headers, bare_pid))
                sidecar_loads.append(_load(sidecar_url, settings, sidecar.headers, sidecar.pid))
            sent = sum(load.requests for load in sidecar_loads)
            lines = _wait_for_audit(sidecar, lines_before + sent) - lines_before
            hits_after = _cache_hits(sidecar)
            recorded = {
                "requests_sent": sent,
                "audit_lines_written": lines,
                "metrics_cache_hits": None
                if hits_after is None or hits_before is None
                else hits_after - hits_before,
                "access_log_lines": _access_log_lines(sidecar),
            }
    return bare_loads, sidecar_loads, recorded


def run(settings: RunSettings) -> Outcome:
    work_dir = settings.work_dir / "throughput"
    value = value_source.token_urlsafe(75)  # 100 characters, made up
    bare_loads, sidecar_loads, audit = _measure(settings, work_dir, value)
    bare = _summary([load.result for load in bare_loads])
    side = _summary([load.result for load in sidecar_loads])
    bare["cpu_us_per_request"] = round(cpu_us_per_request(bare_loads), 2)
    side["cpu_us_per_request"] = round(cpu_us_per_request(sidecar_loads), 2)
    ratio = side["requests_per_s"] / bare["requests_per_s"]
    p99_ratio = side["p99_ms"] / bare["p99_ms"]
    cpu_ratio = side["cpu_us_per_request"] / bare["cpu_us_per_request"]
    _report.plot_latency(
        {"bare ASGI app": bare["percentiles_us"], "akv-sidecar": side["percentiles_us"]},
        settings.results_dir / "latency.png",
    )
    audited = (
        audit["audit_lines_written"] >= audit["requests_sent"]
        and audit["metrics_cache_hits"] is not None
        and audit["metrics_cache_hits"] >= audit["requests_sent"]
    )
    data = {
        "settings": {
            "connections": settings.connections,
            "wrk_threads": settings.wrk_threads,
            "seconds_per_round": settings.wrk_seconds,
            "warmup_seconds": settings.warmup_seconds,
            "rounds": settings.rounds,
            "uvicorn": "both servers use akv_sidecar.server.server.uvicorn_config: httptools, "
            "uvloop, access log off, one worker, backlog 2048, no server header",
            "secret_value_bytes": len(value),
        },
        "bare": bare,
        "sidecar": side,
        "throughput_ratio": round(ratio, 3),
        "p99_ratio": round(p99_ratio, 3),
        "cpu_per_request_ratio": round(cpu_ratio, 3),
        "audit_and_metrics": audit,
    }
    rows = [
        Row(
            "1. Cache-hit throughput, 32 connections",
            f"{side['requests_per_s']:,.0f} req/s vs bare {bare['requests_per_s']:,.0f} req/s: "
            f"**{ratio:.2f}x** (audit lines {audit['audit_lines_written']:,} for "
            f"{audit['requests_sent']:,} reads)",
            f">= {THROUGHPUT_TARGET}x, audit + metrics on",
            ratio >= THROUGHPUT_TARGET and audited and side["errors"] == 0,
        ),
        Row(
            "1. CPU per cache hit, 32 connections",
            f"{side['cpu_us_per_request']:.1f} µs vs bare {bare['cpu_us_per_request']:.1f} µs"
            f" of server CPU per request: **{cpu_ratio:.2f}x** (audit + metrics included)",
            f"<= {CPU_TARGET}x bare",
            cpu_ratio <= CPU_TARGET,
        ),
        Row(
            "2. Latency, 32 connections",
            f"p50 {side['p50_ms']:.2f} ms, p99 {side['p99_ms']:.2f} ms vs bare p50 "
            f"{bare['p50_ms']:.2f} ms, p99 {bare['p99_ms']:.2f} ms: p99 **{p99_ratio:.2f}x**",
            f"p99 <= {P99_TARGET}x bare",
            p99_ratio <= P99_TARGET,
        ),
    ]
    return Outcome(data, rows)
