"""A listening port for one aiohttp app that can stop accepting and reopen on the same port."""

from __future__ import annotations

import ssl

from aiohttp import web

_BACKLOG = 1024
# Short: stopping must be quick even with requests still delayed by injected latency.
_SHUTDOWN_TIMEOUT_S = 0.25


def format_url(scheme: str, host: str, port: int) -> str:
    """scheme://host:port with IPv6 hosts bracketed."""
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


class Listener:
    """Serves app on host:port (port 0 picks a free one, kept across pause/resume)."""

    def __init__(
        self, app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None
    ) -> None:
        # access_log=None: no per-request log write on the hot path.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return format_url("https" if self._ssl_context else "http", self._host, self._port)

    async def start(self) -> None:
        await self._runner.setup()
        await self.resume()

    async def resume(self) -> None:
        """Listen again (on the same port once one was picked)."""
        if self._site is not None:
            return
        site = web.TCPSite(
            self._runner, self._host, self._port, ssl_context=self._ssl_context, backlog=_BACKLOG
        )
        await site.start()
        self._site = site
        if self._port == 0:
            self._port = int(self._runner.addresses[0][1])

    async def pause(self) -> None:
        """Stop accepting and drop open connections, so clients see the port refuse."""
        if self._site is None:
            return
        await self._site.stop()
        self._site = None
        self.drop_connections()

    def drop_connections(self) -> None:
        """Abort every open connection (the port keeps listening)."""
        # Abort rather than close: a TLS close waits for the peer's close_notify, which a
        # stopping loop would never see, leaving the socket open.
        server = self._runner.server
        for connection in server.connections if server is not None else ():
            if connection.transport is not None:
                connection.transport.abort()

    async def close(self) -> None:
        """Stop listening and close every connection."""
        self.drop_connections()
        await self._runner.cleanup()
        self._site = None
