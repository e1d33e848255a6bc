"""The outermost ASGI layer: cache hits served from prebuilt bytes, in front of the guarded app.

A ``GET /v1/vaults/{vault}/secrets/{name}`` that is a cache hit for an authorised caller, within
every request limit, costs a path split, one pass over the headers, a token hash, two dict lookups
and one bytes concatenation; everything else (misses, errors, other routes, requests over a limit)
goes to the request guard and FastAPI behind it, with ``Cache-Control: no-store`` added.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from ._limits import RequestGuard
from ._metrics import Metrics
from ._reads import Reads, cache_headers

__all__ = ["FastPath"]

_NO_STORE = (b"cache-control", b"no-store")
_JSON = (b"content-type", b"application/json")


class FastPath:
    def __init__(self, app: RequestGuard, reads: Reads, metrics: Metrics) -> None:
        self.app = app
        self._reads = reads
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET" and not scope["query_string"]:
            parts = scope["path"].split("/")
            if (
                len(parts) == 6
                and parts[1] == "v1"
                and parts[2] == "vaults"
                and parts[4] == "secrets"
            ) and await self._serve_hit(scope, send, parts[3], parts[5]):
                return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)

    async def _serve_hit(self, scope: Scope, send: Send, vault: str, name: str) -> bool:
        within_limits, authorization = self.app.fast_authorization(scope)
        if not within_limits:
            return False
        client = scope.get("client")  # None on the Unix socket: there is no peer address
        served = self._reads.fast(authorization, vault, name, client[0] if client else "unix")
        if served is None:
            return False
        self._metrics.fast_hits += 1
        body, (_, age, status) = served
        headers = [_JSON, (b"content-length", str(len(body)).encode()), _NO_STORE]
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": headers + cache_headers(age, status),
            }
        )
        await send({"type": "http.response.body", "body": body})
        return True
