"""Scenario 6: resident memory of the sidecar holding 10,000 cached secrets of 100 bytes."""

from __future__ import annotations

import secrets as value_source
import time

from bench._emulator import running_emulator
from bench._names import secret_names
from bench._processes import rss_mib
from bench._report import Row
from bench._settings import Outcome, RunSettings
from bench._sidecar import running_sidecar

TARGET_MIB = 150e6 / 2**20  # the issue says 150 MB; held to the stricter decimal megabytes


def _settled_rss(pid: int, seconds: float = 3.0) -> float:
    """RSS after the start-up burst has settled: the last of a few samples a second apart."""
    sample = rss_mib(pid)
    for _ in range(int(seconds)):
        time.sleep(1.0)
        sample = rss_mib(pid)
    return sample


def run(settings: RunSettings) -> Outcome:
    count, size = settings.memory_secrets, settings.memory_secret_bytes
    # token_hex(n) gives 2n characters: exactly `size` bytes of made-up value.
    seed = {name: value_source.token_hex(size // 2) for name in secret_names(count)}
    work_dir = settings.work_dir / "memory"
    with running_emulator(work_dir / "emulator", seed) as emulator:
        with running_sidecar(emulator, work_dir / "empty", []) as sidecar:
            empty_mib = _settled_rss(sidecar.pid)
        emulator.reset_counters()
        with running_sidecar(emulator, work_dir / "full", ["*"], ready_timeout_s=600) as sidecar:
            ready_s = sidecar.ready_s
            full_mib = _settled_rss(sidecar.pid)
            gets = emulator.calls(op="get")
    data = {
        "secrets": count,
        "value_bytes": size,
        "rss_mib_no_secrets": round(empty_mib, 1),
        "rss_mib_with_secrets": round(full_mib, 1),
        "per_secret_bytes": round((full_mib - empty_mib) * 2**20 / count),
        "keyvault_gets": gets,
        "spawn_to_ready_s": round(ready_s, 2),
    }
    row = Row(
        f"6. Memory, {count:,} cached secrets of {size} B",
        f"RSS **{full_mib:.0f} MiB** (empty sidecar {empty_mib:.0f} MiB; "
        f"{data['per_secret_bytes']} B per secret; {gets:,} Key Vault gets)",
        "<= 150 MB (143 MiB)",
        full_mib <= TARGET_MIB and gets >= count,
    )
    return Outcome(data, [row])
