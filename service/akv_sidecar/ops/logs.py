"""Log output: JSON lines on stdout by default, or plain text for people at a terminal.

Every log line of the process, including the audit log, follows one `log_format` choice. The
formatters never print arguments they were not given explicitly, so a secret value can reach a line
only if some caller put it there; none does.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

from akv_sidecar.config.schema import LOG_FORMATS, LOG_LEVELS
from akv_sidecar.core.timestamps import iso_time

__all__ = ["configure_logging"]


# Attributes every LogRecord has; anything else on a record came from `extra=`: logged as a field.
# uvicorn adds `color_message`, a copy of the message with terminal colours.
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in record.__dict__.items() if key not in _RECORD_FIELDS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_extra_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            line["error_type"] = record.exc_info[0].__name__
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...` for terminals."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in _extra_fields(record).items())
        text = (
            f"{iso_time(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        )
        return f"{text} {fields}" if fields else text


def configure_logging(
    log_format: str = "json", level: str = "info", stream: TextIO | None = None
) -> logging.Handler:
    """Route the root, uvicorn and akv_sidecar loggers to one handler on `stream` (stdout)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn.access stays off (see uvicorn_config): reads are audited instead.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    return handler
