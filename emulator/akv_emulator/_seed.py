"""Seed secrets from YAML: ``secrets: {name: value | {value, content_type, ...}}``, or per vault
``{<vault>: {secrets: {...}}}`` when the emulator serves several vaults."""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._exceptions import KeyVaultError, SeedError
from ._store import check_name

SeedSource = Mapping[str, Any] | str | os.PathLike[str] | None
_SECRET_KEYS = frozenset({"value", "content_type", "enabled", "tags", "exp", "nbf"})
_SCALARS = (str, int, float)


@dataclass(frozen=True)
class SeedSecret:
    """One secret to create at start."""

    name: str
    value: str = field(repr=False)
    content_type: str | None = None
    enabled: bool = True
    tags: Mapping[str, str] | None = None
    exp: int | None = None
    nbf: int | None = None


def _fail(origin: str, key: str, problem: str) -> SeedError:
    return SeedError(f"{origin}: key {key!r}: {problem}")


def _timestamp(origin: str, key: str, raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, datetime.datetime):
        aware = raw if raw.tzinfo else raw.replace(tzinfo=datetime.timezone.utc)
        return int(aware.timestamp())
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise _fail(origin, key, "expected Unix seconds or an ISO 8601 timestamp")


def _secret(origin: str, path: str, name: str, raw: Any) -> SeedSecret:
    where = f"{path}.{name}"
    try:
        check_name(str(name))
    except KeyVaultError as exc:
        raise _fail(origin, where, exc.message) from exc
    spec = raw if isinstance(raw, Mapping) else {"value": raw}
    unknown = sorted(set(spec) - _SECRET_KEYS)
    if unknown:
        allowed = sorted(_SECRET_KEYS)
        raise _fail(origin, f"{where}.{unknown[0]}", f"unknown key; allowed: {allowed}")
    value = spec.get("value")
    if isinstance(value, bool) or not isinstance(value, _SCALARS):
        raise _fail(origin, f"{where}.value", "a secret needs a string value")
    tags = spec.get("tags")
    if tags is not None and not (
        isinstance(tags, Mapping) and all(isinstance(v, str) for v in tags.values())
    ):
        raise _fail(origin, f"{where}.tags", "expected a mapping of strings")
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(origin, f"{where}.enabled", "expected true or false")
    content_type = spec.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise _fail(origin, f"{where}.content_type", "expected a string")
    return SeedSecret(
        name=str(name),
        value=str(value),
        content_type=content_type,
        enabled=enabled,
        tags={str(k): v for k, v in tags.items()} if tags is not None else None,
        exp=_timestamp(origin, f"{where}.exp", spec.get("exp")),
        nbf=_timestamp(origin, f"{where}.nbf", spec.get("nbf")),
    )


def _vault_section(origin: str, path: str, raw: Any) -> list[SeedSecret]:
    if not isinstance(raw, Mapping):
        raise _fail(origin, path, "expected a mapping with a 'secrets' key")
    unknown = sorted(set(raw) - {"secrets"})
    if unknown:
        raise _fail(origin, f"{path}.{unknown[0]}" if path else unknown[0], "unknown key")
    secrets = raw.get("secrets") or {}
    if not isinstance(secrets, Mapping):
        raise _fail(origin, f"{path}.secrets".lstrip("."), "expected a mapping of name to value")
    prefix = f"{path}.secrets".lstrip(".")
    return [_secret(origin, prefix, name, spec) for name, spec in secrets.items()]


def load_seed(source: SeedSource, vaults: Sequence[str]) -> dict[str, list[SeedSecret]]:
    """Secrets to create per vault; a bare ``secrets:`` section seeds the first vault."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        origin, document = "<seed mapping>", source
    else:
        origin = os.fspath(source)
        try:
            document = yaml.safe_load(Path(origin).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise SeedError(f"{origin}: cannot read seed file: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            # The parser's message quotes the offending line, which may hold a secret value.
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise SeedError(f"{origin}: not valid YAML{where}") from None
    if not isinstance(document, Mapping):
        raise SeedError(f"{origin}: expected a mapping at the top level")
    if "secrets" in document and "secrets" not in vaults:
        return {vaults[0]: _vault_section(origin, "", document)}
    seeded: dict[str, list[SeedSecret]] = {}
    for vault, section in document.items():
        if vault not in vaults:
            expected = f"unknown key; expected 'secrets' or a vault of {list(vaults)}"
            raise _fail(origin, str(vault), expected)
        seeded[vault] = _vault_section(origin, str(vault), section)
    return seeded
