"""The benchmark's outputs: the Markdown table and the two plots that `make bench` writes."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from bench import _report
from bench._report import Row

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MACHINE = {"cpu_model": "Test CPU", "cores": 2, "memory_gib": 8.0, "kernel": "Linux 6"}
VERSIONS = {
    "python": "3.11.7",
    "uvicorn": "0.54.0",
    "azure-keyvault-secrets": "4.12.0",
    "wrk": "wrk 4.1.0",
}


def test_the_table_names_the_machine_and_marks_each_verdict() -> None:
    """Met, missed and informative rows each get their own mark under the machine line."""
    rows = [
        Row("1. Throughput", "0.78x", ">= 0.7x", True),
        Row("2. Latency", "2.5x", "<= 2.0x", False),
        Row("3. Notes", "n/a", "-", None),
    ]
    table = _report.markdown_table(rows, MACHINE, VERSIONS)
    lines = table.splitlines()
    assert lines[0].startswith("Machine: Test CPU, 2 cores, 8.0 GiB, Linux 6; Python 3.11.7")
    assert lines[-3:] == [
        "| 1. Throughput | 0.78x | >= 0.7x | met |",
        "| 2. Latency | 2.5x | <= 2.0x | **missed** |",
        "| 3. Notes | n/a | - | - |",
    ]


def test_plots_are_written_as_png(tmp_path: Path) -> None:
    """Both plots render headless from the numbers a run records."""
    latency = tmp_path / "latency.png"
    _report.plot_latency(
        {"bare": {"50": 800, "99": 1600, "99.9": 2600}, "sidecar": {"50": 1000, "99": 2200}},
        latency,
    )
    cold = tmp_path / "cold_start.png"
    _report.plot_cold_start({"one by one": {5: 0.78, 50: 7.7}, "sidecar": {5: 0.18, 50: 0.7}}, cold)
    for path in (latency, cold):
        assert path.read_bytes().startswith(PNG_MAGIC)
        assert path.stat().st_size > 5_000  # axes, bars and labels, not an empty canvas


def test_log_axes_are_labelled_with_plain_numbers() -> None:
    """Log-scaled y ticks read 0.5 and 20, not 5x10^-1 and 2x10^1; minor ticks only if asked."""
    figure, axes = plt.subplots()
    try:
        _report._plain_log_scale(axes, label_minor_ticks=False)
        assert axes.get_yscale() == "log"
        assert axes.yaxis.get_major_formatter()(0.5, 0) == "0.5"
        assert axes.yaxis.get_major_formatter()(20.0, 0) == "20"
        assert axes.yaxis.get_minor_formatter()(0.5, 0) != "0.5"
        _report._plain_log_scale(axes, label_minor_ticks=True)
        assert axes.yaxis.get_minor_formatter()(0.5, 0) == "0.5"
    finally:
        plt.close(figure)
