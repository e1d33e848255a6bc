"""Cache hits answered in the connection protocol, below ASGI (``server.connections``): the
same bytes as the full path, answers in the order requests were sent (pipelined ones behind a miss
wait their turn), HTTP/1.0 and `Connection: close`, the Unix socket, relayed requests, a client
that does not read, and the uvicorn version the protocol was written against."""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn

from akv_sidecar.core.clock import FakeClock
from akv_sidecar.server.connections import UVICORN_TESTED
from akv_sidecar.testing import emulator_config, run_sidecar
from bench.adversary import open_sockets

from .conftest import Answer, Output, StartSidecar, bearer, read_answers

if TYPE_CHECKING:
    from akv_emulator import Emulator

HIT = "/v1/vaults/kv1/secrets/bronze"
FULL = f"{HIT}?path=full"  # the same hit, on the full path (a query is never a protocol hit)
REPO = Path(__file__).resolve().parents[2]


def request(path: str, token: str, version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/{version}\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{extra}\r\n"
    ).encode()


def rest_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (a hang fails the test)."""
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_pipelined_hits_behind_a_miss_wait_their_turn(start: StartSidecar, kv: Emulator) -> None:
    """A hit, a slow miss, two hits and a full-path hit sent at once come back in that order: the
    first hit is answered in the protocol, the ones behind the miss by the app once it is done."""
    with start() as sidecar, open_sockets(sidecar.port, 1) as (sock,):
        kv.inject(vault="kv1", secret="gold", latency=0.3)
        metrics = sidecar.sidecar.metrics
        before = metrics.fast_hits
        paths = [HIT, "/v1/vaults/kv1/secrets/gold", "/v1/vaults/kv1/secrets/silver", FULL, HIT]
        sock.sendall(b"".join(request(path, sidecar.token) for path in paths))
        answers = read_answers(sock, len(paths))
        in_protocol = metrics.fast_hits - before
        sock.sendall(request(HIT, sidecar.token))  # nothing pending now: the protocol answers
        read_answers(sock, 1)
        in_protocol_after = metrics.fast_hits - before
    assert [json.loads(answer.body)["name"] for answer in answers] == [
        "bronze",
        "gold",
        "silver",
        "bronze",
        "bronze",
    ]
    assert [answer.header(b"x-cache") for answer in answers] == [b"hit", b"miss"] + [b"hit"] * 3
    assert in_protocol == 1
    assert in_protocol_after == 2


@pytest.mark.parametrize(
    ("version", "extra"), [("1.0", ""), ("1.1", "Connection: close\r\n")], ids=["http-1.0", "close"]
)
def test_a_last_request_gets_connection_close_on_both_paths(
    start: StartSidecar, version: str, extra: str
) -> None:
    """An HTTP/1.0 hit, or one sent with `Connection: close`, is answered with `connection: close`
    and the connection closed, in the protocol as on the full path; a request pipelined after it
    gets no answer."""
    with start() as sidecar:
        metrics = sidecar.sidecar.metrics
        seen = {}
        for path in (HIT, FULL):
            with open_sockets(sidecar.port, 1) as (sock,):
                before = metrics.fast_hits
                sock.sendall(request(path, sidecar.token, version, extra))
                sock.sendall(request(HIT, sidecar.token))
                (answer,) = read_answers(sock, 1)
                seen[path] = (answer, rest_until_closed(sock), metrics.fast_hits - before)
    for path, expected_fast in ((HIT, 1), (FULL, 0)):
        answer, rest, fast = seen[path]
        assert answer.status == b"HTTP/1.1 200 OK"
        assert answer.header(b"connection") == b"close", path
        assert (rest, fast) == (b"", expected_fast), path


def test_nothing_pipelined_after_a_last_hit_is_served(
    start: StartSidecar, kv: Emulator, output: Output
) -> None:
    """An HTTP/1.0 keep-alive hit is the connection's last answer: a hit and a miss sent with it
    in one packet are neither answered, audited nor fetched from Key Vault, as on the full path."""
    with start() as sidecar, open_sockets(sidecar.port, 1) as (sock,):
        metrics = sidecar.sidecar.metrics
        before = metrics.fast_hits
        sock.sendall(
            request(HIT, sidecar.token, "1.0", "Connection: keep-alive\r\n")
            + request(HIT, sidecar.token)
            + request("/v1/vaults/kv1/secrets/gold", sidecar.token)
        )
        (answer,) = read_answers(sock, 1)
        rest = rest_until_closed(sock)
        lines = output.audit_lines(2, timeout=1.0)  # only one comes
        fast = metrics.fast_hits - before
    assert answer.header(b"connection") == b"close"
    assert (rest, fast) == (b"", 1)
    assert [line["secret"] for line in lines] == ["bronze"]
    assert kv.calls(vault="kv1", op="get", secret="gold") == 0


def test_an_error_in_the_protocols_hit_path_leaves_the_request_to_the_app(
    start: StartSidecar, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the hit path is logged with its traceback and the app answers the request, not
    uvicorn's 400 for a malformed request (which would blame the caller and hide the error)."""
    with start() as sidecar:
        hits = sidecar.server.config.app.hits

        def broken(*_: object) -> None:
            raise RuntimeError("made up")

        monkeypatch.setattr(hits, "_fast", broken)
        response = httpx.get(f"{sidecar.url}{HIT}", headers=bearer(sidecar.token))
    assert (response.status_code, response.headers["x-cache"]) == (200, "hit")
    assert any("made up" in str(record.exc_info) for record in caplog.records)


