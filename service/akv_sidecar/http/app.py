"""The ASGI application: the fast path for cache hits, then the request guard (limits, request
counts), then FastAPI for the routes and the schema; and the metrics listener's app."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from akv_sidecar.cache.cache import SecretCache
from akv_sidecar.config.schema import Config
from akv_sidecar.core.version import __version__
from akv_sidecar.http.errors import ApiError, install_error_handlers
from akv_sidecar.http.fastpath import FastPath
from akv_sidecar.http.guard import RequestGuard, RouteNames
from akv_sidecar.http.opsroutes import build_ops_router
from akv_sidecar.http.reads import Reads
from akv_sidecar.http.routes import build_router
from akv_sidecar.http.vending import Vending, build_vending_router
from akv_sidecar.ops.events import EventGridReceiver
from akv_sidecar.ops.metrics import METRICS_CONTENT_TYPE, Metrics, MetricsExporter
from akv_sidecar.ops.status import StatusBoard

__all__ = ["create_app", "create_metrics_app"]


class Served(Protocol):
    """What the app serves: one sidecar's parts (``akv_sidecar.server.sidecar.Sidecar``)."""

    config: Config
    reads: Reads
    cache: SecretCache
    status: StatusBoard
    metrics: Metrics
    exporter: MetricsExporter
    events: EventGridReceiver | None
    vending: Vending

    def lifespan(self, app: Any) -> AbstractAsyncContextManager[None]: ...


def create_app(sidecar: Served, *, open_connections: Callable[[], int] | None = None) -> FastPath:
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
        # No redirect for a trailing slash: Starlette builds its Location from the Host header,
        # which any caller chooses (an open redirect); such a path is simply not found.
        redirect_slashes=False,
    )
    api.include_router(build_router(sidecar.reads, sidecar.cache, config.limits.max_batch))
    api.include_router(build_vending_router(sidecar.vending))
    metrics_here = config.metrics.enabled and config.metrics.port is None
    api.include_router(
        build_ops_router(
            authenticate=sidecar.reads.caller,
            shows=sidecar.reads.shows,
            board=sidecar.status,
            entries=sidecar.cache.store.entries,
            ready=lambda: sidecar.cache.ready,
            exporter=sidecar.exporter if metrics_here else None,
            metrics_token=config.metrics.require_token,
            receiver=sidecar.events,
        )
    )
    install_error_handlers(api)
    routes = RouteNames([*api.openapi()["paths"], *_paths(api.routes)])
    guard = RequestGuard(api, config.limits, sidecar.metrics, routes, open_connections)
    return FastPath(guard, sidecar.reads, sidecar.metrics)


def _paths(routes: list[BaseRoute]) -> list[str]:
    """Paths of the app's own routes (/docs, /openapi.json); included routers show in the schema."""
    return [path for route in routes if isinstance(path := getattr(route, "path", None), str)]


def create_metrics_app(sidecar: Served) -> ASGIApp:
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
