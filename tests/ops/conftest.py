"""Fixtures for the operations tests: a seeded emulator, a sidecar factory, a leak check."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from akv_sidecar.testing import RunningSidecar, emulator_config, run_sidecar

from .._leaks import assert_not_leaked, logged_text, watch_logs

if TYPE_CHECKING:
    from akv_emulator import Emulator

# Made-up values; the leak check looks for each of them in everything the tests captured.
SEEDED = {
    "bronze": "bronze-value-9c41e7a0d2",
    "silver": "silver-value-3b7f0c55e1",
    "gold": "gold-value-a1d4c2b9f7",
}
# The values the push-rotation tests write later; checked for leaks just the same.
ROTATED = {
    "bronze": "bronze-value-rotated-77e1",
    "silver": "silver-value-rotated-2c9d",
}
HOOK_SECRET = "hook-secret-0b5a9e1f"  # the Event Grid webhook's ?code=
StartSidecar = Callable[..., AbstractContextManager[RunningSidecar]]


class Output:
    """Everything the test printed (stdout, where the audit log goes), kept for the leak check."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self.seen: list[str] = []
        # What must never show: the values, the webhook code and each sidecar's caller token.
        self.private = [*SEEDED.values(), *ROTATED.values(), HOOK_SECRET]

    def read(self) -> str:
        captured = self._capsys.readouterr()
        self.seen += [captured.out, captured.err]
        return captured.out

    def audit_lines(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait (bounded) until `count` audit lines were written; they are drained in batches."""
        lines: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(lines) < count and time.monotonic() < deadline:
            for line in self.read().splitlines():
                if line.startswith("{") and '"akv_sidecar.audit"' in line:
                    lines.append(json.loads(line))
            time.sleep(0.05)
        return lines


@pytest.fixture
def output(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Output]:
    """Captured output; afterwards asserts no secret value appeared in it or in any log."""
    watch_logs(caplog)
    captured = Output(capsys)
    yield captured
    captured.read()
    text = "\n".join(captured.seen) + logged_text(caplog)
    assert_not_leaked(text, captured.private)


@pytest.fixture
def kv(emulator: Emulator, identity_env: dict[str, str]) -> Emulator:
    """The emulator with bronze, silver and gold in vault kv1; managed identity pointed at it."""
    for name, value in SEEDED.items():
        emulator.set_secret("kv1", name, value)
    return emulator


@pytest.fixture
def start(kv: Emulator, tmp_path: Path, output: Output) -> StartSidecar:
    """Starts a sidecar prefetching bronze and silver (gold is on demand) with extra sections."""

    def start_sidecar(**sections: Any) -> AbstractContextManager[RunningSidecar]:
        sections.setdefault("cache", {"refresh_interval": "1h"})
        config = emulator_config(kv, tmp_path, secrets={"kv1": ["bronze", "silver"]}, **sections)
        output.private.append((tmp_path / "token").read_text(encoding="utf-8"))
        return run_sidecar(config)

    return start_sidecar


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a caller token."""
    return {"Authorization": f"Bearer {token}"}


class Answer(NamedTuple):
    """One HTTP answer as read off a socket."""

    status: bytes
    headers: list[tuple[bytes, bytes]]  # as sent, names lower-cased
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


def read_answers(sock: socket.socket, count: int) -> list[Answer]:
    """``count`` answers, in the order they arrived (Content-Length framing, as the sidecar's)."""
    sock.settimeout(10)
    data, at, answers = bytearray(), 0, []

    def more() -> None:
        chunk = sock.recv(1 << 20)
        assert chunk, f"closed after {len(answers)} answers"
        data.extend(chunk)

    while len(answers) < count:
        while (end := data.find(b"\r\n\r\n", at)) < 0:
            more()
        status, *lines = bytes(data[at:end]).split(b"\r\n")
        headers = [
            (name.strip().lower(), value.strip())
            for name, value in (line.split(b":", 1) for line in lines)
        ]
        answer = Answer(status, headers, b"")
        at = end + 4
        length = int(answer.header(b"content-length") or 0)
        while len(data) < at + length:
            more()
        answers.append(answer._replace(body=bytes(data[at : at + length])))
        at += length
        if at > 1 << 20:  # drop what was read, now and then: no copy per answer
            del data[:at]
            at = 0
    return answers