def test_a_protocol_hit_sends_the_full_paths_headers_and_body(
    kv: Emulator, tmp_path: Path, output: Output
) -> None:
    """At the same age a hit answered in the protocol and one on the full path carry the same
    status, headers (Date included) and body; keep-alive hits all count as served requests."""
    config = emulator_config(kv, tmp_path, secrets={"kv1": ["bronze"]})
    output.private.append((tmp_path / "token").read_text(encoding="utf-8"))
    with (
        run_sidecar(config, clock=FakeClock()) as sidecar,
        open_sockets(sidecar.port, 1) as (sock,),
    ):
        served = sidecar.server.server_state.total_requests
        before = sidecar.sidecar.metrics.fast_hits
        sock.sendall(request(HIT, sidecar.token) * 3 + request(FULL, sidecar.token))
        *hits, full = read_answers(sock, 4)
        in_protocol = sidecar.sidecar.metrics.fast_hits - before
        served = sidecar.server.server_state.total_requests - served
    assert (in_protocol, served) == (3, 4)
    for answer in (*hits, full):
        assert answer.status == b"HTTP/1.1 200 OK"
        assert re.fullmatch(
            rb"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", answer.header(b"date") or b""
        )
        assert answer.header(b"cache-control") == b"no-store"
    for hit in hits:
        assert _without_date(hit) == _without_date(full)
        assert hit.body == full.body


def _without_date(answer: Answer) -> list[tuple[bytes, bytes]]:
    """Headers in any order, less Date (a second may tick between two answers)."""
    return sorted(header for header in answer.headers if header[0] != b"date")


def test_hits_on_the_unix_socket_are_answered_in_the_protocol(
    start: StartSidecar, output: Output, tmp_path: Path
) -> None:
    """On listen.uds a hit is answered in the protocol and audited with client "unix"."""
    path = tmp_path / "sidecar.sock"
    with start(listen={"host": "127.0.0.1", "port": 0, "uds": str(path)}) as sidecar:
        before = sidecar.sidecar.metrics.fast_hits
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport, base_url="http://sidecar") as client:
            response = client.get(HIT, headers=bearer(sidecar.token))
        in_protocol = sidecar.sidecar.metrics.fast_hits - before
        (line,) = output.audit_lines(1)
    assert response.status_code == 200
    assert in_protocol == 1
    assert (line["secret"], line["client"]) == ("bronze", "unix")


def test_a_relayed_hit_takes_the_full_path_when_relays_are_allowed(
    start: StartSidecar, output: Output
) -> None:
    """With limits.forwarded_for allow, a hit sent with X-Forwarded-For is answered by the app,
    which names the relayed client in the audit line; the same hit sent directly stays in the
    protocol and names the peer."""
    with start(limits={"forwarded_for": "allow"}) as sidecar:
        metrics = sidecar.sidecar.metrics
        relayed = {**bearer(sidecar.token), "X-Forwarded-For": "192.0.2.7"}
        before = metrics.fast_hits
        assert httpx.get(f"{sidecar.url}{HIT}", headers=relayed).status_code == 200
        after_relayed = metrics.fast_hits - before
        assert httpx.get(f"{sidecar.url}{HIT}", headers=bearer(sidecar.token)).status_code == 200
        after_direct = metrics.fast_hits - before
        lines = output.audit_lines(2)
    assert (after_relayed, after_direct) == (0, 1)
    assert [line["client"] for line in lines] == ["192.0.2.7", "127.0.0.1"]


def test_a_client_that_does_not_read_is_held_back_and_still_answered_in_order(
    start: StartSidecar, kv: Emulator, output: Output
) -> None:
    """600 pipelined hits of a 20 KB secret (12 MB of answers) from a client that reads nothing
    for a while: once the connection's buffers are full the next go through uvicorn's flow
    control (answered by the app, in turn), and every answer arrives, in order."""
    count = 600  # 12 MB: more than the kernel buffers for a connection (4 MiB here, tcp_wmem)
    value = secrets.token_hex(10_000)
    output.private.append(value)
    kv.set_secret("kv1", "large", value)
    path = "/v1/vaults/kv1/secrets/large"
    with start() as sidecar:
        assert httpx.get(f"{sidecar.url}{path}", headers=bearer(sidecar.token)).status_code == 200
        metrics = sidecar.sidecar.metrics
        before = metrics.fast_hits
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window
            sock.connect(("127.0.0.1", sidecar.port))
            sender = threading.Thread(
                target=sock.sendall, args=(request(path, sidecar.token) * count,), daemon=True
            )
            sender.start()
            sender.join(1.0)  # the server stops reading once its answers pile up
            answers = read_answers(sock, count)
            sender.join(10)
        in_protocol = metrics.fast_hits - before
    assert len(answers) == count
    assert all(json.loads(answer.body)["value"] == value for answer in answers)
    assert 0 < in_protocol < count


def test_uvicorn_is_the_version_the_protocol_was_written_against() -> None:
    """server/connections.py relies on uvicorn's HttpToolsProtocol internals: the installed and
    locked uvicorn must be the one it was tested with."""
    locked = {
        name: re.search(r"^uvicorn==(\S+)", (REPO / "locks" / f"{name}.txt").read_text(), re.M)
        for name in ("service", "demo", "test")
    }
    pins = {name: match[1] if match else None for name, match in locked.items()}
    message = (
        f"uvicorn {uvicorn.__version__} installed, locks pin {pins}, but server/connections.py was"
        f" written against {UVICORN_TESTED}: read HttpToolsProtocol's on_message_begin,"
        " on_headers_complete, on_message_complete, on_response_complete and the cycle in the new"
        " version, run tests/ops/test_protocol_hits.py and test_request_checks.py, then move"
        " UVICORN_TESTED"
    )
    assert uvicorn.__version__ == UVICORN_TESTED, message
    assert set(pins.values()) == {UVICORN_TESTED}, message
