"""The footprint scenario's verdicts: each number against the floor measured beside it."""

from __future__ import annotations

from typing import Any

from bench._footprint import _rows

SMALL: dict[str, Any] = {
    "spawn_to_ready_s": 0.9,
    "prefetch_s": 0.2,
    "bare_spawn_to_first_200_s": 0.4,
    "rss_mib": 40.0,
    "bare_rss_mib": 32.0,
}
PREFETCH = {"prefetch_s": 0.66, "ideal_s": 0.6}
FULL = {"rss_mib": 90.0}


def test_each_row_is_met_within_its_ratio_and_missed_beyond_it() -> None:
    """0.9 s against 0.4 + 0.2 s is 1.5x (met), 1.1x ideal and 1.25x RSS are met; then each
    missed once the measured number grows past its bound."""
    assert [row.met for row in _rows(SMALL, PREFETCH, FULL)] == [True, True, True, True]
    worse_small = SMALL | {"spawn_to_ready_s": 0.95, "rss_mib": 42.0}
    worse = _rows(worse_small, {"prefetch_s": 0.70, "ideal_s": 0.6}, {"rss_mib": 101.0})
    assert [row.met for row in worse] == [False, False, False, False]


def test_the_rows_show_the_floor_beside_the_number() -> None:
    """A reader sees the floor each ratio was taken against, not the ratio alone."""
    ready, prefetch, rss, full = (row.measured for row in _rows(SMALL, PREFETCH, FULL))
    assert "bare spawn to first 200 0.40 s + prefetch 0.20 s" in ready
    assert "ideal 0.60 s" in prefetch
    assert "bare app 32 MiB" in rss
    assert "90 MiB" in full
