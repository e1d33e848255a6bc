"""The request guard: the request checks applied in front of FastAPI, and the per-route counter.

Every request that the fast path does not answer passes here and is refused with a JSON error when
``checks.RequestChecks`` refuses it (forwarded, headers too large, two Authorization headers, body
too large, too many connections), when its chunked body outgrows limits.max_body_bytes, or when
limits.max_concurrency requests are already in flight (429 with `Retry-After: 1`).

Probes and scrapes (/healthz, /readyz, /metrics) answer from memory and never wait on Key Vault, so
they neither count toward nor are refused by max_concurrency or max_connections: a sidecar busy
with slow misses must not fail its probes and get restarted, losing its cache. Cache hits are not
counted either: the fast path answers them without waiting. Requests are counted per (route
template, status) in the plain `Metrics` dict, never in prometheus-client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from akv_sidecar.config.schema import LimitsConfig
from akv_sidecar.http.checks import (
    Admitted,
    RequestChecks,
    body_too_large_error,
    too_busy_error,
)
from akv_sidecar.http.errors import ApiError
from akv_sidecar.ops.metrics import Metrics

__all__ = ["RequestGuard", "RouteNames"]

UNMATCHED_ROUTE = "unmatched"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ANSWERED_FROM_MEMORY = frozenset({"/healthz", "/readyz", "/metrics"})


class RouteNames:
    """Maps a request path to its route template, so metric labels stay few."""

    def __init__(self, templates: Iterable[str]) -> None:
        self._by_length: dict[int, list[tuple[str, tuple[str | None, ...]]]] = {}
        for template in templates:
            parts = tuple(None if part.startswith("{") else part for part in template.split("/"))
            self._by_length.setdefault(len(parts), []).append((template, parts))

    def __call__(self, path: str) -> str:
        parts = path.split("/")
        for template, pattern in self._by_length.get(len(parts), ()):
            if all(want is None or want == got for want, got in zip(pattern, parts, strict=True)):
                return template
        return UNMATCHED_ROUTE


def _error_response(error: ApiError) -> tuple[Message, Message]:
    body = json.dumps(error.body()).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]  # the fast path in front adds Cache-Control: no-store to every answer
    if error.status in (413, 429):
        headers.append((b"connection", b"close"))
    headers += [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    start: Message = {"type": "http.response.start", "status": error.status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


class RequestGuard:
    """ASGI middleware enforcing the limits and counting requests by route and status."""

    def __init__(
        self,
        app: ASGIApp,
        limits: LimitsConfig,
        metrics: Metrics,
        routes: Callable[[str], str],
        open_connections: Callable[[], int] | None = None,
    ) -> None:
        self.app = app
        self.checks = RequestChecks(limits, open_connections)
        self._limits = limits
        self._metrics = metrics
        self._routes = routes
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests being answered behind the guard right now."""
        return self._in_flight

    def _admit(self, scope: Scope, *, counted: bool) -> Admitted:
        """The checked request, or the ApiError raised for it; ``counted`` requests are the ones
        max_concurrency applies to."""
        checked = self.checks.inspect(scope["headers"], probe=not counted)
        if isinstance(checked, ApiError):
            raise checked
        if counted and self._in_flight >= self._limits.max_concurrency:
            raise too_busy_error()
        return checked

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        counted = scope["path"] not in _ANSWERED_FROM_MEMORY
        try:
            admitted = self._admit(scope, counted=counted)
            unannounced = admitted.content_length is None and scope["method"] in _BODY_METHODS
            if admitted.chunked or unannounced:
                receive = await self._buffered(receive)
            self._in_flight += counted
            try:
                await self.app(scope, receive, send_counted)
            finally:
                self._in_flight -= counted
        except ApiError as refused:
            for message in _error_response(refused):
                await send_counted(message)
        finally:
            self._metrics.count_request(self._routes(scope["path"]), status)

    async def _buffered(self, receive: Receive) -> Receive:
        """Read a body of unannounced length (chunked) up to the limit, then replay it."""
        chunks: list[bytes] = []
        received, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive  # the client left; let the app see the disconnect
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self._limits.max_body_bytes:
                raise body_too_large_error(self._limits)
            more = message.get("more_body", False)
        replay: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def receive_replayed() -> Message:
            nonlocal replay
            if replay is None:
                return await receive()
            message, replay = replay, None
            return message

        return receive_replayed
