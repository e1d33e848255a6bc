"""The ASGI application: FastAPI for the routes and the schema, the fast path in front of it."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ._exceptions import ApiError
from ._fastpath import FastPath
from ._reads import error_body
from ._routes import build_router
from ._service import Sidecar

__all__ = ["create_app"]

_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed"}
_HTTP_MESSAGES = {
    404: "No such route; the API is under /v1 (see /docs), plus /healthz and /readyz.",
    405: "This route does not take that method; see /docs.",
}


def create_app(sidecar: Sidecar) -> FastPath:
    """The app serving ``sidecar``; its lifespan starts and stops the sidecar."""
    api = FastAPI(
        title="akv-sidecar",
        summary="Azure Key Vault secrets for Spark drivers, cached on loopback.",
        version="0.1.0",
        lifespan=sidecar.lifespan,
    )
    api.include_router(build_router(sidecar.reads, sidecar.cache, sidecar.config.limits.max_batch))
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    return FastPath(api, sidecar.reads, sidecar.config.limits.max_body_bytes)


def _json_error(error: ApiError) -> Response:
    return Response(
        json.dumps(error_body(error)),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


async def _api_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return _json_error(error)


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = _HTTP_CODES.get(error.status_code, "HTTPError")
    message = _HTTP_MESSAGES.get(error.status_code, str(error.detail))
    return _json_error(ApiError(error.status_code, code, message, error.headers))


async def _validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return _json_error(ApiError(400, "MalformedBody", "The request body is not valid JSON."))
    # Location and reason only: echoing the input could echo whatever the caller sent.
    where = "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', 'invalid')}"
        for problem in problems[:5]
    )
    return _json_error(
        ApiError(422, "InvalidRequest", f"The request does not match the API schema ({where}).")
    )
