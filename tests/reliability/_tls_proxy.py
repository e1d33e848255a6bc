"""A TCP proxy in front of the emulator's vault port that can turn into a TLS failure.

Forwarding, it pipes bytes both ways (TLS stays end to end between the sidecar and the emulator).
Switched to ``untrusted``, it drops every open connection and answers new ones itself with a
certificate from a CA the sidecar does not trust, so the sidecar's handshakes fail as they would
behind a misconfigured TLS-inspecting proxy.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from akv_emulator._tls import write_certificates

_IDLE_S = 0.2


class TlsFailureProxy:
    def __init__(self, upstream: tuple[str, int], cert_dir: Path) -> None:
        self._upstream = upstream
        self._untrusted = write_certificates(cert_dir).server_context()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.settimeout(_IDLE_S)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.untrusted = False

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}"

    def fail_tls(self, failing: bool) -> None:
        """Switch the TLS failure on or off; open connections are dropped either way."""
        self.untrusted = failing
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def __enter__(self) -> TlsFailureProxy:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.fail_tls(self.untrusted)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        sock.settimeout(_IDLE_S)
        with self._lock:
            self._open.add(sock)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(client)
            if self.untrusted:
                self._spawn(self._refuse_handshake, client)
            else:
                self._spawn(self._forward, client)

    def _refuse_handshake(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            client.settimeout(5)
            self._untrusted.wrap_socket(client, server_side=True).close()
        _close(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream, timeout=5)
        except OSError:
            _close(client)
            return
        self._track(upstream)
        self._spawn(self._pump, upstream, client)
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            for chunk in _chunks(source, self._stopping):
                target.sendall(chunk)
        _close(source)
        _close(target)


def _chunks(sock: socket.socket, stopping: threading.Event) -> Iterator[bytes]:
    while not stopping.is_set():
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return
        yield chunk


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
