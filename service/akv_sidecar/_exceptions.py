"""The service's exceptions.

SidecarError                 base of everything this package raises on purpose
 ├── ConfigError             a bad setting; the message names the key and the file or env var
 └── ApiError                an HTTP error for a caller: status, code, message, extra headers
      (answered as {"error": {"code", "message"}} by the app; never carries a secret)
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ApiError", "ConfigError", "SidecarError"]


class SidecarError(Exception):
    """Base class of the sidecar's own errors."""


class ConfigError(SidecarError):
    """The configuration cannot be used; the message says which key, where, and what is allowed."""


class ApiError(SidecarError):
    """An error answered to an HTTP caller as ``{"error": {"code", "message"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON error document every route and listener answers with."""
        return {"error": {"code": self.code, "message": self.message}}
