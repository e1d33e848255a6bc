"""The audit log: one structured line per secret read, written in batches off the hot path.

The request path only appends a `ReadRecord` tuple to a deque; the lifespan's drain task hands whole
batches to `AuditLog.write`, which formats them and writes them with one call. A record holds no
secret value, so no audit line can contain one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.core.timestamps import iso_time
from akv_sidecar.ops.records import ReadRecord, VendRecord

__all__ = ["AuditLog"]

_MAX_MIDDLES = 10_000
_MiddleKey = tuple[str, str, str, str | None, str, str, str]  # a record without time and latency
_MAX_FIELD = 128  # names in refused requests are whatever the caller sent: keep lines bounded


def _clip(value: str | None) -> str | None:
    return value if value is None or len(value) <= _MAX_FIELD else value[:_MAX_FIELD] + "…"


def _plain(value: str | None) -> str:
    """A field for the text format: clipped, with control characters escaped (no forged lines)."""
    clipped = _clip(value) or ""
    return clipped if clipped.isprintable() else clipped.encode("unicode_escape").decode("ascii")


class AuditLog:
    """Formats batches of read records as audit lines (JSON, or text) on one stream."""

    logger_name = "akv_sidecar.audit"

    def __init__(self, stream: TextIO, log_format: str = "json") -> None:
        self._stream = stream
        self._format_lines = self._json_lines if log_format == "json" else self._text_lines
        # Reads repeat: the same caller reads the same secret from the same address again and
        # again, so the serialised middle of a line is kept (bounded) and only time and latency
        # are formatted per line.
        self._middles: BoundedMap[_MiddleKey, str] = BoundedMap(_MAX_MIDDLES)
        self._second = self._millisecond = -1
        self._second_text = self._time_text = ""

    def write(self, records: Sequence[ReadRecord]) -> None:
        """Write one line per record with a single write call."""
        if records:
            self._stream.write("".join(self._format_lines(records)))
            self._stream.flush()

    def _time(self, epoch: float) -> str:
        """ISO time to the millisecond; many reads share a millisecond, all share the second."""
        millisecond = int(epoch * 1000)
        if millisecond != self._millisecond:
            second = millisecond // 1000
            if second != self._second:
                self._second, self._second_text = second, (iso_time(second) or "")[:-5]
            self._millisecond = millisecond
            self._time_text = f"{self._second_text}.{millisecond % 1000:03d}Z"
        return self._time_text

    def _middle(self, key: _MiddleKey) -> str:
        caller, vault, secret, version, outcome, cache, client = key
        fields = {
            "level": "INFO",
            "logger": self.logger_name,
            "message": "secret read",
            "caller": caller,
            "vault": _clip(vault),
            "secret": _clip(secret),
            "version": _clip(version),
            "outcome": outcome,
            "cache": cache,
            "client": client,
        }
        middle = self._middles[key] = json.dumps(fields, separators=(",", ":"))[1:-1]
        return middle

    def _json_lines(self, records: Sequence[ReadRecord]) -> list[str]:
        middles, time_text, lines = self._middles, self._time, []
        for epoch, caller, vault, secret, version, outcome, cache, latency, client in records:
            key = (caller, vault, secret, version, outcome, cache, client)
            middle = middles.get(key) or self._middle(key)
            lines.append(
                f'{{"time":"{time_text(epoch)}",{middle},"latency_ms":{latency * 1000.0:.3f}}}\n'
            )
        return lines

    def _text_lines(self, records: Sequence[ReadRecord]) -> list[str]:
        return [self._text_line(record) for record in records]

    def _text_line(self, record: ReadRecord) -> str:
        return (
            f"{self._time(record.time)} INFO    {self.logger_name}: secret read"
            f" caller={record.caller} secret={_plain(record.vault)}/{_plain(record.secret)}"
            f" version={_plain(record.version)} outcome={record.outcome} cache={record.cache}"
            f" latency_ms={record.latency * 1000.0:.3f} client={record.client}\n"
        )

    def write_vend(self, record: VendRecord) -> None:
        """One line for a SAS or access token handed out or refused, written at once: vending is
        rare next to reads, and the line must exist even if the process dies a moment later."""
        verb = "issued" if record.outcome == "ok" else "refused"
        names = (
            ("scope",)
            if record.kind == "token"
            else ("account", "container", "path", "permissions")
        )
        given = {name: _clip(getattr(record, name)) for name in names}
        expires = iso_time(record.expires_on)
        if self._format_lines == self._json_lines:
            fields = {
                "time": self._time(record.time),
                "level": "INFO",
                "logger": self.logger_name,
                "message": f"{record.kind} {verb}",
                "caller": record.caller,
                **given,
                "expires_on": expires,
                "outcome": record.outcome,
                "client": record.client,
            }
            line = json.dumps(fields, separators=(",", ":")) + "\n"
        else:
            details = "".join(f" {name}={_plain(value)}" for name, value in given.items())
            line = (
                f"{self._time(record.time)} INFO    {self.logger_name}: {record.kind} {verb}"
                f" caller={record.caller}{details} expires_on={expires} outcome={record.outcome}"
                f" client={record.client}\n"
            )
        self._stream.write(line)
        self._stream.flush()
