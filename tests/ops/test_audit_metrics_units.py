"""Unit tests of the audit log formatter and the metrics exporter (no server needed)."""

from __future__ import annotations

import io
import json

from prometheus_client.parser import text_string_to_metric_families

from akv_sidecar.ops.audit import AuditLog
from akv_sidecar.ops.metrics import Metrics, MetricsExporter
from akv_sidecar.ops.records import ReadRecord

RECORDS = [
    ReadRecord(1700000000.25, "spark", "kv1", "bronze", "a" * 32, "ok", "hit", 0.0004, "127.0.0.1"),
    ReadRecord(1700000001.0, "spark", "kv1", "nope", None, "SecretNotFound", "none", 0.01, "unix"),
]


class CountingStream(io.StringIO):
    """A StringIO that counts write calls."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def samples(exporter: MetricsExporter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, keyed by name and sorted labels."""
    text = exporter.render().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_audit_json_lines_carry_every_field_in_one_write() -> None:
    """A batch becomes one write of JSON lines with time, caller, secret, version, outcome..."""
    stream = CountingStream()
    AuditLog(stream, "json").write(RECORDS)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert stream.writes == 1
    assert lines[0] == {
        "time": "2023-11-14T22:13:20.250Z",
        "level": "INFO",
        "logger": "akv_sidecar.audit",
        "message": "secret read",
        "caller": "spark",
        "vault": "kv1",
        "secret": "bronze",
        "version": "a" * 32,
        "outcome": "ok",
        "cache": "hit",
        "latency_ms": 0.4,
        "client": "127.0.0.1",
    }
    assert lines[1]["outcome"] == "SecretNotFound"
    assert lines[1]["version"] is None


def test_audit_text_format_is_one_readable_line_per_read() -> None:
    """--log-format text gives one key=value line per read."""
    stream = io.StringIO()
    AuditLog(stream, "text").write(RECORDS)
    first, second = stream.getvalue().splitlines()
    for field in ("secret=kv1/bronze", "cache=hit", "caller=spark"):
        assert field in first
    assert "outcome=SecretNotFound" in second


def test_audit_writes_nothing_for_an_empty_batch() -> None:
    """An empty drain does not touch the stream."""
    stream = CountingStream()
    AuditLog(stream).write([])
    assert stream.writes == 0


def test_metrics_exposition_parses_and_counts_known_traffic() -> None:
    """Counters, the latency histogram, ages and ready state come out as Prometheus text."""
    metrics = Metrics()
    metrics.observe_reads(RECORDS)
    metrics.count_request("/v1/vaults/{vault}/secrets/{name}", 200)
    metrics.count_request("/v1/vaults/{vault}/secrets/{name}", 200)
    metrics.observe_keyvault_call("kv1", "ok", 0.02)
    metrics.observe_keyvault_call("kv1", "throttled", 3.0)
    metrics.count_refresh_failure("kv1", "bronze")
    metrics.count_event("SecretNewVersionCreated", "refreshed")
    ready = [False]
    exporter = MetricsExporter(metrics, lambda: [("kv1", "bronze", 0.0)], lambda: ready[0])
    got = samples(exporter)
    route = (("route", "/v1/vaults/{vault}/secrets/{name}"), ("status", "200"))
    assert got["akv_sidecar_http_requests_total", route] == 2
    assert got["akv_sidecar_cache_reads_total", (("result", "hit"),)] == 1
    assert got["akv_sidecar_cache_reads_total", (("result", "miss"),)] == 0
    assert got["akv_sidecar_keyvault_calls_total", (("outcome", "ok"), ("vault", "kv1"))] == 1
    assert got["akv_sidecar_keyvault_latency_seconds_count", (("vault", "kv1"),)] == 2
    assert (
        got["akv_sidecar_keyvault_latency_seconds_bucket", (("le", "0.025"), ("vault", "kv1"))] == 1
    )
    assert (
        got["akv_sidecar_keyvault_latency_seconds_bucket", (("le", "+Inf"), ("vault", "kv1"))] == 2
    )
    assert got["akv_sidecar_keyvault_latency_seconds_sum", (("vault", "kv1"),)] == 3.02
    assert got["akv_sidecar_refresh_failures_total", (("secret", "bronze"), ("vault", "kv1"))] == 1
    events = (("action", "refreshed"), ("type", "SecretNewVersionCreated"))
    assert got["akv_sidecar_events_total", events] == 1
    assert got["akv_sidecar_secret_age_seconds", (("secret", "bronze"), ("vault", "kv1"))] > 1e9
    assert got["akv_sidecar_ready", ()] == 0
    ready[0] = True
    assert samples(exporter)["akv_sidecar_ready", ()] == 1


def test_untrusted_names_are_clipped_and_cannot_forge_text_lines() -> None:
    """A refused request's name is clipped to 128 characters; control characters are escaped."""
    hostile = ReadRecord(
        0.0, "spark", "kv1\n2024 INFO forged", "x" * 5000, None, "InvalidName", "none", 0.0, "c"
    )
    text, json_stream = io.StringIO(), io.StringIO()
    AuditLog(text, "text").write([hostile])
    AuditLog(json_stream, "json").write([hostile])
    assert len(text.getvalue().splitlines()) == 1
    assert "kv1\\n2024 INFO forged" in text.getvalue()
    line = json.loads(json_stream.getvalue())
    assert line["vault"] == "kv1\n2024 INFO forged"
    assert line["secret"] == "x" * 128 + "…"
