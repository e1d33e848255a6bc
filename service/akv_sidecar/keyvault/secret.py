"""A secret as fetched from Key Vault: the value and the attributes callers see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["SecretData"]


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
