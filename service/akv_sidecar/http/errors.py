"""What a caller is told: ApiError, and the one place outcomes become HTTP answers.

Lower layers report failures as values: Key Vault's ``Failed`` (``keyvault.outcomes``) and the
cache's ``Declined`` (``cache.outcomes``). ``unserved_error`` maps both; the exception handlers map
what Starlette and FastAPI raise (no route, bad method, a body that does not parse). Messages name
the vault and secret and say what to do next; none carries a secret, a body or a caller's input
beyond a clipped name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from akv_sidecar.cache.outcomes import Declined, Refusal, Unserved
from akv_sidecar.config.schema import CacheConfig
from akv_sidecar.core.errors import SidecarError
from akv_sidecar.keyvault.outcomes import Failed, Failure
from akv_sidecar.vending.outcomes import Problem, Refused

# FastAPI is imported where a handler is installed or answers, not here: the fast path, the guard
# and the request checks use ApiError, and serving starts before FastAPI is loaded (http/app.py).
if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

__all__ = ["ApiError", "install_error_handlers", "json_error", "refused_error", "unserved_error"]

# FastAPI raises a bare 400 for a body that is not JSON in a way its JSON check misses (invalid
# UTF-8, nesting too deep for the parser): the same MalformedBody as broken JSON.
_HTTP_CODES = {400: "MalformedBody", 404: "NotFound", 405: "MethodNotAllowed"}
_HTTP_MESSAGES = {
    400: "The request body is not valid JSON (UTF-8, not nested too deeply).",
    404: "No such route; the API is under /v1 (see /docs), plus /healthz and /readyz.",
    405: "This route does not take that method; see /docs.",
}


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


def unserved_error(vault: str, name: str, outcome: Unserved, cache: CacheConfig) -> ApiError:
    """The one mapping from a read the cache did not serve to what the caller is told."""
    if isinstance(outcome, Failed):
        return _failure_error(vault, name, outcome)
    return _declined_error(vault, name, outcome, cache)


def _declined_error(vault: str, name: str, declined: Declined, cache: CacheConfig) -> ApiError:
    target = f"'{vault}/{name}'"
    refusal = declined.refusal
    if refusal is Refusal.TOO_STALE:
        return ApiError(
            503,
            "Unavailable",
            f"Secret {target} could not be refreshed for longer than cache.max_stale "
            f"({cache.max_stale:g} s) and Key Vault is still failing; check the sidecar's log and "
            "retry.",
        )
    if refusal is Refusal.TOO_SOON:
        seconds = math.ceil(declined.retry_after or 1)
        return ApiError(
            429,
            "TooManyRequests",
            f"Secret {target} was refreshed less than {cache.manual_refresh_interval:g} s ago; "
            f"retry after {seconds} s.",
            {"Retry-After": str(seconds)},
        )
    if refusal is Refusal.OVER_BUDGET:
        seconds = math.ceil(declined.retry_after or 1)
        return ApiError(
            429,
            "CallerOverBudget",
            f"Reading {target} needs a Key Vault call, and this caller has used its budget of "
            "Key Vault calls (limits.upstream_rate, limits.upstream_burst); cached secrets are "
            f"still served. Retry after {seconds} s.",
            {"Retry-After": str(seconds)},
        )
    if refusal is Refusal.NOT_LISTED:
        return ApiError(
            404,
            "SecretNotFound",
            f"Secret {target} is not in the sidecar's list for this vault and on-demand reads are "
            "off; add it to the vault's 'secrets' or set cache.on_demand.",
        )
    return ApiError(404, "VaultNotConfigured", f"The sidecar has no vault named '{vault}'.")


def _failure_error(vault: str, name: str, failed: Failed) -> ApiError:
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


def json_error(error: ApiError) -> Response:
    """The JSON error response for a route."""
    from starlette.responses import Response

    return Response(
        json.dumps(error.body()),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


def install_error_handlers(api: FastAPI) -> None:
    """Answer ApiError, Starlette's HTTP errors and FastAPI's validation errors as JSON errors."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)


async def _api_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return json_error(error)


async def _http_error(_: Request, error: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "HTTPError")
    message = _HTTP_MESSAGES.get(error.status_code, str(error.detail))
    return json_error(ApiError(error.status_code, code, message, error.headers))


async def _validation_error(_: Request, error: Exception) -> Response:
    from fastapi.exceptions import RequestValidationError

    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return json_error(ApiError(400, "MalformedBody", "The request body is not valid JSON."))
    # Location and reason only: echoing the input could echo whatever the caller sent.
    where = "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', 'invalid')}"
        for problem in problems[:5]
    )
    return json_error(
        ApiError(422, "InvalidRequest", f"The request does not match the API schema ({where}).")
    )


def refused_error(refused: Refused) -> ApiError:
    """The one mapping from a SAS or token the vending layer could not give to what the caller is
    told (``detail`` names kinds and codes only, never a key or a token)."""
    seconds = math.ceil(refused.retry_after) if refused.retry_after else None
    retry = {"Retry-After": str(seconds)} if seconds else None
    if refused.problem is Problem.KEY_UNAVAILABLE:
        return ApiError(
            503,
            "KeyUnavailable",
            f"No SAS can be signed now: {refused.detail}; the sidecar keeps refreshing the key, "
            "retry shortly.",
            retry,
        )
    if refused.problem is Problem.KEY_INVALID:
        return ApiError(
            502, "KeyInvalid", f"No SAS can be signed: {refused.detail}; store the account key."
        )
    if refused.problem is Problem.TOKEN_TIMEOUT:
        return ApiError(504, "UpstreamTimeout", f"No access token: {refused.detail}; retry.")
    return ApiError(
        502,
        "TokenUnavailable",
        f"No access token: {refused.detail}; check the sidecar's credential and its log.",
        retry,
    )
