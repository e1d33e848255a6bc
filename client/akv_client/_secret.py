"""The value objects reads return: a secret, and the credentials the sidecar vends (a SAS, an access
token); every value, SAS and token masked in repr and str."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["AccessToken", "Secret", "VendedSas", "parse_time"]

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


@dataclass(frozen=True)
class VendedSas:
    """A SAS the sidecar vended (`POST /v1/storage/sas`). `repr`/`str` never show `.sas_token`."""

    account: str
    container: str
    path: str | None
    permissions: str
    expires_on: datetime  # aware, UTC
    sas_token: str = field(repr=False)  # the query string, without a leading '?'

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> VendedSas:
        """The sidecar's answer; KeyError, TypeError or ValueError when it is not one."""
        return cls(
            account=str(body["account"]),
            container=str(body["container"]),
            path=str(body["path"]) if body.get("path") else None,
            permissions=str(body["permissions"]),
            expires_on=parse_time(body["expires_on"]),
            sas_token=_credential(body["sas_token"]).lstrip("?"),
        )

    def __repr__(self) -> str:
        return (
            f"VendedSas(account={self.account!r}, container={self.container!r}, "
            f"path={self.path!r}, permissions={self.permissions!r}, "
            f"expires_on={self.expires_on.isoformat()!r}, sas_token={MASK!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class AccessToken:
    """An Entra ID access token the sidecar vended (`POST /v1/tokens`); `.token` never shown."""

    scope: str
    expires_on: datetime  # aware, UTC
    token: str = field(repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AccessToken:
        """The sidecar's answer; KeyError, TypeError or ValueError when it is not one."""
        return cls(
            scope=str(body["scope"]),
            expires_on=parse_time(body["expires_on"]),
            token=_credential(body["access_token"]),
        )

    def __repr__(self) -> str:
        return (
            f"AccessToken(scope={self.scope!r}, expires_on={self.expires_on.isoformat()!r}, "
            f"token={MASK!r})"
        )

    __str__ = __repr__


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(text: Any) -> datetime:
    """An ISO 8601 timestamp (`2025-01-31T12:00:00.000Z`, any offset) as an aware UTC datetime.

    Python 3.10's `fromisoformat` takes neither `Z` nor fractions other than 3 or 6 digits.
    """
    if not isinstance(text, str):
        raise TypeError("a timestamp must be an ISO 8601 string")
    value = text.strip()
    value = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    value = _FRACTION.sub(lambda match: "." + (match[1] + "000000")[:6], value, count=1)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _credential(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("the credential is missing or not a string")
    return value
