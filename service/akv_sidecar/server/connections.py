"""Cache hits answered in the protocol, connection deadlines and the connection limit, in
uvicorn's httptools protocol.

A GET that ``http.fastpath.Hits`` recognises as a cache hit (every request check applied) is
answered from the headers it parsed: the rendered bytes are written to the transport when the
request is complete, with uvicorn's status line and Date, and `Connection: close` (then closed)
for HTTP/1.0 or a client's `Connection: close`, as uvicorn would. No task, no scope, no message:
those are most of what a hit cost under ASGI. The scope is built only for a request that is not a
hit, from the URL and headers parsed so far, and it then goes to the ASGI app as uvicorn sends any.
A request pipelined behind one the app is still answering goes there too, and waits its turn in
uvicorn's queue, so answers keep their order; so does one while the transport's buffer is full,
so a client that sends without reading is held back by uvicorn's flow control.

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
import logging
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from akv_sidecar.config.schema import LimitsConfig

if TYPE_CHECKING:  # the bench's bare app runs this protocol without the app's imports
    from uvicorn._types import ASGI3Application
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    from akv_sidecar.http.fastpath import Hits
    from akv_sidecar.http.reads import Rendered

__all__ = ["UVICORN_TESTED", "Connections", "GuardedProtocol", "guarded_protocol"]

logger = logging.getLogger("akv_sidecar")

# GuardedProtocol builds on HttpToolsProtocol's internals (its per-request state, the cycle, the
# pipeline, flow control, the server's default headers): this is the uvicorn they were read in and
# tested with (locks/*.txt pin it; tests/ops/test_protocol_hits.py fails on any other).
UVICORN_TESTED = "0.54.0"

# Phases. CONNECTED and RECEIVING (headers and body) share header_timeout; CONNECTED keeps the
# connect time as its start.
_CONNECTED, _RECEIVING, _SERVING, _IDLE = 0, 1, 2, 3
# Connections looked at per eviction: bounds the work a connection opened over the limit can cost.
_EVICTION_SCAN = 64
_OK = STATUS_LINE[200]


class Connections:
    """The open connections of one server (all its listeners), least recently active first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[GuardedProtocol, int] = {}  # -> its activity count when placed here
        # How many are open: the dict's own len, no Python frame (every request check asks).
        self.count = self._open.__len__

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, connection: GuardedProtocol) -> None:
        self._open[connection] = connection.activity
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
                and placed == connection.activity
            ):
                connection.close()
                return
            self._open[connection] = connection.activity


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and idle deadlines, in a bounded set of connections.

    Built per server by ``guarded_protocol``, which sets the class attributes below.
    """

    registry: Connections
    header_timeout: float
    idle_timeout: float
    hits: Hits | None  # None: every request goes to the app

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _CONNECTED
        self.active_since = self.loop.time()
        # Bumped with active_since: the loop's clock moves in milliseconds, so a request answered
        # within the millisecond its connection opened would look like no activity at all.
        self.activity = 0
        self._watchdog: asyncio.TimerHandle | None = None
        # Half the shortest deadline: a phase change is noticed in time without a timer per request.
        self._period = min(self.header_timeout, self.idle_timeout) / 2
        # uvicorn's limit_concurrency answers 503 before the app sees a request: hits would skip it.
        self._hits = self.hits if self.limit_concurrency is None else None
        self._hit: Rendered | None = None  # the answer of the request being received
        self._keep_alive = True
        self._peer = "unix"  # for the audit line: the peer address, none on the Unix socket
        self._dates: list[tuple[bytes, bytes]] | None = None  # uvicorn's, renewed every second
        self._status_and_dates = b""

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
        if self.client:
            self._peer = self.client[0]
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
            self.active_since = self.loop.time()  # _touch, inline: every hit passes here
            self.activity += 1
        self._phase = _RECEIVING
        if self._hits is None:
            super().on_message_begin()
            return
        # What uvicorn's on_header and on_url fill; the scope waits for on_headers_complete.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        hits = self._hits
        if hits is not None:
            parser, cycle = self.parser, self.cycle
            if (
                parser.get_method() == b"GET"
                and not parser.should_upgrade()
                and (cycle is None or cycle.response_complete)
                and not self.flow.write_paused
            ):
                try:
                    hit = self._hit = hits.answer(self.url, self.headers, self._peer)
                except Exception:  # raised here, httptools would make it uvicorn's 400
                    logger.exception("answering a cache hit failed; the app answers it")
                    hit = self._hit = None
                if hit is not None:
                    # uvicorn's rule: HTTP/1.0 or `Connection: close` ends with this answer.
                    self._keep_alive = (
                        parser.should_keep_alive() and parser.get_http_version() != "1.0"
                    )
                    return
            self._begin_scope()
        super().on_headers_complete()

    def _begin_scope(self) -> None:
        """uvicorn's on_message_begin, run late: the scope of a request that is not a hit, with
        the URL and headers parsed so far."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers

    def on_message_complete(self) -> None:
        # The whole request arrived (headers and body): from here the app's own limits bound it.
        if self._phase == _RECEIVING:
            self._phase = _SERVING
        hit = self._hit
        if hit is None:
            super().on_message_complete()
            return
        self._hit = None
        self._answer(hit)

    def _answer(self, hit: Rendered) -> None:
        """Write a hit's answer as uvicorn writes one: status line, its default headers (Date),
        the rendered headers and body; then what on_response_complete does."""
        dates = self.server_state.default_headers
        if dates is not self._dates:
            self._dates = dates
            self._status_and_dates = _OK + b"".join(b"%s: %s\r\n" % pair for pair in dates)
        if self._keep_alive:
            self.transport.write(self._status_and_dates + hit.tail)
        else:
            self.transport.write(self._status_and_dates + hit.closing())
            self.transport.close()
            # The parser goes on with what came in the same packet (after an HTTP/1.0 keep-alive
            # request it is not in its closed state): none of it is served, as in uvicorn, where
            # it would wait in the pipeline of a closed connection.
            self._hits = None
        self.server_state.total_requests += 1
        self._phase = _IDLE  # from _SERVING: the request was complete
        self.active_since = self.loop.time()
        self.activity += 1

    def on_response_complete(self) -> None:
        # uvicorn's own, with the watchdog's idle deadline instead of its per-request timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        if self._phase == _SERVING:  # not while a pipelined request's headers are still arriving
            self._phase = _IDLE
            self._touch()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._phase = _SERVING
            self._start_asgi_task(cycle, app)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        if not self.transport.is_closing():  # closed after a hit that was the last answer
            super()._start_asgi_task(cycle, app)

    def _touch(self) -> None:
        self.active_since = self.loop.time()
        self.activity += 1

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


def guarded_protocol(
    limits: LimitsConfig, connections: Connections, hits: Hits | None = None
) -> type[GuardedProtocol]:
    """The protocol class for one listener: its deadlines, the server's shared connections, and
    the cache hits it answers itself (none without ``hits``)."""
    attributes = {
        "registry": connections,
        "header_timeout": limits.header_timeout,
        "idle_timeout": limits.idle_timeout,
        "hits": hits,
    }
    return type("GuardedProtocol", (GuardedProtocol,), attributes)
