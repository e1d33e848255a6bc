"""The outermost ASGI layer: cache hits served from prebuilt bytes, in front of the guarded app.

A ``GET /v1/vaults/{vault}/secrets/{name}`` that is a cache hit for an authorised caller, within
every request limit, costs a path split, one pass over the headers, a token hash and a few dict
lookups: its headers and body were rendered by an earlier read (see `Reads.fast`). Everything else
(misses, errors, other routes, requests over a limit) goes to the request guard and FastAPI behind
it, with ``Cache-Control: no-store`` added.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from ._limits import RequestGuard
from ._metrics import Metrics
from ._reads import Reads, Rendered

__all__ = ["FastPath"]

_NO_STORE = (b"cache-control", b"no-store")
_SECRETS_ROOT = ["v1", "vaults"]  # /v1/vaults/{vault}/secrets/{name}


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
            if len(parts) == 6 and parts[1:3] == _SECRETS_ROOT and parts[4] == "secrets":
                served = self._hit(scope, parts[3], parts[5])
                if served is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": served[0]})
                    await send({"type": "http.response.body", "body": served[1]})
                    return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)

    def _hit(self, scope: Scope, vault: str, name: str) -> Rendered | None:
        """The prebuilt response of a cache hit within every limit, or None for the full path."""
        within_limits, authorization = self.app.fast_authorization(scope)
        if not within_limits:
            return None
        client = scope.get("client")  # None on the Unix socket: there is no peer address
        served = self._reads.fast(authorization, vault, name, client[0] if client else "unix")
        if served is not None:
            self._metrics.fast_hits += 1
        return served
