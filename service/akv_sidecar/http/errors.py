"""What a caller is told when Key Vault fails: the one mapping from outcomes to ApiErrors.

Messages name the vault and secret and say what to do next; none carries a secret or a body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from akv_sidecar.core.errors import SidecarError
from akv_sidecar.keyvault.outcomes import Failed, Failure

__all__ = ["ApiError", "failure_error", "too_stale_error"]


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


def too_stale_error(vault: str, name: str, max_stale: float) -> ApiError:
    return ApiError(
        503,
        "Unavailable",
        f"Secret '{vault}/{name}' could not be refreshed for longer than cache.max_stale "
        f"({max_stale:g} s) and Key Vault is still failing; check the sidecar's log and retry.",
    )


def failure_error(vault: str, name: str, failed: Failed) -> ApiError:
    """The one mapping from an upstream failure to what the caller is told."""
    target = f"'{vault}/{name}'"
    kind = failed.kind
    if kind is Failure.NOT_FOUND:
        return ApiError(
            404,
            "SecretNotFound",
            f"Secret {target} does not exist in Key Vault; check the vault and secret names.",
        )
    if kind is Failure.DISABLED:
        return ApiError(
            404,
            "SecretDisabled",
            f"Secret {target} is disabled in Key Vault; enable it or use another.",
        )
    if kind is Failure.THROTTLED:
        seconds = math.ceil(failed.retry_after or 1)
        return ApiError(
            503,
            "Unavailable",
            f"Key Vault is throttling the sidecar for {target}; retry after {seconds} s.",
            {"Retry-After": str(seconds)},
        )
    if kind is Failure.TIMEOUT:
        return ApiError(
            504,
            "UpstreamTimeout",
            f"Key Vault did not answer for {target}: {failed.detail}; retry.",
        )
    if kind is Failure.UNTRUSTED:
        return ApiError(
            502,
            "UpstreamError",
            f"The sidecar could not reach Key Vault for {target}: {failed.detail}.",
        )
    if kind is Failure.FORBIDDEN:
        return ApiError(
            502,
            "UpstreamError",
            f"Key Vault refused the sidecar's identity for {target} ({failed.detail}); grant it "
            "permission to get secrets.",
        )
    return ApiError(
        502, "UpstreamError", f"Key Vault failed for {target} ({failed.detail}); retry shortly."
    )
