"""The request guard: hardening limits in front of the app, and the per-route request counter.

One pure-ASGI layer, outermost, so every request passes one cheap check and nothing else:

- a request carrying `X-Forwarded-For` is refused (400) unless `forwarded_for: allow`: a sidecar
  reached through a proxy is usually a request forgery (SSRF), and when it is not, config says so;
- headers over `max_header_bytes` (names and values summed) or more than `max_headers` get 431;
- more than `max_concurrency` requests in flight, or more than `max_connections` open connections,
  get 429 with `Retry-After: 1` (and the extra connection is closed).

Requests are counted per (route template, status) in the plain `Metrics` dict, never in
prometheus-client on the hot path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._exceptions import ApiError
from ._metrics import Metrics

__all__ = ["LimitsConfig", "RequestGuard", "RouteNames"]

UNMATCHED_ROUTE = "unmatched"


@dataclass(frozen=True)
class LimitsConfig:
    """`limits:` in the config file."""

    max_header_bytes: int = 16 * 1024
    max_headers: int = 64
    max_concurrency: int = 512
    max_connections: int = 1024
    forwarded_for: Literal["reject", "allow"] = "reject"


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


def _error_response(status: int, code: str, message: str) -> tuple[Message, Message]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 429:
        headers += [(b"retry-after", b"1"), (b"connection", b"close")]
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


class RequestGuard:
    """ASGI middleware enforcing `LimitsConfig` and counting requests by route and status."""

    def __init__(
        self,
        app: ASGIApp,
        limits: LimitsConfig,
        metrics: Metrics,
        routes: RouteNames,
        open_connections: Callable[[], int] | None = None,
    ) -> None:
        self._app = app
        self._limits = limits
        self._metrics = metrics
        self._routes = routes
        self._open_connections = open_connections
        self._in_flight = 0

    def _check(self, scope: Scope) -> None:
        """Raise ApiError for a request over a limit."""
        limits = self._limits
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value)
            if name == b"x-forwarded-for" and limits.forwarded_for == "reject":
                raise ApiError(
                    400,
                    "ForwardedRequest",
                    "Requests relayed with X-Forwarded-For are refused. Call the sidecar directly,"
                    " or set limits.forwarded_for: allow if it runs behind a trusted proxy.",
                )
        if size > limits.max_header_bytes or len(scope["headers"]) > limits.max_headers:
            raise ApiError(431, "HeadersTooLarge", "The request headers are too large.")
        if self._in_flight >= limits.max_concurrency or (
            self._open_connections is not None and self._open_connections() > limits.max_connections
        ):
            raise ApiError(429, "TooManyRequests", "The sidecar is at capacity; retry shortly.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        route = self._routes(scope["path"])
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            self._check(scope)
            self._in_flight += 1
            try:
                await self._app(scope, receive, send_counted)
            finally:
                self._in_flight -= 1
        except ApiError as rejected:
            for message in _error_response(rejected.status, rejected.code, rejected.message):
                await send_counted(message)
        finally:
            self._metrics.count_request(route, status)
