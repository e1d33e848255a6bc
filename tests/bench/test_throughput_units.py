"""The throughput scenario's CPU per request: server CPU over requests served, over all rounds."""

from __future__ import annotations

import os
import time

import pytest

from bench._processes import cpu_seconds
from bench._throughput import Loaded, cpu_us_per_request
from bench._wrk import WrkResult


def _loaded(requests: int, cpu_s: float) -> Loaded:
    result = WrkResult(requests, 10.0, {}, {}, {"50": 500, "99": 900})
    return Loaded(result, requests + 1000, cpu_s)  # the warm-up's requests are not divided by


def test_cpu_per_request_is_the_rounds_cpu_over_their_measured_requests() -> None:
    """Two rounds of 100,000 and 300,000 requests using 2 s and 4 s: 15 µs each, warm-ups aside."""
    loads = [_loaded(100_000, 2.0), _loaded(300_000, 4.0)]
    assert cpu_us_per_request(loads) == pytest.approx(15.0)


def test_cpu_seconds_counts_this_process_cpu_not_its_sleep() -> None:
    """0.3 s of busy work shows in the process's CPU time, 0.3 s of sleep does not."""
    before = cpu_seconds(os.getpid())
    time.sleep(0.3)
    slept = cpu_seconds(os.getpid()) - before
    deadline = time.thread_time() + 0.3
    while time.thread_time() < deadline:
        pass
    busy = cpu_seconds(os.getpid()) - before - slept
    assert slept < 0.1
    assert busy >= 0.25
