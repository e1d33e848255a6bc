"""Timestamps as callers and logs see them: ISO 8601, UTC, milliseconds."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["iso_time"]


def iso_time(moment: datetime | float | None) -> str | None:
    """An ISO 8601 UTC timestamp (``2025-01-31T12:00:00Z``) from a datetime or epoch seconds."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=timezone.utc)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    text = moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
