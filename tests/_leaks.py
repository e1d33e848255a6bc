"""The leak check each test folder runs: no secret value in any log record or captured output.

pytest's ``caplog.records`` holds only the current phase's records, so a check made at fixture
teardown must gather every phase; and a record's ``extra=`` fields reach the log file too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, quote

import pytest

__all__ = [
    "assert_not_leaked",
    "credential_forms",
    "logged_text",
    "scan_output",
    "watch_logs",
]

# The tests' own HTTP client logs every URL it calls, the webhook's ?code= included: that is the
# caller's log, not the sidecar's, so it is not scanned.
_TEST_CLIENT_LOGGERS = ("httpx", "httpcore")


def watch_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Record every logger from INFO and the project's own from DEBUG, for the whole test."""
    caplog.set_level(logging.INFO)
    for logger in ("akv_sidecar", "akv_client"):
        caplog.set_level(logging.DEBUG, logger=logger)


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record of setup, call and teardown: message, extra fields and traceback."""
    records = [
        *caplog.get_records("setup"),
        *caplog.get_records("call"),
        *caplog.get_records("teardown"),
    ]
    return "\n".join(
        record.getMessage()
        + repr(record.__dict__)
        + (caplog.handler.format(record) if record.exc_info else "")
        for record in records
        if not record.name.startswith(_TEST_CLIENT_LOGGERS)
    )


def assert_not_leaked(text: str, values: Iterable[str]) -> None:
    """Fail naming how many values appeared in ``text`` (never the values themselves)."""
    leaked = sum(1 for value in values if value in text)
    assert not leaked, f"{leaked} secret value(s) leaked into logs or output"


def credential_forms(credential: str) -> list[str]:
    """What to scan for when a test minted ``credential`` (a SAS query string or an access
    token): the whole of it and, for a SAS, its signature as sent and as decoded (a SAS without
    its sig is harmless; the sig alone is what must never show)."""
    forms = [credential]
    for signature in parse_qs(credential).get("sig", []):
        forms += [signature, quote(signature, safe="")]
    return forms


@contextmanager
def scan_output(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    values: Iterable[str],
) -> Iterator[None]:
    """Around one test: afterwards, none of ``values`` (read then, so values registered during
    the test count) in any log record or in stdout/stderr, even output the test read itself."""
    watch_logs(caplog)
    printed: list[str] = []
    read = capsys.readouterr

    def read_and_keep() -> pytest.CaptureResult[str]:
        captured = read()
        printed.extend(captured)
        return captured

    monkeypatch.setattr(capsys, "readouterr", read_and_keep)
    yield
    read_and_keep()
    assert_not_leaked("".join(printed) + logged_text(caplog), values)
