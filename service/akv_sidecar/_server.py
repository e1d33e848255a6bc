"""Running the app under uvicorn: the listening socket, the settings chosen for speed, and a
server that shuts down gracefully on SIGTERM/SIGINT and then exits 0.

Graceful means uvicorn's own order: stop accepting, let in-flight requests finish (up to
listen.shutdown_timeout), then the lifespan cancels background work and closes the clients.
"""

from __future__ import annotations

import contextlib
import math
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from ._config import Config

__all__ = ["Server", "listen_socket", "uvicorn_config"]


def listen_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A bound, listening TCP socket (``port`` 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def uvicorn_config(app: ASGIApp, config: Config) -> uvicorn.Config:
    """One worker, httptools and uvloop, no access log (reads are recorded off the hot path)."""
    return uvicorn.Config(
        app,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level=config.log_level,
        workers=1,
        backlog=config.listen.backlog,
        timeout_graceful_shutdown=math.ceil(config.listen.shutdown_timeout),
        server_header=False,
    )


class Server(uvicorn.Server):
    """uvicorn's server, except that a handled SIGTERM/SIGINT ends the process normally."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
