"""wrk, the load generator: it runs in its own process, outside the server it measures."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_REPORT_SCRIPT = Path(__file__).with_name("wrk_report.lua")
_MARKER = "BENCH_JSON "


class WrkMissing(RuntimeError):
    """wrk is not on PATH (``make bench`` installs it with apt-get)."""


@dataclass(frozen=True)
class WrkSettings:
    connections: int = 32
    threads: int = 2
    duration_s: float = 10.0
    timeout_s: float = 5.0


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_us: dict[str, float]
    percentiles_us: dict[str, int]

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_json(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "duration_s": round(self.duration_s, 3),
            "requests_per_s": round(self.requests_per_s, 1),
            "errors": self.errors,
            "latency_us": self.latency_us,
            "percentiles_us": self.percentiles_us,
        }


def wrk_version() -> str:
    """The first line wrk prints about itself, e.g. ``wrk debian/4.1.0-3+b2 [epoll]``."""
    completed = subprocess.run(
        [_executable(), "--version"], capture_output=True, text=True, check=False
    )
    return (completed.stdout or completed.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _executable() -> str:
    executable = shutil.which("wrk")
    if executable is None:
        raise WrkMissing("wrk is not installed: run `apt-get install -y wrk` (or `make bench`)")
    return executable


def run_wrk(url: str, settings: WrkSettings, headers: dict[str, str] | None = None) -> WrkResult:
    """Load ``url`` for ``settings.duration_s`` and return wrk's summary and percentiles."""
    command = [
        _executable(),
        f"--connections={settings.connections}",
        f"--threads={settings.threads}",
        f"--duration={max(1, round(settings.duration_s))}s",
        f"--timeout={max(1, round(settings.timeout_s))}s",
        f"--script={_REPORT_SCRIPT}",
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    command.append(url)
    # The command holds the caller token (a header): errors say what failed, never the command.
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=settings.duration_s + 60
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"wrk did not finish within {settings.duration_s + 60:.0f} s") from None
    if completed.returncode != 0:
        raise RuntimeError(f"wrk exited with {completed.returncode}: {completed.stderr[-500:]!r}")
    for line in completed.stdout.splitlines():
        if line.startswith(_MARKER):
            report = json.loads(line[len(_MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no report: {completed.stdout[-500:]!r}")
    latency = report["latency_us"]
    return WrkResult(
        requests=report["requests"],
        duration_s=report["duration_us"] / 1e6,
        errors=report["errors"],
        latency_us={"mean": latency["mean"], "stdev": latency["stdev"], "max": latency["max"]},
        percentiles_us=latency["percentiles"],
    )
