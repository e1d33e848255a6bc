"""Slow and idle connections against the running service: header and idle deadlines, the
connection limit closing idle connections first, and probes answered while every connection is busy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING

import httpx

from bench.adversary import closed_by_server, open_sockets

from .._waiting import wait_for
from .conftest import StartSidecar, bearer, read_answers

if TYPE_CHECKING:
    from akv_emulator import Emulator

HIT = "/v1/vaults/kv1/secrets/bronze"
# A request line and one header, never finished: what a slowloris client sends.
SLOW_START = f"GET {HIT} HTTP/1.1\r\nHost: x\r\n".encode()
SLOW_SOCKETS = 150


def closed_within(sock: socket.socket, timeout: float) -> float | None:
    """Seconds until the server closed ``sock`` (reading past any answer), None if it did not."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def answer(sock: socket.socket, request: bytes) -> bytes:
    """Send one keep-alive request and read its whole answer; returns its head."""
    sock.sendall(request)
    (read,) = read_answers(sock, 1)
    return b"\r\n".join([read.status, *(name + b": " + value for name, value in read.headers)])


def get(path: str, token: str | None = None) -> bytes:
    headers = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode()


def test_slowloris_sockets_neither_fail_probes_nor_stay_open(start: StartSidecar) -> None:
    """With max_connections 100, 150 sockets that sent a request line and one header leave
    /healthz, /readyz and reads answering 200, and are all closed after header_timeout."""
    limits = {"max_connections": 100, "header_timeout": "2s"}
    with (
        start(limits=limits) as sidecar,
        open_sockets(sidecar.port, SLOW_SOCKETS, SLOW_START) as slow,
    ):
        opened = time.monotonic()
        probes = [httpx.get(f"{sidecar.url}{path}").status_code for path in ("/healthz", "/readyz")]
        read = httpx.get(f"{sidecar.url}{HIT}", headers=bearer(sidecar.token))
        still_open = sum(not closed_by_server(sock) for sock in slow)
        answered_after = time.monotonic() - opened
        assert probes == [200, 200]
        assert read.status_code == 200, read.text
        deadline = opened + 6.0  # one bound for all of them
        waited = [closed_within(sock, max(deadline - time.monotonic(), 0.01)) for sock in slow]
        all_closed_after = time.monotonic() - opened
    # The limit is kept by closing the oldest slow sockets at once; the rest wait for the timeout.
    assert answered_after < 1.5, "too slow to show the sockets were still open"
    assert 90 <= still_open <= 100
    assert None not in waited, f"{waited.count(None)} slow sockets were never closed"
    assert 1.5 < all_closed_after < 6.0


def test_a_stalled_request_on_a_kept_alive_connection_meets_header_timeout(
    start: StartSidecar,
) -> None:
    """After an answered request, a connection that starts another and stalls is closed after
    header_timeout (1 s), long before idle_timeout (20 s)."""
    limits = {"header_timeout": "1s", "idle_timeout": "20s"}
    with start(limits=limits) as sidecar, open_sockets(sidecar.port, 1) as (sock,):
        assert answer(sock, get("/healthz")).startswith(b"HTTP/1.1 200")
        time.sleep(0.3)  # idle a while, so the watchdog is mid-period when the request starts
        sock.sendall(SLOW_START)
        closed_after = closed_within(sock, 5.0)
    assert closed_after is not None, "the stalled request was never timed out"
    assert 0.8 < closed_after < 2.0


def test_a_body_sent_slowly_meets_header_timeout_and_can_be_evicted(start: StartSidecar) -> None:
    """A request whose announced body never comes is closed after header_timeout (1 s); and with
    max_connections 3 held by such requests, a new connection still gets its cache hit."""
    slow_body = b"POST /v1/secrets:batch HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    limits = {"header_timeout": "1s", "idle_timeout": "20s", "max_connections": 3}
    with start(limits=limits) as sidecar:
        with open_sockets(sidecar.port, 1, slow_body) as (sock,):
            closed_after = closed_within(sock, 5.0)
        with open_sockets(sidecar.port, 3, slow_body):
            time.sleep(0.2)  # the three are past their headers, waiting for bodies
            hit = httpx.get(f"{sidecar.url}{HIT}", headers=bearer(sidecar.token))
    assert closed_after is not None, "the slow body was never timed out"
    assert 0.8 < closed_after < 2.0
    assert hit.status_code == 200


