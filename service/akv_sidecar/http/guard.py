"""The request guard: hardening limits in front of FastAPI, and the per-route request counter.

Every request that the fast path does not answer passes here, and is refused with a JSON error when

- it carries `X-Forwarded-For` (400) and limits.forwarded_for is `reject`: a sidecar reached
  through a proxy is usually a request forgery (SSRF), and when it is not, the config says so;
- its headers exceed limits.max_header_bytes (names and values summed) or limits.max_headers (431);
- its body exceeds limits.max_body_bytes, announced by Content-Length or streamed (413);
- limits.max_concurrency requests are already in flight, or more than limits.max_connections
  connections are open (429 with `Retry-After: 1`; the extra connection is closed).

Probes and scrapes (/healthz, /readyz, /metrics) answer from memory and never wait on Key Vault, so
they neither count toward nor are refused by max_concurrency: a sidecar busy with slow misses must
not fail its probes and get restarted, losing its cache. The connection limit applies to them too.

The fast path asks `fast_authorization()` first: one pass over the headers that says whether a
request is within every limit (and returns its Authorization header); any other request takes the
guarded path and gets its error here. Requests are counted per (route template, status) in the
plain `Metrics` dict, never in prometheus-client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from akv_sidecar.config.schema import LimitsConfig
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
        routes: RouteNames,
        open_connections: Callable[[], int] | None = None,
    ) -> None:
        self.app = app
        self._limits = limits
        self._reject_forwarded = limits.forwarded_for == "reject"
        self._metrics = metrics
        self._routes = routes
        self._open_connections = open_connections
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests being answered behind the guard right now."""
        return self._in_flight

    def fast_authorization(self, scope: Scope) -> bytes | None:
        """The raw Authorization header of a request within every limit, else None.

        One pass over the headers; None sends the request down the guarded path, which answers
        whatever is wrong with it.
        """
        size, authorization = 0, None
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"authorization":
                authorization = value
            elif name == b"x-forwarded-for" and self._reject_forwarded:
                return None
        limits = self._limits
        if (
            size > limits.max_header_bytes
            or len(scope["headers"]) > limits.max_headers
            or self._too_many_connections()
        ):
            return None
        return authorization

    def _too_many_connections(self) -> bool:
        count = self._open_connections
        return count is not None and count() > self._limits.max_connections

    def _check(self, scope: Scope, *, counted: bool) -> int | None:
        """Raise the ApiError for a request over a limit; return its Content-Length if any.

        ``counted`` requests are the ones max_concurrency applies to.
        """
        limits = self._limits
        size, length = 0, None
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"x-forwarded-for" and self._reject_forwarded:
                raise ApiError(
                    400,
                    "ForwardedRequest",
                    "Requests relayed with X-Forwarded-For are refused. Call the sidecar directly,"
                    " or set limits.forwarded_for: allow if it runs behind a trusted proxy.",
                )
            if name == b"content-length" and value.isdigit():
                length = int(value)
        if size > limits.max_header_bytes or len(scope["headers"]) > limits.max_headers:
            raise ApiError(431, "HeadersTooLarge", "The request headers are too large.")
        if length is not None and length > limits.max_body_bytes:
            raise self._body_too_large()
        busy = counted and self._in_flight >= limits.max_concurrency
        if busy or self._too_many_connections():
            raise ApiError(
                429,
                "TooManyRequests",
                "The sidecar is at capacity; retry shortly.",
                {"Retry-After": "1"},
            )
        return length

    def _body_too_large(self) -> ApiError:
        return ApiError(
            413,
            "PayloadTooLarge",
            f"The request body is larger than {self._limits.max_body_bytes} bytes;"
            " send fewer secrets per batch.",
        )

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
            length = self._check(scope, counted=counted)
            if length is None and scope["method"] in _BODY_METHODS:
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
                raise self._body_too_large()
            more = message.get("more_body", False)
        replay: Message | None = {"type": "http.request", "body": b"".join(chunks)}

        async def receive_replayed() -> Message:
            nonlocal replay
            if replay is None:
                return await receive()
            message, replay = replay, None
            return message

        return receive_replayed
