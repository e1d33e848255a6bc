"""Connection deadlines and the connection limit, in uvicorn's httptools protocol.

uvicorn closes a kept-alive connection that sits idle, but never one that sends its request slowly:
a socket that sent a request line and one header stays open for good and counts toward
limits.max_connections, so any local process could hold the sidecar at its limit (every request,
probes included, answered 429) and get the pod restarted. Here each connection is in one phase:

- awaiting a request's line, headers and body, from connecting or from the request's first byte:
  closed after limits.header_timeout (a body sent slowly holds a connection just like headers);
- serving a request: no deadline here (limits.max_concurrency and upstream.timeout bound it);
- idle between requests: closed after limits.idle_timeout.

One watchdog timer per connection enforces the deadlines; the request path only writes a phase and
a timestamp. It looks at least twice per header_timeout, so a request that starts on an idle
connection gets its full header deadline, and then aims at that deadline, so it is kept exactly.
(A timer armed and cancelled per request, as uvicorn's keep-alive one is, costs about 2 µs: a tenth
of a cache hit. The watchdog replaces it.)

A connection that opens over limits.max_connections closes the least recently active connection
that is not serving a request (slow senders and idle ones), so the newcomer is served rather than
refused; only when every connection is busy do requests get 429 (``http.checks``), and /healthz and
/readyz are answered even then.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from akv_sidecar.config.schema import LimitsConfig

__all__ = ["Connections", "GuardedProtocol", "guarded_protocol"]

# Phases. CONNECTED and RECEIVING (headers and body) share header_timeout; CONNECTED keeps the
# connect time as its start.
_CONNECTED, _RECEIVING, _SERVING, _IDLE = 0, 1, 2, 3
# Connections looked at per eviction: bounds the work a connection opened over the limit can cost.
_EVICTION_SCAN = 64


class Connections:
    """The open connections of one server (all its listeners), least recently active first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[GuardedProtocol, float] = {}  # -> its activity time when placed here

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, connection: GuardedProtocol) -> None:
        self._open[connection] = connection.active_since
        if len(self._open) > self.limit:
            self._evict(connection)

    def closed(self, connection: GuardedProtocol) -> None:
        self._open.pop(connection, None)

    def _evict(self, newcomer: GuardedProtocol) -> None:
        """Close the first connection, oldest first, that is not serving a request and did nothing
        since it was placed; busy or active ones move to the back (a second chance), so a pool's
        long-lived connection outlives a newer one that never finished a request."""
        for _ in range(min(len(self._open), _EVICTION_SCAN)):
            connection, placed = next(iter(self._open.items()))
            del self._open[connection]
            if (
                connection is not newcomer
                and connection.evictable
                and placed >= connection.active_since
            ):
                connection.close()
                return
            self._open[connection] = connection.active_since


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and idle deadlines, in a bounded set of connections.

    Built per server by ``guarded_protocol``, which sets the class attributes below.
    """

    registry: Connections
    header_timeout: float
    idle_timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _CONNECTED
        self.active_since = self.loop.time()
        self._watchdog: asyncio.TimerHandle | None = None
        # Half the shortest deadline: a phase change is noticed in time without a timer per request.
        self._period = min(self.header_timeout, self.idle_timeout) / 2

    @property
    def evictable(self) -> bool:
        """Not serving a request: connected, still sending one, or idle."""
        if self._phase == _RECEIVING:
            return True
        return self._phase != _SERVING and (self.cycle is None or self.cycle.response_complete)

    def close(self) -> None:
        self._stop()
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.active_since = self.loop.time()
        self._watchdog = self.loop.call_later(self._period, self._watch)
        self.registry.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._stop()  # the connection is the WebSocket protocol's from here on
        super().handle_websocket_upgrade()

    def on_message_begin(self) -> None:
        if self._phase != _CONNECTED:
            self.active_since = self.loop.time()
        self._phase = _RECEIVING
        super().on_message_begin()

    def on_message_complete(self) -> None:
        # The whole request arrived (headers and body): from here the app's own limits bound it.
        if self._phase == _RECEIVING:
            self._phase = _SERVING
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn's own, with the watchdog's idle deadline instead of its per-request timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self._phase == _SERVING:  # not while a pipelined request's headers are still arriving
            self._phase = _IDLE
            self.active_since = self.loop.time()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._phase = _SERVING
            self._start_asgi_task(cycle, app)

    def _stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.registry.closed(self)

    def _watch(self) -> None:
        self._watchdog = None
        if self.transport.is_closing():
            return
        delay = self._period
        if self._phase != _SERVING:
            limit = self.idle_timeout if self._phase == _IDLE else self.header_timeout
            left = self.active_since + limit - self.loop.time()
            if left <= 0:
                self.close()
                return
            delay = min(left, delay)
        self._watchdog = self.loop.call_later(delay, self._watch)


def guarded_protocol(limits: LimitsConfig, connections: Connections) -> type[GuardedProtocol]:
    """The protocol class for one server's listeners: its deadlines, its shared connections."""
    attributes = {
        "registry": connections,
        "header_timeout": limits.header_timeout,
        "idle_timeout": limits.idle_timeout,
    }
    return type("GuardedProtocol", (GuardedProtocol,), attributes)
