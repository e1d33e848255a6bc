"""What a vending request may ask for: names, paths, permissions and lifetimes checked against
Azure's rules and the account's settings before anything is signed.

Each check returns the normalised value or raises ``Invalid`` with a code and a message for the
caller; messages quote at most a clipped name, never anything the caller sent beyond it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from akv_sidecar.config.fields import SAS_PERMISSIONS, duration, sas_order
from akv_sidecar.config.fields import Invalid as BadValue

__all__ = [
    "CONTAINER",
    "Invalid",
    "blob_endpoint",
    "container_name",
    "directory_path",
    "lifetime",
    "loopback_http",
    "permissions",
]

# Azure's container rule: 3-63 lowercase letters, digits and single hyphens, starting and ending
# with a letter or digit (so no "--", which the lookahead refuses).
CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
_MAX_PATH = 1024  # characters, as for a blob name
_MAX_SEGMENTS = 254  # a blob name's path segments
_HNS_ONLY = "op"  # manage ownership and ACLs exist only with a hierarchical namespace


class Invalid(ValueError):
    """A request the sidecar will not sign: ``code`` and ``message`` are what the caller sees."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def container_name(name: str) -> str:
    if not CONTAINER.match(name):
        raise Invalid(
            "InvalidName",
            f"'{name[:64]}' is not a container name: use 3-63 lowercase letters, digits and "
            "single hyphens, starting and ending with a letter or digit.",
        )
    return name


def directory_path(path: str | None, *, hns: bool, account: str) -> str | None:
    """The directory a SAS is narrowed to ("a/b", no slashes around), or None for the container."""
    if path is None or path.strip("/") == "":
        return None
    if not hns:
        raise Invalid(
            "PathNeedsHns",
            f"Account '{account}' has no hierarchical namespace (hns: false), and a blob "
            "container SAS cannot be narrowed to a path: omit 'path', or set hns: true for an "
            "ADLS Gen2 account.",
        )
    trimmed = path.strip("/")
    segments = trimmed.split("/")
    if (
        len(trimmed) > _MAX_PATH
        or len(segments) > _MAX_SEGMENTS
        or any(segment in ("", ".", "..") for segment in segments)
        or not trimmed.isprintable()
        or "\\" in trimmed
    ):
        raise Invalid(
            "InvalidName",
            "'path' must be a directory such as 'tables/orders': up to 1024 printable "
            "characters in segments separated by single slashes, none of them '.' or '..'.",
        )
    return trimmed


def permissions(letters: str, *, hns: bool, account: str) -> str:
    """``letters`` as a SAS permission string in Azure's order ("lr" becomes "rl")."""
    wanted = set(letters)
    if not letters or wanted - set(SAS_PERMISSIONS):
        raise Invalid(
            "InvalidPermissions",
            f"'permissions' takes letters from '{SAS_PERMISSIONS}' (read, add, create, write, "
            "delete, list, move, execute, ownership, permissions), such as 'rl'.",
        )
    if not hns and wanted & set(_HNS_ONLY):
        raise Invalid(
            "InvalidPermissions",
            f"Permissions 'o' and 'p' need a hierarchical namespace; account '{account}' is "
            "configured with hns: false.",
        )
    return sas_order(letters)


def lifetime(ttl: Any, max_ttl: float, account: str) -> float:
    """Seconds the SAS lives: ``ttl`` (seconds, or "30m"), at most the account's max_ttl; None
    gives max_ttl."""
    if ttl is None:
        return max_ttl
    try:
        return float(duration(1, max_ttl)(ttl))
    except BadValue:
        raise Invalid(
            "InvalidTtl",
            f"'ttl' must be a duration from 1 s up to account '{account}''s max_ttl "
            f"({max_ttl:g} s), as seconds or such as '30m'.",
        ) from None


def blob_endpoint(account: str, endpoint: str | None) -> str:
    return (endpoint or f"https://{account}.blob.core.windows.net").rstrip("/")


def loopback_http(endpoint: str | None) -> bool:
    """Whether ``endpoint`` is plain http:// to this machine (Azurite): the one case in which a
    SAS may also be used over HTTP."""
    if endpoint is None:
        return False
    parts = urlsplit(endpoint)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False
