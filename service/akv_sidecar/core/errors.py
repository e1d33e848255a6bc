"""The service's exceptions.

SidecarError                 base of everything this package raises on purpose
 ├── ConfigError             a bad setting; the message names the key and the file or env var
 └── ApiError                (akv_sidecar.http.errors) what an HTTP caller is told: status, code,
                             message, extra headers; answered as {"error": {"code", "message"}},
                             never carrying a secret. Only the http layer knows it.

Lower layers report failures as values (akv_sidecar.keyvault.outcomes, akv_sidecar.cache.outcomes),
and http.errors maps each of them to an ApiError in one place.
"""

from __future__ import annotations

__all__ = ["ConfigError", "SidecarError"]


class SidecarError(Exception):
    """Base class of the sidecar's own errors."""


class ConfigError(SidecarError):
    """The configuration cannot be used; the message says which key, where, and what is allowed."""
