"""What each vault's TLS connections trust: the system's CAs plus the vault's ca_file, reloaded.

A private endpoint's certificate can be rotated to a new CA while the sidecar runs. Each ca_file's
identity (inode, size, modification time) is remembered when it is loaded; ``changed`` loads the
files that no longer match into fresh contexts (a context only ever adds CAs, so reusing one would
keep trusting the old CA). A file that does not load (caught half-written, not PEM) is reported
once and tried again when it changes; the vault keeps trusting what it trusted.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable

from akv_sidecar.config.schema import VaultConfig
from akv_sidecar.core.files import Signature, file_signature

__all__ = ["TrustFiles", "trust_context"]

log = logging.getLogger("akv_sidecar")


def trust_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context trusting the system's CAs and, if given, the CAs in ``ca_file``."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


class TrustFiles:
    """The ca_file of each vault that has one, and how it looked when it was last loaded."""

    def __init__(self, vaults: Iterable[VaultConfig]) -> None:
        self._files = {vault.name.lower(): vault.ca_file for vault in vaults if vault.ca_file}
        self._seen: dict[str, Signature] = {}
        self._failed: dict[str, Signature] = {}  # the version of a file that did not load

    def load(self, vault: VaultConfig) -> ssl.SSLContext | None:
        """The vault's context at start (a ca_file that does not load fails the start); None for
        a vault without a ca_file: the system's CAs alone, aiohttp's own verified context, which
        it built at import (building another costs ~50 ms of start and ~0.8 MiB)."""
        key = vault.name.lower()
        if key not in self._files:
            return None
        self._seen[key] = file_signature(self._files[key])
        return trust_context(vault.ca_file)

    def changed(self) -> dict[str, ssl.SSLContext]:
        """Fresh contexts, by lower-cased vault name, for every ca_file replaced since loaded."""
        fresh: dict[str, ssl.SSLContext] = {}
        for key, path in self._files.items():
            current = file_signature(path)
            if key not in self._seen or current in (self._seen[key], self._failed.get(key)):
                continue
            try:
                fresh[key] = trust_context(path)
            except (OSError, ssl.SSLError) as error:
                self._failed[key] = current  # said once per version of the file, not per look
                log.error(
                    "vault %s: ca_file %s did not load (%s); it still trusts the previous CA",
                    key,
                    path,
                    type(error).__name__,
                )
                continue
            self._seen[key] = current
        return fresh
