"""The ASGI application: the fast path for cache hits, then the request guard (limits, request
counts), then the routes; and the metrics listener's app.

FastAPI is not on the way to ready. Behind the guard sits ``Routes``: it runs the lifespan itself
(the sidecar's start, so the prefetch begins before anything else is loaded), answers the probes
(/healthz, /readyz) from memory and a plain ``GET /v1/vaults/{vault}/secrets/{name}`` (a miss, or
a read that came before the prefetch ended) through ``Reads.read`` as FastAPI's route does, and
builds the FastAPI app (its import, pydantic models, routers) when the first other request needs
it, in a thread so that cache hits keep being answered meanwhile. The OpenAPI document is built by
FastAPI when first asked for. A pod whose callers only read secrets never loads FastAPI or
pydantic (~15 MiB, ~0.4 s of CPU at start).
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from akv_sidecar.cache.cache import SecretCache
from akv_sidecar.cache.store import age_tenths
from akv_sidecar.config.schema import Config
from akv_sidecar.http.auth import authorization_header
from akv_sidecar.http.errors import ApiError
from akv_sidecar.http.fastpath import FastPath, secret_names
from akv_sidecar.http.guard import RequestGuard, RouteNames
from akv_sidecar.http.reads import Reads, cache_headers, peer
from akv_sidecar.ops.metrics import METRICS_CONTENT_TYPE, READ_ROUTE, Metrics, MetricsExporter
from akv_sidecar.ops.status import StatusBoard

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.routing import BaseRoute

    from akv_sidecar.http.vending import Vending
    from akv_sidecar.ops.events import EventGridReceiver

__all__ = ["PROBES", "Routes", "create_app", "create_metrics_app"]

log = logging.getLogger("akv_sidecar")
PROBES = ("/healthz", "/readyz")  # answered here, as FastAPI's routes (http/routes.py) would
_JSON = [(b"content-type", b"application/json")]


class Served(Protocol):
    """What the app serves: one sidecar's parts (``akv_sidecar.server.sidecar.Sidecar``)."""

    config: Config
    reads: Reads
    cache: SecretCache
    status: StatusBoard
    metrics: Metrics
    exporter: MetricsExporter
    events: EventGridReceiver | None

    @property
    def vending(self) -> Vending: ...

    def lifespan(self, app: Any) -> AbstractAsyncContextManager[None]: ...


def create_app(sidecar: Served, *, open_connections: Callable[[], int] | None = None) -> FastPath:
    """The app serving ``sidecar``; its lifespan starts and stops the sidecar.

    ``open_connections`` counts the server's open connections, for limits.max_connections.
    ``.app`` is the request guard, ``.app.app`` the ``Routes`` holding the FastAPI instance.
    """
    routes = Routes(sidecar)
    limits, metrics = sidecar.config.limits, sidecar.metrics
    guard = RequestGuard(routes, limits, metrics, routes.route_name, open_connections)
    return FastPath(guard, sidecar.reads, sidecar.metrics)


