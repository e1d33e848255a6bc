"""Prometheus metrics, aggregated in plain dicts and exposed at scrape time.

Nothing on the request path touches prometheus-client: counters are `collections.Counter` entries
bumped by the drain task, the request guard and the upstream client; a custom Collector turns them
into metric families only when `/metrics` is scraped. Labels are route templates, statuses, vault
and secret names and outcomes; never a value.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from akv_sidecar.ops.records import ReadRecord

_CACHE_RESULT = itemgetter(ReadRecord._fields.index("cache"))

__all__ = [
    "METRICS_CONTENT_TYPE",
    "READ_ROUTE",
    "Metrics",
    "MetricsExporter",
]

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
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


def _counter(
    name: str, documentation: str, labels: Sequence[str], values: Counter[tuple[str, str]]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_values, count in sorted(values.items()):
        family.add_metric(list(label_values), count)
    return family


class _Collector(Collector):
    def __init__(
        self, metrics: Metrics, secret_times: SecretTimes, ready: Callable[[], bool]
    ) -> None:
        self._metrics = metrics
        self._secret_times = secret_times
        self._ready = ready

    def collect(self) -> Iterator[Metric]:
        metrics = self._metrics
        requests = metrics.requests.copy()
        requests[READ_ROUTE, "200"] += metrics.fast_hits
        yield _counter(
            "akv_sidecar_http_requests",
            "HTTP requests answered, by route template and status.",
            ("route", "status"),
            requests,
        )
        cache = CounterMetricFamily(
            "akv_sidecar_cache_reads", "Secret reads by cache result.", labels=["result"]
        )
        for result in ("hit", "miss", "stale"):
            cache.add_metric([result], metrics.cache_reads[result])
        yield cache
        yield _counter(
            "akv_sidecar_keyvault_calls",
            "Calls to Key Vault, by vault and outcome.",
            ("vault", "outcome"),
            metrics.keyvault_calls,
        )
        latency = HistogramMetricFamily(
            "akv_sidecar_keyvault_latency_seconds",
            "Key Vault call latency, by vault.",
            labels=["vault"],
        )
        for vault, histogram in sorted(metrics.keyvault_latency.items()):
            latency.add_metric([vault], histogram.cumulative(), histogram.total)
        yield latency
        yield _counter(
            "akv_sidecar_refresh_failures",
            "Failed background refreshes, by vault and secret.",
            ("vault", "secret"),
            metrics.refresh_failures,
        )
        yield _counter(
            "akv_sidecar_events",
            "Event Grid events received, by event type and what was done.",
            ("type", "action"),
            metrics.events,
        )
        now = time.time()
        age = GaugeMetricFamily(
            "akv_sidecar_secret_age_seconds",
            "Seconds since the last successful fetch of each cached secret.",
            labels=["vault", "secret"],
        )
        for vault, secret, fetched_at in sorted(self._secret_times()):
            age.add_metric([vault, secret], max(0.0, now - fetched_at))
        yield age
        yield GaugeMetricFamily(
            "akv_sidecar_ready", "1 once the prefetch finished, else 0.", value=int(self._ready())
        )


class MetricsExporter:
    """A registry of its own per service, so several sidecars can live in one test process."""

    def __init__(
        self, metrics: Metrics, secret_times: SecretTimes, ready: Callable[[], bool]
    ) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Collector(metrics, secret_times, ready))

    def render(self) -> bytes:
        """The exposition text for one scrape."""
        return generate_latest(self._registry)
