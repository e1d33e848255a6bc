"""The audit log: one structured line per secret read, written in batches off the hot path.

The request path only appends a `ReadRecord` tuple to a deque; the lifespan's drain task hands whole
batches to `AuditLog.write`, which formats them and writes them with one call. A record holds no
secret value, so no audit line can contain one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple, TextIO

from ._logs import LogFormat
from ._secret import iso_time

__all__ = ["AuditLog", "ReadRecord"]

_MAX_MIDDLES = 10_000


class ReadRecord(NamedTuple):
    """What the hot path remembers about one read: names and numbers, never the value."""

    time: float  # wall clock, epoch seconds
    caller: str  # the caller token's configured name, never the token
    vault: str
    secret: str
    version: str | None
    outcome: str  # "ok" or the error code returned, e.g. "SecretNotFound"
    cache: str  # "hit", "miss", "stale" or "none" when no value was served
    latency: float  # seconds spent answering
    client: str  # peer address, or "unix" for the Unix socket


class AuditLog:
    """Formats batches of read records as audit lines (JSON, or text) on one stream."""

    logger_name = "akv_sidecar.audit"

    def __init__(self, stream: TextIO, log_format: LogFormat = "json") -> None:
        self._stream = stream
        self._format_line = self._json_line if log_format == "json" else self._text_line
        # Reads repeat: the same caller reads the same secret from the same address again and
        # again, so the serialised middle of a line is kept (bounded) and only time and latency
        # are formatted per line.
        self._middles: dict[tuple[str, str, str, str | None, str, str, str], str] = {}
        self._second = -1
        self._second_text = ""

    def write(self, records: Sequence[ReadRecord]) -> None:
        """Write one line per record with a single write call."""
        if records:
            self._stream.write("".join(map(self._format_line, records)))
            self._stream.flush()

    def _time(self, epoch: float) -> str:
        second = int(epoch)
        if second != self._second:
            self._second, self._second_text = second, (iso_time(second) or "")[:-5]
        return f"{self._second_text}.{int(epoch * 1000) % 1000:03d}Z"

    def _middle(self, record: ReadRecord) -> str:
        caller, vault, secret, version, outcome, cache, _latency, client = record[1:]
        key = (caller, vault, secret, version, outcome, cache, client)
        middle = self._middles.get(key)
        if middle is None:
            if len(self._middles) >= _MAX_MIDDLES:
                self._middles.clear()
            fields = {
                "level": "INFO",
                "logger": self.logger_name,
                "message": "secret read",
                "caller": record.caller,
                "vault": record.vault,
                "secret": record.secret,
                "version": record.version,
                "outcome": record.outcome,
                "cache": record.cache,
                "client": record.client,
            }
            middle = self._middles[key] = json.dumps(fields, separators=(",", ":"))[1:-1]
        return middle

    def _json_line(self, record: ReadRecord) -> str:
        latency_ms = round(record.latency * 1000.0, 3)
        middle = self._middle(record)
        return f'{{"time":"{self._time(record.time)}",{middle},"latency_ms":{latency_ms}}}\n'

    def _text_line(self, record: ReadRecord) -> str:
        return (
            f"{self._time(record.time)} INFO    {self.logger_name}: secret read"
            f" caller={record.caller} secret={record.vault}/{record.secret}"
            f" version={record.version} outcome={record.outcome} cache={record.cache}"
            f" latency_ms={record.latency * 1000.0:.3f} client={record.client}\n"
        )
