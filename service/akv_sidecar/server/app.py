"""The ASGI application: the fast path for cache hits, then the request guard (limits, request
counts), then FastAPI for the routes and the schema."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from akv_sidecar.core.version import __version__
from akv_sidecar.http.errors import ApiError
from akv_sidecar.http.fastpath import FastPath
from akv_sidecar.http.guard import RequestGuard, RouteNames
from akv_sidecar.http.opsroutes import build_ops_router
from akv_sidecar.http.routes import build_router
from akv_sidecar.ops.metrics import METRICS_CONTENT_TYPE
from akv_sidecar.server.sidecar import Sidecar

__all__ = ["create_app", "create_metrics_app"]

_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed"}
_HTTP_MESSAGES = {
    404: "No such route; the API is under /v1 (see /docs), plus /healthz and /readyz.",
    405: "This route does not take that method; see /docs.",
}


def create_app(sidecar: Sidecar, *, open_connections: Callable[[], int] | None = None) -> FastPath:
    """The app serving ``sidecar``; its lifespan starts and stops the sidecar.

    ``open_connections`` counts the server's open connections, for limits.max_connections.
    ``.app`` is the request guard, ``.app.app`` the FastAPI instance.
    """
    config = sidecar.config
    api = FastAPI(
        title="akv-sidecar",
        summary="Azure Key Vault secrets for Spark drivers, cached on loopback.",
        version=__version__,
        lifespan=sidecar.lifespan,
    )
    api.include_router(build_router(sidecar.reads, sidecar.cache, config.limits.max_batch))
    metrics_here = config.metrics.enabled and config.metrics.port is None
    api.include_router(
        build_ops_router(
            authenticate=sidecar.reads.caller,
            board=sidecar.status,
            entries=sidecar.cache.store.entries,
            ready=lambda: sidecar.cache.ready,
            exporter=sidecar.exporter if metrics_here else None,
            metrics_token=config.metrics.require_token,
            receiver=sidecar.events,
        )
    )
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    routes = RouteNames([*api.openapi()["paths"], *_paths(api.routes)])
    guard = RequestGuard(api, config.limits, sidecar.metrics, routes, open_connections)
    return FastPath(guard, sidecar.reads, sidecar.metrics)


def _paths(routes: list[BaseRoute]) -> list[str]:
    """Paths of the app's own routes (/docs, /openapi.json); included routers show in the schema."""
    return [path for route in routes if isinstance(path := getattr(route, "path", None), str)]


def create_metrics_app(sidecar: Sidecar) -> ASGIApp:
    """The app of the separate metrics listener (metrics.port): GET /metrics and nothing else."""
    not_found = json.dumps(
        ApiError(404, "NotFound", "This port serves GET /metrics only.").body()
    ).encode()

    async def metrics_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics" and scope["method"] == "GET":
            status, body, media = 200, sidecar.exporter.render(), METRICS_CONTENT_TYPE
        else:
            status, body, media = 404, not_found, "application/json"
        headers = [(b"content-type", media.encode()), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return metrics_app


def _json_error(error: ApiError) -> Response:
    return Response(
        json.dumps(error.body()),
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
