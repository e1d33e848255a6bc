"""The value object a read returns: everything the sidecar says about a secret, value masked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Secret"]

MASK = "***"


@dataclass(frozen=True)
class Secret:
    """A Key Vault secret as served by the sidecar. `repr`/`str` never show `.value`."""

    vault: str
    name: str
    value: str = field(repr=False)
    version: str | None = None
    content_type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    not_before: str | int | None = None
    expires_on: str | int | None = None
    updated_on: str | int | None = None
    fetched_at: str | float | None = None
    age_seconds: float | None = None
    stale: bool = False
    cache: str | None = None  # the X-Cache header: hit, miss or stale

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, cache: str | None = None) -> Secret:
        return cls(
            vault=str(body["vault"]),
            name=str(body["name"]),
            value=str(body["value"]),
            version=body.get("version"),
            content_type=body.get("content_type"),
            tags=dict(body.get("tags") or {}),
            enabled=bool(body.get("enabled", True)),
            not_before=body.get("not_before"),
            expires_on=body.get("expires_on"),
            updated_on=body.get("updated_on"),
            fetched_at=body.get("fetched_at"),
            age_seconds=body.get("age_seconds"),
            stale=bool(body.get("stale", False)),
            cache=cache,
        )

    def __repr__(self) -> str:
        version = f"{self.version[:4]}…" if self.version else None
        return (
            f"Secret(vault={self.vault!r}, name={self.name!r}, version={version!r}, "
            f"value={MASK!r}, stale={self.stale!r})"
        )

    __str__ = __repr__
