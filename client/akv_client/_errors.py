"""Where the sidecar's errors become `SidecarError`s: network exceptions from httpcore and the
sidecar's JSON error bodies (`{"error": {"code", "message"}}`), whole responses or batch items.

Azure SDK errors, met only by the optional direct fallback, are translated in `_fallback`, which
alone imports the SDK (the base install has httpx only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpcore

from ._exceptions import (
    Forbidden,
    InvalidRequest,
    RateLimited,
    SecretNotFound,
    SidecarError,
    SidecarTimeout,
    SidecarUnavailable,
    Unauthorized,
    UpstreamError,
)

__all__ = ["RETRY_STATUSES", "from_error_body", "from_network_error", "from_status"]

RETRY_STATUSES = frozenset({502, 503, 504})

_BY_STATUS: Mapping[int, type[SidecarError]] = {
    400: InvalidRequest,
    422: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: SecretNotFound,
    429: RateLimited,
    502: UpstreamError,
    503: SidecarUnavailable,
    504: SidecarTimeout,
}

# Batch items carry a code but no status of their own.
_STATUS_BY_CODE: Mapping[str, int] = {
    "InvalidName": 400,
    "MalformedBody": 400,
    "InvalidRequest": 422,
    "Unauthenticated": 401,
    "Forbidden": 403,
    "VaultNotConfigured": 404,
    "SecretNotFound": 404,
    "SecretDisabled": 404,
    "TooManyRequests": 429,
    "CallerOverBudget": 429,
    "UpstreamError": 502,
    "NotReady": 503,
    "Unavailable": 503,
    "UpstreamTimeout": 504,
}


def from_status(
    status: int, body: Any, vault: str | None, name: str | None, *, subject: str | None = None
) -> SidecarError:
    """An error response of the sidecar, as the matching exception."""
    code, message = _code_and_message(body)
    cls = _BY_STATUS.get(status, SidecarError)
    detail = f"HTTP {status} {code}: {message}" if code else f"HTTP {status}"
    return cls(vault, name, detail=detail, code=code, status=status, subject=subject)


def from_error_body(error: Any, vault: str | None, name: str | None) -> SidecarError:
    """One failed item of a batch answer (`{"vault", "name", "error": {...}}`)."""
    code, message = _code_and_message({"error": error})
    status = _STATUS_BY_CODE.get(code or "")
    cls = _BY_STATUS.get(status, SidecarError) if status else SidecarError
    return cls(vault, name, detail=f"{code or 'error'}: {message}", code=code, status=status)


def from_network_error(
    exc: Exception,
    url: str,
    timeout: float,
    vault: str | None,
    name: str | None,
    *,
    subject: str | None = None,
) -> SidecarError:
    """A connection-level failure: timeouts become SidecarTimeout, the rest SidecarUnavailable."""
    if isinstance(exc, httpcore.TimeoutException):
        detail = f"no answer from {url} within {timeout:g}s"
        return SidecarTimeout(vault, name, detail=detail, subject=subject)
    detail = f"cannot reach {url}: {type(exc).__name__}"
    return SidecarUnavailable(vault, name, detail=detail, subject=subject)


def _code_and_message(body: Any) -> tuple[str | None, str]:
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, "no error details"
    return str(error.get("code") or "") or None, str(error.get("message") or "")
