"""Running the app under uvicorn: the listeners, the settings chosen for speed, and a server that
shuts down gracefully on SIGTERM/SIGINT (then exits 0) and reloads on SIGHUP.

Graceful means uvicorn's own order: stop accepting, let in-flight requests finish (up to
listen.shutdown_timeout), then the lifespan cancels background work and closes the clients.

One process serves every listener: the TCP one (HTTPS with listen.tls), and, next to it, the Unix
socket (plaintext; file permissions guard it) and the metrics port. The extra listeners share the
main server's connection bookkeeping, so limits and graceful shutdown cover them too. Every listener
speaks through ``connections.GuardedProtocol``: uvicorn's httptools protocol with header and idle
deadlines and the connection limit; the app's listeners (TCP and Unix socket) answer cache hits in
it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import uvicorn
from starlette.types import ASGIApp
from uvicorn.server import ServerState

from akv_sidecar.config.schema import Config
from akv_sidecar.server.connections import Connections, guarded_protocol
from akv_sidecar.server.listeners import check_exposure, tcp_socket, unix_socket

if TYPE_CHECKING:
    from akv_sidecar.http.fastpath import Hits
    from akv_sidecar.server.sidecar import Sidecar
    from akv_sidecar.server.tls import ReloadableTLS

__all__ = ["Served", "Server", "build_server", "uvicorn_config"]

logger = logging.getLogger("akv_sidecar")
_METRICS_BACKLOG = 64


def uvicorn_config(
    app: ASGIApp,
    config: Config,
    *,
    tls: ReloadableTLS | None = None,
    lifespan: Literal["on", "off"] = "on",
    connections: Connections | None = None,
    hits: Hits | None = None,
) -> uvicorn.Config:
    """One worker, httptools and uvloop, no access log (reads are recorded off the hot path).

    ``connections`` are the server's open connections, shared by all its listeners (a new set
    by default); ``hits`` the cache hits its protocol answers below the app (none by default).
    """
    if connections is None:
        connections = Connections(config.limits.max_connections)
    settings = uvicorn.Config(
        app,
        http=guarded_protocol(config.limits, connections, hits),
        loop="uvloop",
        lifespan=lifespan,
        access_log=False,
        log_config=None,
        log_level=config.log_level,
        workers=1,
        backlog=config.listen.backlog,
        timeout_graceful_shutdown=math.ceil(config.listen.shutdown_timeout),
        server_header=False,
        # X-Forwarded-For is refused unless a trusted proxy is configured; then it names the client.
        proxy_headers=config.limits.forwarded_for == "allow",
        ssl_context_factory=tls.uvicorn_factory() if tls is not None else None,
    )
    # access_log=False only strips uvicorn.access of its handlers: any handler attached later
    # (a logging config, a test's log capture) brings back a line per request, with its query
    # string (the webhook's ?code=). Reads are audited instead, so the logger is off outright.
    logging.getLogger("uvicorn.access").disabled = True
    return settings


@dataclass(frozen=True)
class Listener:
    """A socket served next to the main one, with its own app and TLS settings."""

    sock: socket.socket
    config: uvicorn.Config


class Server(uvicorn.Server):
    """uvicorn's server, plus extra listeners, a SIGHUP hook, and a normal exit on SIGTERM."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        extra: Sequence[Listener] = (),
        on_hangup: Callable[[], None] | None = None,
        state: ServerState | None = None,
    ) -> None:
        super().__init__(config)
        self.extra = tuple(extra)
        self._on_hangup = on_hangup
        self._loop: asyncio.AbstractEventLoop | None = None
        if state is not None:
            self.server_state = state

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._loop = asyncio.get_running_loop()
        for listener in self.extra:
            self.servers.append(await self._serve_extra(listener))
            logger.info("also listening", extra={"address": str(listener.sock.getsockname())})

    async def _serve_extra(self, listener: Listener) -> asyncio.Server:
        config = listener.config
        if not config.loaded:
            config.load()

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        loop = asyncio.get_running_loop()
        return await loop.create_server(
            protocol, sock=listener.sock, ssl=config.ssl, backlog=config.backlog
        )

    def hangup(self) -> None:
        """What SIGHUP does (run on the server's loop); tests may call it directly."""
        if self._on_hangup is not None:
            self._on_hangup()

    def _handle_hangup(self, _signum: int, _frame: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.hangup)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handlers = {
            signal.SIGINT: self.handle_exit,
            signal.SIGTERM: self.handle_exit,
            signal.SIGHUP: self._handle_hangup,
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass
class Served:
    """A server ready to run on its sockets; `close()` releases them (and the socket file)."""

    server: Server
    sockets: list[socket.socket]
    port: int
    metrics_port: int | None = None
    uds: str | None = None
    extra_sockets: list[socket.socket] = field(default_factory=list)

    def run(self) -> None:
        self.server.run(sockets=self.sockets)

    def close(self) -> None:
        _release(self.sockets + self.extra_sockets, self.uds)


def _release(sockets: list[socket.socket], uds: str | None) -> None:
    for sock in sockets:
        sock.close()
    if uds is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(uds)


def build_server(sidecar: Sidecar, *, port: int | None = None) -> Served:
    """Open every configured listener for `sidecar` (ConfigError when one cannot be used)."""
    # Imported here, not at the top: the bench's bare app shares uvicorn_config and Server, and
    # must not pay for the app's imports (FastAPI, the Azure SDK) in the floor it measures.
    from akv_sidecar.http.app import create_app, create_metrics_app

    config = sidecar.config
    listen = config.listen
    check_exposure(
        listen.host, tls=listen.tls.enabled, allow_plaintext_remote=listen.allow_plaintext_remote
    )
    tls = None
    if listen.tls.cert_file is not None and listen.tls.key_file is not None:
        from akv_sidecar.server.tls import ReloadableTLS  # only with listen.tls

        tls = ReloadableTLS(listen.tls.cert_file, listen.tls.key_file)
    state = ServerState()
    connections = Connections(config.limits.max_connections)
    app = create_app(sidecar, open_connections=connections.count)
    main = tcp_socket(listen.host, listen.port if port is None else port, listen.backlog)
    extra: list[Listener] = []
    metrics_port = None
    try:
        if listen.uds is not None:
            sock = unix_socket(listen.uds, listen.uds_mode, listen.backlog)
            listener = uvicorn_config(
                app, config, lifespan="off", connections=connections, hits=app.hits
            )
            extra.append(Listener(sock, listener))
        if config.metrics.enabled and config.metrics.port is not None:
            sock = tcp_socket(config.metrics.host, config.metrics.port, _METRICS_BACKLOG)
            metrics_port = sock.getsockname()[1]
            metrics_app = create_metrics_app(sidecar)
            listener = uvicorn_config(metrics_app, config, lifespan="off", connections=connections)
            extra.append(Listener(sock, listener))
    except BaseException:
        _release([main] + [listener.sock for listener in extra], listen.uds)
        raise

    def hangup() -> None:
        if tls is not None:
            tls.reload()
        sidecar.reload()

    server = Server(
        uvicorn_config(app, config, tls=tls, connections=connections, hits=app.hits),
        extra=extra,
        on_hangup=hangup,
        state=state,
    )
    extra_sockets = [listener.sock for listener in extra]
    return Served(server, [main], main.getsockname()[1], metrics_port, listen.uds, extra_sockets)
