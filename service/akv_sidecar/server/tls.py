"""The TLS listener's certificate: one server context, reloaded in place on SIGHUP.

uvicorn wraps every accepted connection with the context it was given at start. Keeping that same
`ssl.SSLContext` and calling `load_cert_chain()` on it again makes every new handshake present the
new certificate, with no restart and no dropped connection. A reload that fails (a half-written
file, a key that does not match) keeps the certificate already loaded and logs why.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from akv_sidecar.core.errors import ConfigError

__all__ = ["ReloadableTLS"]

logger = logging.getLogger("akv_sidecar.tls")


class ReloadableTLS:
    """A server-side TLS context (TLS 1.2 or newer) over a certificate and key file."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            self._load()
        except OSError as error:  # ssl.SSLError is an OSError
            raise ConfigError(
                f"Cannot load the TLS certificate 'listen.tls.cert_file' ({cert_file}) with its key"
                f" 'listen.tls.key_file' ({key_file}): {_reason(error)}. Check both paths and that"
                " the key belongs to the certificate."
            ) from None

    def _load(self) -> None:
        self.context.load_cert_chain(self.cert_file, self.key_file)

    def reload(self) -> bool:
        """Load the files again; new handshakes use them. False (and a log line) on failure."""
        try:
            self._load()
        except OSError as error:  # ssl.SSLError is an OSError
            logger.error(
                "TLS certificate reload failed; still serving the previous certificate",
                extra={"cert_file": self.cert_file, "reason": _reason(error)},
            )
            return False
        logger.info("TLS certificate reloaded", extra={"cert_file": self.cert_file})
        return True

    def uvicorn_factory(self) -> Callable[[Any, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
        """For `uvicorn.Config(ssl_context_factory=...)`: hand uvicorn this very context."""
        return lambda _config, _default: self.context


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
