"""The outputs of a run: results JSON, the Markdown table and the PNG plots."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the bench runs headless
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter


@dataclass(frozen=True)
class Row:
    """One line of the results table: what was measured against what was promised."""

    scenario: str
    measured: str
    target: str
    met: bool | None  # None: informative, no target


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")


def markdown_table(rows: list[Row], machine: dict[str, Any], versions: dict[str, str]) -> str:
    verdict = {True: "met", False: "**missed**", None: "-"}
    lines = [
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"{machine['kernel']}; Python {versions['python']}, uvicorn {versions['uvicorn']}, "
        f"azure-keyvault-secrets {versions['azure-keyvault-secrets']}, {versions['wrk']}.",
        "",
        "| scenario | measured | target | |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {r.scenario} | {r.measured} | {r.target} | {verdict[r.met]} |" for r in rows]
    return "\n".join(lines) + "\n"


def rows_as_json(rows: list[Row]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


def plot_latency(distributions: dict[str, dict[str, int]], path: Path) -> None:
    """Latency percentiles of each server under the same wrk load (log-scaled tail)."""
    figure, axes = plt.subplots(figsize=(7, 4), dpi=90)
    for label, percentiles in distributions.items():
        points = sorted((float(p), us / 1000) for p, us in percentiles.items())
        # x as "nines": 50 -> 0.3, 90 -> 1, 99 -> 2, 99.9 -> 3, so the tail is readable.
        nines = [_nines(p) for p, _ in points]
        axes.plot(nines, [ms for _, ms in points], marker="o", label=label)
    ticks = [50, 90, 99, 99.9, 99.99]
    axes.set_xticks([_nines(t) for t in ticks], [f"p{t:g}" for t in ticks])
    axes.set_ylabel("latency (ms)")
    _plain_log_scale(axes, label_minor_ticks=True)
    axes.set_title("Cache-hit GET latency at 32 connections (wrk)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _plain_log_scale(axes: Axes, *, label_minor_ticks: bool) -> None:
    """A log y axis labelled 0.5, 2, 10 rather than 5x10^-1, 2x10^0, 10^1."""
    axes.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axes.yaxis.set_major_formatter(plain)
    if label_minor_ticks:
        axes.yaxis.set_minor_formatter(plain)


def _nines(percentile: float) -> float:
    return -math.log10(1 - percentile / 100) if percentile < 100 else 5.0


def plot_cold_start(series: dict[str, dict[int, float]], path: Path) -> None:
    """Seconds to have N secrets in hand, per method, grouped by N (log scale)."""
    sizes = sorted({n for values in series.values() for n in values})
    width = 0.8 / len(series)
    figure, axes = plt.subplots(figsize=(7, 4), dpi=90)
    for index, (label, values) in enumerate(series.items()):
        xs = [i + index * width for i, n in enumerate(sizes) if n in values]
        ys = [values[n] for n in sizes if n in values]
        bars = axes.bar(xs, ys, width=width, label=label)
        axes.bar_label(bars, labels=[f"{y:.2f}" for y in ys], fontsize=7)
    axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(sizes))])
    axes.set_xticklabels([f"N = {n}" for n in sizes])
    _plain_log_scale(axes, label_minor_ticks=False)
    axes.set_ylabel("seconds (log)")
    axes.set_title("Cold start: N secrets at 150 ms Key Vault latency")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
