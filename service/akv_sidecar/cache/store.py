"""The in-memory store of fetched secrets: immutable entries replaced atomically.

A cache hit is one dict lookup and one bytes concatenation: each entry carries its response body
serialised once when fetched, up to the two fields that change per request (age and staleness).
No I/O, no clock and no locks here: callers pass the time in, and entries are swapped whole.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.core.timestamps import iso_time
from akv_sidecar.keyvault.secret import SecretData

__all__ = ["Entry", "Key", "Store", "age_tenths", "make_entry"]

Key = tuple[str, str]  # (vault, secret name), both lower-cased
VersionKey = tuple[str, str, str]  # (vault, secret name, version), all lower-cased


@dataclass(frozen=True, slots=True)
class Entry:
    """A fetched secret ready to serve; ``stale`` is set while refreshing it fails."""

    vault: str
    name: str
    version: str
    fetched_at: float
    fetched_mono: float
    body_prefix: bytes = field(repr=False)
    stale: bool = False

    def age(self, now_mono: float) -> float:
        return max(now_mono - self.fetched_mono, 0.0)

    def render(self, tenths: int, stale: bool) -> bytes:
        """The JSON body for one response: the prebuilt part plus age (from ``age_tenths``) and
        staleness."""
        tail = b',"stale":true}' if stale else b',"stale":false}'
        age = f"{tenths // 10}.{tenths % 10}".encode()
        return self.body_prefix + b',"age_seconds":' + age + tail


def age_tenths(age: float) -> int:
    """An age as callers see it, in whole tenths of a second, truncated: the one rounding rule
    of every response (body and Age header) on every path."""
    return int(max(age, 0.0) * 10)


def make_entry(vault: str, secret: SecretData, fetched_at: float, fetched_mono: float) -> Entry:
    """Serialise a fetched secret once, leaving the body open for the per-request fields."""
    document = {
        "vault": vault,
        "name": secret.name,
        "value": secret.value,
        "version": secret.version,
        "content_type": secret.content_type,
        "tags": secret.tags or {},
        "enabled": secret.enabled,
        "not_before": iso_time(secret.not_before),
        "expires_on": iso_time(secret.expires_on),
        "updated_on": iso_time(secret.updated_on),
        "fetched_at": iso_time(fetched_at),
    }
    prefix = json.dumps(document, separators=(",", ":"), ensure_ascii=False)[:-1].encode()
    return Entry(vault, secret.name, secret.version, fetched_at, fetched_mono, prefix)


class Store:
    """Latest versions keyed by (vault, name); pinned versions in a bounded map."""

    def __init__(self, max_versions: int = 1024) -> None:
        self._latest: dict[Key, Entry] = {}
        self._versions: BoundedMap[VersionKey, Entry] | None = (
            BoundedMap(max_versions) if max_versions > 0 else None
        )

    def get(self, key: Key) -> Entry | None:
        return self._latest.get(key)

    def put(self, entry: Entry) -> None:
        self._latest[(entry.vault.lower(), entry.name.lower())] = entry

    def mark_stale(self, key: Key) -> None:
        entry = self._latest.get(key)
        if entry is not None and not entry.stale:
            self._latest[key] = dataclasses.replace(entry, stale=True)

    def remove(self, key: Key) -> None:
        self._latest.pop(key, None)

    def get_version(self, key: VersionKey) -> Entry | None:
        return None if self._versions is None else self._versions.get(key)

    def put_version(self, entry: Entry) -> None:
        if self._versions is not None:
            key = (entry.vault.lower(), entry.name.lower(), entry.version.lower())
            self._versions[key] = entry

    def entries(self) -> list[Entry]:
        """The latest entry of every secret (a snapshot, for status and metrics)."""
        return list(self._latest.values())