def test_idle_keep_alive_connections_close_after_idle_timeout(start: StartSidecar) -> None:
    """A kept-alive connection serves requests 0.5 s apart with idle_timeout 1.5 s, then is
    closed once idle for 1.5 s."""
    with (
        start(limits={"idle_timeout": "1.5s"}) as sidecar,
        open_sockets(sidecar.port, 1) as (sock,),
    ):
        for _ in range(3):
            assert answer(sock, get(HIT, sidecar.token)).startswith(b"HTTP/1.1 200")
            time.sleep(0.5)
        assert not closed_by_server(sock)
        closed_after = closed_within(sock, 5.0)
    assert closed_after is not None, "the idle connection was never closed"
    assert 0.7 < closed_after < 2.5  # 1.5 s after the last answer, 0.5 s of which slept above


def test_over_the_limit_the_least_recently_active_idle_connection_goes(
    start: StartSidecar,
) -> None:
    """With max_connections 3, a fourth connection is served and closes the silent connection
    opened first, not an older one that has served requests since it opened."""
    limits = {"max_connections": 3, "header_timeout": "30s"}
    with start(limits=limits) as sidecar, open_sockets(sidecar.port, 1) as (used,):
        assert answer(used, get("/healthz")).startswith(b"HTTP/1.1 200")
        with open_sockets(sidecar.port, 2) as (silent_first, silent_second):
            time.sleep(0.2)  # both accepted before the newcomer
            with open_sockets(sidecar.port, 1) as (newcomer,):
                head = answer(newcomer, get(HIT, sidecar.token))
                closed = wait_for(
                    lambda: closed_within(silent_first, 0.05) is not None, 5, "an eviction"
                )
                kept = [not closed_by_server(sock) for sock in (used, silent_second)]
    assert head.startswith(b"HTTP/1.1 200"), head
    assert closed
    assert kept == [True, True]


def test_probes_answer_while_every_connection_is_busy(start: StartSidecar, kv: Emulator) -> None:
    """With max_connections 2 and both connections waiting on a hanging Key Vault, /healthz and
    /readyz on a third connection answer 200, while a read there gets 429 and is closed."""
    with start(limits={"max_connections": 2}, upstream={"timeout": "8s"}) as sidecar:
        kv.inject(vault="kv1", hang=True)
        results: list[int] = []

        def hanging_read(name: str) -> None:
            url = f"{sidecar.url}/v1/vaults/kv1/secrets/{name}"
            results.append(httpx.get(url, headers=bearer(sidecar.token), timeout=15).status_code)

        threads = [threading.Thread(target=hanging_read, args=(f"absent-{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        try:
            guard = sidecar.server.config.app.app  # the fast path's inner app
            wait_for(lambda: guard.in_flight == 2, timeout=8, what="two reads in flight")
            probes = []
            for path in ("/healthz", "/readyz"):
                # One at a time: a second new connection over the limit would close the first
                # (the least recently active one not serving a request), by design.
                with open_sockets(sidecar.port, 1) as (probe,):
                    probes.append(answer(probe, get(path)).split(b"\r\n", 1)[0])
            with open_sockets(sidecar.port, 1) as (third,):
                third.sendall(get(HIT, sidecar.token))
                third.settimeout(5)
                refused = b""
                # Ends when the sidecar closes it; a reset after the answer arrived ends it too
                # (the close can race the socket's last read on a loaded machine).
                with contextlib.suppress(ConnectionResetError):
                    while chunk := third.recv(4096):
                        refused += chunk
        finally:
            kv.clear_faults()
            for thread in threads:
                thread.join(10)
    assert probes == [b"HTTP/1.1 200 OK"] * 2
    assert refused.startswith(b"HTTP/1.1 429"), refused
    assert b"TooManyRequests" in refused
    assert len(results) == 2
