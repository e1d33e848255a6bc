"""The outermost ASGI layer: cache hits served from prebuilt bytes, in front of FastAPI.

A ``GET /v1/vaults/{vault}/secrets/{name}`` that is a cache hit for an authorised caller costs a
path split, a token hash, two dict lookups and one bytes concatenation; everything else (misses,
errors, other routes) goes to FastAPI, with ``Cache-Control: no-store`` added and request bodies
capped at limits.max_body_bytes (413).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._reads import Reads, cache_headers

__all__ = ["FastPath"]

_NO_STORE = (b"cache-control", b"no-store")
_JSON = (b"content-type", b"application/json")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class FastPath:
    def __init__(self, app: ASGIApp, reads: Reads, max_body_bytes: int) -> None:
        self.app = app
        self._reads = reads
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "GET" and not scope["query_string"]:
            parts = scope["path"].split("/")
            if (
                len(parts) == 6
                and parts[1] == "v1"
                and parts[2] == "vaults"
                and parts[4] == "secrets"
            ) and await self._serve_hit(scope, send, parts[3], parts[5]):
                return
        elif method in _BODY_METHODS:
            bounded = await self._bounded(scope, receive, send)
            if bounded is None:
                return
            receive = bounded

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)

    async def _serve_hit(self, scope: Scope, send: Send, vault: str, name: str) -> bool:
        authorization = None
        for header, value in scope["headers"]:
            if header == b"authorization":
                authorization = value.decode("latin-1")
                break
        client = scope.get("client")
        served = self._reads.fast(authorization, vault, name, client[0] if client else "")
        if served is None:
            return False
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

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """The body read up to the limit and replayed, or None after answering 413."""
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive  # the client left; let the app see the disconnect
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self._max_body:
                await _too_large(send, self._max_body)
                return None
            more = message.get("more_body", False)
        pending: Message | None = {
            "type": "http.request",
            "body": b"".join(chunks),
            "more_body": False,
        }

        async def replay() -> Message:
            nonlocal pending
            if pending is None:
                return await receive()
            message, pending = pending, None
            return message

        return replay


async def _too_large(send: Send, limit: int) -> None:
    message = f"The request body is larger than {limit} bytes; send fewer secrets per batch."
    body = json.dumps({"error": {"code": "PayloadTooLarge", "message": message}}).encode()
    headers = [
        _JSON,
        (b"content-length", str(len(body)).encode()),
        _NO_STORE,
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