class Routes:
    """The lifespan, the probes, and the FastAPI app, built for the first request it serves."""

    def __init__(self, sidecar: Served) -> None:
        self._sidecar = sidecar
        self._api: FastAPI | None = None
        self._building: asyncio.Future[FastAPI] | None = None  # the build under way
        # Before FastAPI is built: the routes answered here (the read route's misses and errors
        # are counted under its template, as FastAPI's route counts them).
        self._names = RouteNames([*PROBES, READ_ROUTE])

    def route_name(self, path: str) -> str:
        """The route template of ``path``, for the guard's request counts."""
        return self._names(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "GET":
            if scope["path"] in PROBES:
                await _answer(send, 200, self._probe(scope["path"]))
                return
            secret = None if scope["query_string"] else secret_names(scope["path"])
            if secret is not None:
                await self._read(scope, send, *secret)
                return
        api = self._api or await self._build()
        await api(scope, receive, send)

    def _probe(self, path: str) -> dict[str, Any]:
        if path == "/healthz":
            return {"status": "ok"}
        cache = self._sidecar.cache
        if not cache.ready:
            raise ApiError(
                503, "NotReady", "The sidecar is still prefetching its secrets; retry shortly."
            )
        return {"status": "ready", **cache.readiness()}

    async def _read(self, scope: Scope, send: Send, vault: str, name: str) -> None:
        """What routes.get_secret answers, without FastAPI: a read waiting for Key Vault (a miss,
        or a sidecar still prefetching) must not also wait for FastAPI to be built."""
        reads = self._sidecar.reads
        try:
            caller = reads.caller(authorization_header(scope["headers"]))
            body, (_, age, status) = await reads.read(caller, vault, name, None, peer(scope))
        except ApiError as error:  # as errors.json_error answers it
            payload = json.dumps(error.body()).encode()
            extra = [(key.lower().encode(), value.encode()) for key, value in error.headers.items()]
            await _send(send, error.status, payload, extra)
            return
        await _send(send, 200, body, cache_headers(age_tenths(age), status))

    async def _build(self) -> FastAPI:
        """One build for every request that needs it, in a task of its own (a request that goes
        away does not cancel it for the others) and in a thread, so hits are answered meanwhile
        (the GIL is shared; the loop is not blocked for the ~0.4 s FastAPI's import takes)."""
        if self._building is None:
            self._building = asyncio.ensure_future(self._build_in_thread())
        building = self._building
        try:
            return await asyncio.shield(building)
        except Exception:
            if self._building is building:
                self._building = None  # the next request tries again
            raise

    async def _build_in_thread(self) -> FastAPI:
        try:
            api = await asyncio.to_thread(build_api, self._sidecar)
        except Exception:
            # An import racing one on the loop's thread can fail where a second try works
            # (Python's import-deadlock guard); a real error raises again, here.
            log.warning("building the API in a thread failed; building it here", exc_info=True)
            api = build_api(self._sidecar)
        self._adopt(api)
        return api

    def _adopt(self, api: FastAPI) -> None:
        if self._api is None:
            self._names = RouteNames([*PROBES, *api.state.route_templates])
            self._api = api

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI lifespan, as Starlette's router runs it: the sidecar starts on startup (prefetch
        first) and stops on shutdown, whatever else is built later."""
        await receive()  # lifespan.startup
        started = False
        try:
            async with self._sidecar.lifespan(self):
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
            if self._building is not None and not self._building.done():
                self._building.cancel()  # a build under way at shutdown (its thread just ends)
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    """``body`` as FastAPI renders a route's return value."""
    await _send(send, status, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


async def _send(
    send: Send, status: int, payload: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*_JSON, (b"content-length", str(len(payload)).encode()), *(extra or ())]
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": payload})


def build_api(sidecar: Served) -> FastAPI:
    """The FastAPI app of every route but the probes' fast answers (which it documents too)."""
    from fastapi import FastAPI

    from akv_sidecar.core.version import __version__
    from akv_sidecar.http.errors import install_error_handlers
    from akv_sidecar.http.opsroutes import build_ops_router
    from akv_sidecar.http.routes import build_router
    from akv_sidecar.http.vending import build_vending_router

    config = sidecar.config
    api = FastAPI(
        title="akv-sidecar",
        summary="Azure Key Vault secrets for Spark drivers, cached on loopback.",
        version=__version__,
        # No redirect for a trailing slash: Starlette builds its Location from the Host header,
        # which any caller chooses (an open redirect); such a path is simply not found.
        redirect_slashes=False,
    )
    metrics_here = config.metrics.enabled and config.metrics.port is None
    routers = (
        build_router(sidecar.reads, sidecar.cache, config.limits.max_batch),
        build_vending_router(sidecar.vending),
        build_ops_router(
            authenticate=sidecar.reads.caller,
            shows=sidecar.reads.shows,
            board=sidecar.status,
            entries=sidecar.cache.store.entries,
            ready=lambda: sidecar.cache.ready,
            exporter=sidecar.exporter if metrics_here else None,
            metrics_token=config.metrics.require_token,
            receiver=sidecar.events,
        ),
    )
    for router in routers:
        api.include_router(router)
    install_error_handlers(api)
    # The templates the guard counts requests by. FastAPI keeps an included router whole (its
    # routes are not the app's), so they are read from the routers, not from api.routes.
    api.state.route_templates = [
        *_paths(api.routes),
        *(p for r in routers for p in _paths(r.routes)),
    ]
    return api


def _paths(routes: list[BaseRoute]) -> list[str]:
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
