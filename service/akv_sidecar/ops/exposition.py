"""The Prometheus exposition of ``metrics.Metrics``: a custom Collector that turns the plain
counters into metric families when `/metrics` is scraped. Imported at the first scrape only."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from akv_sidecar.ops.metrics import READ_ROUTE, Metrics, SecretTimes

__all__ = ["registry", "render"]


def registry(
    metrics: Metrics, secret_times: SecretTimes, ready: Callable[[], bool]
) -> CollectorRegistry:
    """A registry of its own holding the one collector of ``metrics``."""
    found = CollectorRegistry(auto_describe=False)
    found.register(_Collector(metrics, secret_times, ready))
    return found


def render(found: CollectorRegistry) -> bytes:
    return generate_latest(found)


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
