"""A tiny HTTP server that answers from a script, for client behaviours the real sidecar cannot be
made to show on demand: exact 502/503/504 sequences, a server that trickles its answer one byte at
a time, and a Unix domain socket listener (the sidecar gains one in a later issue).
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None
    trickle: float = 0.0  # seconds between bytes of the whole response, headers included


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class _Script:
    replies: list[Reply]
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def next(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `seen`, not stderr."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, dict(self.headers), _body(raw))
        reply: Reply = self.server.script.next(seen)
        payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        head = (
            f"HTTP/1.1 {reply.status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        if not reply.trickle:
            self.wfile.write(head + payload)
            return
        for byte in head + payload:
            if self.server.script.stopping.is_set():
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(reply.trickle)

    do_GET = _answer
    do_POST = _answer


def _body(raw: bytes) -> Any:
    """JSON bodies decoded; others (a form-encoded token request) kept as text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def get_request(self) -> tuple[socket.socket, Any]:
        request, _ = super().get_request()
        return request, ("uds", 0)  # BaseHTTPRequestHandler wants a (host, port) address


class ScriptedServer:
    """Serves `replies` in order (the last one repeats) on 127.0.0.1 or on a Unix socket."""

    def __init__(self, replies: Sequence[Reply], *, uds: Path | None = None) -> None:
        self.script = _Script(list(replies))
        self._server: socketserver.BaseServer
        if uds is None:
            self._server = _TCPServer(("127.0.0.1", 0), _Handler)
            self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        else:
            self._server = _UnixServer(str(uds), _Handler)
            self.url = "http://sidecar"
        self._server.script = self.script  # type: ignore[union-attr]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def seen(self) -> list[Seen]:
        return self.script.seen

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.script.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
