"""``python -m bench [--quick] [--only NAME ...]``: run the scenarios, write the results."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import (
    _cold_start,
    _driver_start,
    _footprint,
    _keyvault_load,
    _memory,
    _report,
    _soak,
    _throughput,
)
from bench._machine import describe_machine, describe_versions
from bench._processes import REPO_ROOT
from bench._report import Row
from bench._settings import Outcome, RunSettings

QUICK_RESULTS_DIR = REPO_ROOT / ".cache" / "bench-quick"
SCENARIOS: dict[str, Callable[[RunSettings], Outcome]] = {
    "throughput": _throughput.run,
    "cold_start": _cold_start.run,
    "driver_start": _driver_start.run,
    "keyvault_load": _keyvault_load.run,
    "memory": _memory.run,
    "soak": _soak.run,
    "footprint": _footprint.run,
}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs, for development")
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), help="run only these")
    parser.add_argument(
        "--out",
        type=Path,
        help="results folder (default bench/results; .cache/bench-quick with --quick)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    settings = RunSettings.for_mode(quick=args.quick)
    if args.out or settings.quick:
        # A quick run never overwrites the reported results.
        settings = replace(settings, results_dir=args.out or QUICK_RESULTS_DIR)
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if settings.quick else "full",
        "machine": describe_machine(),
        "versions": describe_versions(),
        "scenarios": _kept_scenarios(settings.results_dir / "latest.json", args.only),
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix="akv-bench-") as work_dir:
        settings = replace(settings, work_dir=Path(work_dir))
        results["settings"] = settings.as_json()
        for name in args.only or list(SCENARIOS):
            print(f"== {name}", flush=True)
            started = time.perf_counter()
            try:
                outcome = SCENARIOS[name](settings)
            except Exception as exc:  # one broken scenario must not hide the others' numbers
                failed = True
                traceback.print_exc()
                error = f"{type(exc).__name__}: {exc}"
                outcome = Outcome(
                    {"error": error}, [Row(name, f"did not run: {error}", "-", False)]
                )
            outcome.data["elapsed_s"] = round(time.perf_counter() - started, 1)
            outcome.data["measured_at"] = results["generated_at"]
            outcome.data["mode"] = results["mode"]
            outcome.data["rows"] = _report.rows_as_json(outcome.rows)
            results["scenarios"][name] = outcome.data
            for row in outcome.rows:
                print(f"   {row.scenario}: {row.measured} [target {row.target}]", flush=True)
    rows = [
        Row(**row)
        for name in SCENARIOS
        for row in results["scenarios"].get(name, {}).get("rows", [])
    ]
    results["table"] = _report.rows_as_json(rows)
    table = _report.markdown_table(rows, results["machine"], results["versions"])
    _report.write_json(results, settings.results_dir / "latest.json")
    (settings.results_dir / "latest.md").write_text(table)
    print(table)
    return 1 if failed else 0


def _kept_scenarios(previous: Path, only: list[str] | None) -> dict[str, Any]:
    """With --only, the other scenarios' results of the last run stay in the files."""
    if not only or not previous.exists():
        return {}
    kept: dict[str, Any] = json.loads(previous.read_text()).get("scenarios", {})
    return {name: data for name, data in kept.items() if name not in only}


if __name__ == "__main__":
    sys.exit(main())
