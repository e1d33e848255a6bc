"""What a caller is told when Key Vault fails: the one mapping from outcomes to ApiErrors.

Messages name the vault and secret and say what to do next; none carries a secret or a body.
"""

from __future__ import annotations

import math

from ._exceptions import ApiError
from ._upstream import Failed, Failure

__all__ = ["failure_error", "too_stale_error"]


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
