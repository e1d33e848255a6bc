"""The baseline: a raw ASGI app that answers every request with one prebuilt response.

It serves exactly the bytes and headers that the sidecar served for the benchmarked secret
(captured by the harness into a JSON file), so the throughput ratio measures the sidecar's own
work and nothing else. ``python -m bench.bare_app --port P --response FILE`` serves it with the
sidecar's own uvicorn settings (``akv_sidecar.server.server.uvicorn_config``).
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# uvicorn adds date itself (and server, unless turned off as the sidecar does).
_SERVER_ADDED = frozenset({"date", "server", "content-length"})


def load_response(path: Path) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body from the captured JSON; content-length recomputed to match."""
    spec = json.loads(path.read_text())
    body = base64.b64decode(spec["body_b64"])
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in spec["headers"]
        if name.lower() not in _SERVER_ADDED
    ]
    headers.append((b"content-length", str(len(body)).encode("latin-1")))
    return int(spec["status"]), headers, body


def make_app(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> ASGIApp:
    """An ASGI app answering every HTTP request with this one response (and accepting lifespan)."""
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    payload: Message = {"type": "http.response.body", "body": body}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send(start)
        await send(payload)

    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the captured response with exactly the sidecar's uvicorn settings."""
    from akv_sidecar import Config
    from akv_sidecar.server.listeners import tcp_socket
    from akv_sidecar.server.server import Server, uvicorn_config

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response", type=Path, required=True, help="the captured JSON file")
    args = parser.parse_args(argv)
    config = Config()
    app = make_app(*load_response(args.response))
    sock = tcp_socket("127.0.0.1", args.port, config.listen.backlog)  # as the sidecar listens
    Server(uvicorn_config(app, config)).run(sockets=[sock])


if __name__ == "__main__":
    main()
