"""A throwaway test CA and loopback server certificate per label, for the TLS listener tests.

The emulator's own generator makes them (a fresh CA each call), so there is one way to mint test
certificates in the repository.
"""

from __future__ import annotations

from pathlib import Path

from akv_emulator._tls import TlsFiles, write_certificates

Pki = TlsFiles  # ca_file, cert_file, key_file


def make_pki(folder: Path, label: str) -> Pki:
    """A new CA and a server certificate it signed for localhost, 127.0.0.1 and ::1."""
    return write_certificates(folder / f"pki-{label}")
