"""The secrets of one vault: versions, soft delete, case-insensitive names, paging."""

from __future__ import annotations

import bisect
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._exceptions import KeyVaultError, bad_parameter, secret_not_found

_NAME = re.compile(r"[0-9a-zA-Z-]{1,127}")
RECOVERABLE_DAYS = 90
_UPDATABLE = frozenset({"content_type", "enabled", "nbf", "exp", "tags"})
_T = TypeVar("_T")


def check_name(name: str) -> str:
    """Return name if Key Vault accepts it as a secret name, else raise 400 BadParameter."""
    if not _NAME.fullmatch(name):
        raise bad_parameter(
            f"The request URI contains an invalid name: {name[:130]}. Secret names may only "
            "contain alphanumeric characters and dashes and must be 1-127 characters long."
        )
    return name


@dataclass
class SecretVersion:
    """One version of a secret with its attributes; times are Unix seconds."""

    name: str
    version: str
    value: str = field(repr=False)
    created: int
    updated: int
    content_type: str | None = None
    enabled: bool = True
    nbf: int | None = None
    exp: int | None = None
    tags: dict[str, str] | None = None


@dataclass
class Secret:
    """A secret's versions in creation order (the latest is last)."""

    name: str
    versions: list[SecretVersion] = field(default_factory=list)

    @property
    def latest(self) -> SecretVersion:
        return self.versions[-1]

    def version(self, version: str) -> SecretVersion:
        for candidate in self.versions:
            if candidate.version == version.lower():
                return candidate
        raise secret_not_found(self.name, version)


@dataclass
class DeletedSecret:
    """A soft-deleted secret awaiting purge or recovery."""

    secret: Secret
    deleted_date: int
    scheduled_purge_date: int


@dataclass(frozen=True)
class Page(Generic[_T]):
    """A page of results and the key to continue after, or None on the last page."""

    items: list[_T]
    next_after: str | None


def _page(items: Sequence[_T], keys: Sequence[str], start: int, limit: int) -> Page[_T]:
    more = start + limit < len(items)
    return Page(list(items[start : start + limit]), keys[start + limit - 1] if more else None)


def _after_sorted(keys: Sequence[str], after: str | None) -> int:
    # A marker that vanished meanwhile still places the walk correctly among sorted names.
    return 0 if after is None else bisect.bisect_right(keys, after)


class VaultStore:
    """The secrets of one vault. Not thread-safe: the emulator touches it from its loop only."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._secrets: dict[str, Secret] = {}
        self._deleted: dict[str, DeletedSecret] = {}

    def _now(self) -> int:
        return int(self._clock())

    def _secret(self, name: str) -> Secret:
        secret = self._secrets.get(check_name(name).lower())
        if secret is None:
            raise secret_not_found(name)
        return secret

    def set(
        self,
        name: str,
        value: str,
        *,
        content_type: str | None = None,
        enabled: bool = True,
        tags: Mapping[str, str] | None = None,
        exp: int | None = None,
        nbf: int | None = None,
    ) -> SecretVersion:
        """Add a new version, creating the secret if needed."""
        key = check_name(name).lower()
        if key in self._deleted:
            raise KeyVaultError(
                409,
                "Conflict",
                f"Secret {name} is currently in a deleted but recoverable state, and its name "
                "cannot be reused; in this state, the secret can only be recovered or purged.",
            )
        secret = self._secrets.setdefault(key, Secret(name))
        now = self._now()
        version = SecretVersion(
            secret.name, uuid.uuid4().hex, value, now, now, content_type, enabled, nbf, exp,
            dict(tags) if tags is not None else None,
        )  # fmt: skip
        secret.versions.append(version)
        return version

    def get(self, name: str, version: str | None = None) -> SecretVersion:
        """The latest or the given version; 403 if that version is disabled."""
        found = self.peek(name, version)
        if not found.enabled:
            raise KeyVaultError(
                403,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
                "SecretDisabled",
            )
        return found

    def peek(self, name: str, version: str | None = None) -> SecretVersion:
        """Like get, but also returns disabled versions (for properties, not values)."""
        secret = self._secret(name)
        return secret.version(version) if version else secret.latest

    def update(self, name: str, version: str | None, changes: Mapping[str, Any]) -> SecretVersion:
        """Change a version's content type, enabled flag, nbf, exp or tags."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise bad_parameter(f"Cannot update {sorted(unknown)}")
        target = self.peek(name, version)
        for attribute, new in changes.items():
            setattr(target, attribute, new)
        target.updated = self._now()
        return target

    def page_latest(self, after: str | None, limit: int) -> Page[SecretVersion]:
        """Latest versions of all secrets ordered by lower-cased name."""
        keys = sorted(self._secrets)
        items = [self._secrets[k].latest for k in keys]
        return _page(items, keys, _after_sorted(keys, after), limit)

    def page_versions(self, name: str, after: str | None, limit: int) -> Page[SecretVersion]:
        """All versions of one secret in creation order."""
        versions = self._secret(name).versions
        keys = [v.version for v in versions]
        start = keys.index(after) + 1 if after in keys else 0
        return _page(versions, keys, start, limit)

    def delete(self, name: str) -> DeletedSecret:
        """Soft-delete a secret: it disappears from get and list until recovered."""
        secret = self._secret(name)
        del self._secrets[name.lower()]
        now = self._now()
        deleted = DeletedSecret(secret, now, now + RECOVERABLE_DAYS * 86400)
        self._deleted[name.lower()] = deleted
        return deleted

    def get_deleted(self, name: str) -> DeletedSecret:
        deleted = self._deleted.get(check_name(name).lower())
        if deleted is None:
            raise secret_not_found(name)
        return deleted

    def page_deleted(self, after: str | None, limit: int) -> Page[DeletedSecret]:
        keys = sorted(self._deleted)
        items = [self._deleted[k] for k in keys]
        return _page(items, keys, _after_sorted(keys, after), limit)

    def purge(self, name: str) -> None:
        """Forget a deleted secret for good."""
        self.get_deleted(name)
        del self._deleted[name.lower()]

    def recover(self, name: str) -> SecretVersion:
        """Bring a deleted secret back with all its versions."""
        deleted = self.get_deleted(name)
        del self._deleted[name.lower()]
        self._secrets[name.lower()] = deleted.secret
        return deleted.secret.latest
