"""Scenario 7: a soak of mixed load with a Key Vault outage, then a 429 storm, in the middle.

Timeline (fractions of the soak): normal until 0.3, the vault refuses connections until 0.45,
throttles at one request per 10 s (Retry-After 5) until 0.6, then recovers. Refreshes run every
5 s so that they meet both faults. The load generator is its own process; this one samples the
sidecar's RSS each second and looks at /readyz and /v1/status in each phase.
"""

from __future__ import annotations

import json
import secrets as value_source
import subprocess
import time
from typing import Any

import httpx

from bench._emulator import EmulatorProcess, running_emulator
from bench._names import secret_names
from bench._processes import REPO_ROOT, python_command, rss_mib
from bench._report import Row
from bench._settings import Outcome, RunSettings
from bench._sidecar import SidecarProcess, running_sidecar

GROWTH_TARGET = 0.10
ON_DEMAND = 10
CACHE = {"refresh_interval": "5s", "backoff_base": "1s", "backoff_max": "10s"}
# (start fraction, phase name, fault injected at its start or None to clear)
PHASES: tuple[tuple[float, str, dict[str, Any] | None], ...] = (
    (0.0, "normal", None),
    (0.3, "outage", {"outage": "refuse"}),
    (0.45, "throttled", {"throttle": [1, 10.0], "retry_after": 5}),
    (0.6, "recovery", None),
)
WARMUP_FRACTION = 0.1  # RSS growth is measured from here to the end


def _look(sidecar: SidecarProcess, names: list[str]) -> dict[str, Any]:
    """What an operator would see (/readyz, a summary of /v1/status) and what readers get."""
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=5) as client:
        ready = client.get("/readyz")
        status = client.get("/v1/status")
        caches = [client.get(sidecar.secret_path(name)).headers.get("X-Cache") for name in names]
    view: dict[str, Any] = {
        "readyz": ready.status_code,
        "readyz_body": _json(ready),
        "reads_x_cache": {kind: caches.count(kind) for kind in sorted(set(map(str, caches)))},
    }
    if status.status_code == 200:
        secrets = _status_secrets(status.json())
        view["status_secrets"] = len(secrets)
        view["status_stale"] = sum(bool(s.get("stale")) for s in secrets)
        view["status_with_error"] = sum(bool(s.get("last_error")) for s in secrets)
    else:
        view["status_http"] = status.status_code
    return view


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:200]


def _status_secrets(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        for key in ("secrets", "cache"):
            if isinstance(body.get(key), list):
                return [s for s in body[key] if isinstance(s, dict)]
    return []


def _switch(emulator: EmulatorProcess, fault: dict[str, Any] | None) -> None:
    emulator.clear_faults()
    if fault is not None:
        emulator.inject(**fault)


def run(settings: RunSettings) -> Outcome:
    duration = settings.soak_seconds
    names = secret_names(settings.soak_secrets + ON_DEMAND)
    seed = {name: value_source.token_urlsafe(75) for name in names}
    work_dir = settings.work_dir / "soak"
    phases: list[dict[str, Any]] = []
    rss: list[tuple[float, float]] = []
    with running_emulator(work_dir / "emulator", seed) as emulator:
        prefetched = names[: settings.soak_secrets]
        with running_sidecar(emulator, work_dir / "sidecar", prefetched, cache=CACHE) as sidecar:
            load = _start_load(sidecar, settings, duration)
            started = time.monotonic()
            pending = list(PHASES)
            try:
                while (elapsed := time.monotonic() - started) < duration:
                    if pending and elapsed >= pending[0][0] * duration:
                        _, name, fault = pending.pop(0)
                        if phases:
                            phases[-1]["at_end"] = _look(sidecar, prefetched)
                        _switch(emulator, fault)
                        phases.append(
                            {"phase": name, "starts_s": round(elapsed, 1), "fault": fault}
                        )
                    rss.append((round(elapsed, 1), round(rss_mib(sidecar.pid), 2)))
                    time.sleep(1.0)
                phases[-1]["at_end"] = _look(sidecar, prefetched)
                output, _ = load.communicate(timeout=60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
            keyvault_calls = {
                "get_ok": emulator.calls(op="get", status=200),
                "throttled": emulator.calls(status=429),
            }
    summary = _parse(output)
    return _outcome(settings, summary, phases, rss, keyvault_calls)


def _start_load(
    sidecar: SidecarProcess, settings: RunSettings, duration: float
) -> subprocess.Popen[str]:
    command = python_command(
        "-m", "bench._soak_load", sidecar.url, "--seconds", str(duration),
        "--prefetched", str(settings.soak_secrets), "--on-demand", str(ON_DEMAND),
    )  # fmt: skip
    env = {"AKV_SIDECAR_TOKEN": sidecar.token, "PATH": "/usr/bin:/bin"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)


def _parse(output: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError("the soak load generator printed no summary")
    summary: dict[str, Any] = json.loads(lines[-1])
    return summary


def _outcome(
    settings: RunSettings,
    summary: dict[str, Any],
    phases: list[dict[str, Any]],
    rss: list[tuple[float, float]],
    keyvault_calls: dict[str, int],
) -> Outcome:
    warm = [mib for t, mib in rss if t >= WARMUP_FRACTION * settings.soak_seconds]
    baseline, final, peak = warm[0], warm[-1], max(warm)
    growth = (final - baseline) / baseline
    counts = summary["counts"]
    failures = counts.get("cached_failures", 0)
    recovered = phases[-1]["at_end"]
    data = {
        "seconds": settings.soak_seconds,
        "cache_settings": CACHE,
        "phases": phases,
        "load": summary,
        "keyvault_calls": keyvault_calls,
        "rss_mib": {"after_warmup": baseline, "final": final, "peak": peak,
                    "growth": round(growth, 4), "samples": rss},
    }  # fmt: skip
    ok_recovery = (
        recovered["readyz"] == 200
        and recovered["reads_x_cache"].get("stale", 0) == 0
        and recovered.get("status_stale", 0) == 0
    )
    row = Row(
        f"7. Soak, {settings.soak_seconds:.0f} s, outage + 429 storm",
        f"**{failures}** failed of {counts.get('cached_reads', 0):,} cached reads; RSS "
        f"{baseline:.1f} -> {final:.1f} MiB (**{growth:+.1%}**, peak {peak:.1f}); "
        f"recovered: {'yes' if ok_recovery else 'no'}",
        "0 failed cached reads, RSS growth < 10%",
        failures == 0 and growth < GROWTH_TARGET and ok_recovery,
    )
    return Outcome(data, [row])
