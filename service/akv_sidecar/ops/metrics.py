"""Prometheus metrics, aggregated in plain dicts and exposed at scrape time.

Nothing on the request path touches prometheus-client: counters are `collections.Counter` entries
bumped by the drain task, the request guard and the upstream client; a custom Collector turns them
into metric families only when `/metrics` is scraped. Labels are route templates, statuses, vault
and secret names and outcomes; never a value.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING

from akv_sidecar.ops.records import ReadRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

_CACHE_RESULT = itemgetter(ReadRecord._fields.index("cache"))

__all__ = [
    "METRICS_CONTENT_TYPE",
    "READ_ROUTE",
    "Metrics",
    "MetricsExporter",
]

# prometheus_client's CONTENT_TYPE_LATEST, spelled out so that serving needs no prometheus_client
# until the first scrape (tests/service/test_footprint.py holds the two equal).
METRICS_CONTENT_TYPE = "text/plain; version=1.0.0; charset=utf-8"
READ_ROUTE = "/v1/vaults/{vault}/secrets/{name}"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# (vault, secret, epoch seconds of the last successful fetch)
SecretTimes = Callable[[], Iterable[tuple[str, str, float]]]


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        bounds = [*(repr(bound) for bound in LATENCY_BUCKETS), "+Inf"]
        running, buckets = 0, []
        for bound, count in zip(bounds, self.counts, strict=True):
            running += count
            buckets.append((bound, float(running)))
        return buckets


class Metrics:
    """The service's counters. Single-threaded: every update runs on the event loop."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()  # (route, status)
        self.fast_hits = 0  # cache hits the fast path answered (200s of READ_ROUTE)
        self.cache_reads: Counter[str] = Counter()  # hit, miss, stale
        self.keyvault_calls: Counter[tuple[str, str]] = Counter()  # (vault, outcome)
        self.keyvault_latency: dict[str, _Histogram] = {}
        self.refresh_failures: Counter[tuple[str, str]] = Counter()  # (vault, secret)
        self.events: Counter[tuple[str, str]] = Counter()  # (event type, action)

    def count_request(self, route: str, status: int) -> None:
        self.requests[route, str(status)] += 1

    def observe_reads(self, records: Sequence[ReadRecord]) -> None:
        """Count the cache result of a batch of reads (the drain task calls this)."""
        results = Counter(map(_CACHE_RESULT, records))  # map and itemgetter: no Python frame
        results.pop("none", None)  # refused reads served nothing
        self.cache_reads.update(results)

    def observe_keyvault_call(self, vault: str, outcome: str, seconds: float) -> None:
        self.keyvault_calls[vault, outcome] += 1
        self.keyvault_latency.setdefault(vault, _Histogram()).observe(seconds)

    def count_refresh_failure(self, vault: str, secret: str) -> None:
        self.refresh_failures[vault, secret] += 1

    def count_event(self, event_type: str, action: str) -> None:
        self.events[event_type, action] += 1


class MetricsExporter:
    """A registry of its own per service, so several sidecars can live in one test process.

    prometheus_client is imported at the first scrape (``ops.exposition``): a sidecar nobody
    scrapes never loads it.
    """

    def __init__(
        self, metrics: Metrics, secret_times: SecretTimes, ready: Callable[[], bool]
    ) -> None:
        self._sources = (metrics, secret_times, ready)
        self._registry: CollectorRegistry | None = None

    def render(self) -> bytes:
        """The exposition text for one scrape."""
        from akv_sidecar.ops import exposition

        if self._registry is None:
            self._registry = exposition.registry(*self._sources)
        return exposition.render(self._registry)
