"""What each vault's TLS connections trust: the system's CAs plus the vault's ca_file, reloaded.

A private endpoint's certificate can be rotated to a new CA while the sidecar runs. Each ca_file's
identity (inode, size, modification time) is remembered when it is loaded; ``changed`` loads the
files that no longer match into fresh contexts (a context only ever adds CAs, so reusing one would
keep trusting the old CA). A file that does not load (caught half-written, not PEM) is reported
and tried again next time; the vault keeps trusting what it trusted.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Iterable

from akv_sidecar.config.schema import VaultConfig

__all__ = ["TrustFiles", "trust_context"]

log = logging.getLogger("akv_sidecar")

Signature = tuple[int, int, int] | None  # (inode, size, mtime_ns), None when missing


def trust_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context trusting the system's CAs and, if given, the CAs in ``ca_file``."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


def _signature(path: str) -> Signature:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)


class TrustFiles:
    """The ca_file of each vault that has one, and how it looked when it was last loaded."""

    def __init__(self, vaults: Iterable[VaultConfig]) -> None:
        self._files = {vault.name.lower(): vault.ca_file for vault in vaults if vault.ca_file}
        self._seen: dict[str, Signature] = {}

    def load(self, vault: VaultConfig) -> ssl.SSLContext:
        """The vault's context at start (a ca_file that does not load fails the start)."""
        key = vault.name.lower()
        if key in self._files:
            self._seen[key] = _signature(self._files[key])
        return trust_context(vault.ca_file)

    def changed(self) -> dict[str, ssl.SSLContext]:
        """Fresh contexts, by lower-cased vault name, for every ca_file replaced since loaded."""
        fresh: dict[str, ssl.SSLContext] = {}
        for key, path in self._files.items():
            current = _signature(path)
            if key not in self._seen or current == self._seen[key]:
                continue
            try:
                fresh[key] = trust_context(path)
            except (OSError, ssl.SSLError) as error:
                log.error(
                    "vault %s: ca_file %s did not load (%s); it still trusts the previous CA",
                    key,
                    path,
                    type(error).__name__,
                )
                continue
            self._seen[key] = current
        return fresh
