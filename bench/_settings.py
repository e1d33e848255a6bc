"""What a run does: the full run (reported) or --quick (for development), in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench._report import Row

RESULTS_DIR = Path(__file__).with_name("results")


@dataclass(frozen=True)
class RunSettings:
    quick: bool = False
    results_dir: Path = RESULTS_DIR
    work_dir: Path = Path("/tmp")
    # 1-2: cache-hit throughput and latency
    connections: int = 32
    wrk_threads: int = 1  # one core for wrk, one for the server under test
    wrk_seconds: float = 10.0
    warmup_seconds: float = 2.0
    rounds: int = 3  # bare, sidecar, bare, sidecar...: the ratio is taken over the sums
    # 3: cold start
    keyvault_latency_s: float = 0.15
    cold_start_sizes: tuple[int, ...] = (5, 50, 500)
    throttle: tuple[int, float] = (4000, 10.0)  # Key Vault's published limit per vault
    one_by_one_limit: int = 500  # above this, one-by-one is extrapolated from a sample
    one_by_one_sample: int = 50
    cold_start_repeats: int = 3  # for N up to one_by_one_limit; medians are compared
    # 4: Spark driver start
    driver_connections: int = 5
    driver_repeats: int = 5
    # 5: Key Vault load
    drivers: int = 200
    secrets_per_driver: int = 5
    # 6: memory
    memory_secrets: int = 10_000
    memory_secret_bytes: int = 100
    # 7: soak
    soak_seconds: float = 120.0
    soak_secrets: int = 50
    # 8: footprint
    footprint_repeats: int = 3  # spawns of each kind; medians are compared

    @classmethod
    def for_mode(cls, *, quick: bool, **overrides: Any) -> RunSettings:
        if quick:
            quick_values: dict[str, Any] = {
                "wrk_seconds": 3.0,
                "warmup_seconds": 1.0,
                "rounds": 1,
                "one_by_one_limit": 50,
                "one_by_one_sample": 20,
                "cold_start_repeats": 1,
                "driver_repeats": 2,
                "soak_seconds": 30.0,
                "footprint_repeats": 1,
            }
            overrides = {**quick_values, **overrides}
        return cls(quick=quick, **overrides)

    def as_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["results_dir"] = str(self.results_dir)
        values["work_dir"] = str(self.work_dir)
        return values


@dataclass
class Outcome:
    """What a scenario hands back: its data for the JSON file and its rows for the table."""

    data: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
