"""A secret as fetched from Key Vault: the value and the attributes callers see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

__all__ = ["SecretData", "iso_time"]


@dataclass(frozen=True, slots=True)
class SecretData:
    """One version of a secret; the value never shows in a repr."""

    name: str
    value: str = field(repr=False)
    version: str
    content_type: str | None = None
    tags: dict[str, str] | None = None
    enabled: bool = True
    not_before: datetime | None = None
    expires_on: datetime | None = None
    updated_on: datetime | None = None


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
