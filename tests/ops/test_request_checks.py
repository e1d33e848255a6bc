"""The request checks give one answer whichever path a request takes: a cache hit answered in the
server's protocol (below ASGI), the full path (the same hit behind the guard and FastAPI), or a miss
fetched from Key Vault."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from akv_sidecar.core.clock import FakeClock
from akv_sidecar.testing import RunningSidecar, emulator_config, run_sidecar

from .conftest import Output

if TYPE_CHECKING:
    from akv_emulator import Emulator

# No budget of Key Vault calls: every case makes misses and fences, more than a burst.
LIMITS = {"max_body_bytes": 1024, "max_headers": 16, "max_header_bytes": 4096, "upstream_rate": 0}
HOT = "bronze"  # prefetched: reads of it are cache hits
WRONG = "wrong-token-0123456789"
StartSidecar = Callable[[], AbstractContextManager[RunningSidecar]]


@dataclass(frozen=True)
class Case:
    """One request: its headers as sent (repeats kept) and its body, if any."""

    name: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None
    chunked: bool = False


def _cases(good: str, restricted: str) -> list[Case]:
    padding = [(f"X-Pad-{index}", "p") for index in range(16)]
    return [
        Case("plain", [("Authorization", f"Bearer {good}")]),
        Case("no token"),
        Case("wrong token", [("Authorization", f"Bearer {WRONG}")]),
        Case("restricted caller", [("Authorization", f"Bearer {restricted}")]),
        Case("lowercase scheme", [("Authorization", f"bearer {good}")]),
        Case("extra spaces", [("Authorization", f"Bearer    {good}")]),
        Case("connection close", [("Authorization", f"Bearer {good}"), ("Connection", "close")]),
        Case(
            "announced empty body", [("Authorization", f"Bearer {good}"), ("Content-Length", "0")]
        ),
        Case("basic scheme", [("Authorization", f"Basic {good}")]),
        Case(
            "two headers, wrong first",
            [
                ("Authorization", f"Bearer {WRONG}"),
                ("Authorization", f"Bearer {good}"),
            ],
        ),
        Case(
            "two headers, restricted first",
            [("Authorization", f"Bearer {restricted}"), ("Authorization", f"Bearer {good}")],
        ),
        Case(
            "the same header twice",
            [("Authorization", f"Bearer {good}"), ("Authorization", f"Bearer {good}")],
        ),
        Case("forwarded", [("Authorization", f"Bearer {good}"), ("X-Forwarded-For", "192.0.2.7")]),
        Case(
            "forwarded, RFC 7239",
            [("Authorization", f"Bearer {good}"), ("Forwarded", "for=192.0.2.7")],
        ),
        Case(
            "forwarded, real ip", [("Authorization", f"Bearer {good}"), ("X-Real-IP", "192.0.2.7")]
        ),
        Case("too many headers", [("Authorization", f"Bearer {good}"), *padding]),
        Case("oversized header", [("Authorization", f"Bearer {good}"), ("X-Big", "b" * 5000)]),
        Case("announced body over the limit", [("Authorization", f"Bearer {good}")], b"x" * 5000),
        Case("announced body within it", [("Authorization", f"Bearer {good}")], b"x" * 10),
        Case(
            "chunked body over the limit",
            [("Authorization", f"Bearer {good}")],
            b"y" * 8192,
            chunked=True,
        ),
        Case("chunked body within it", [("Authorization", f"Bearer {good}")], b"y" * 10, True),
    ]


class Audit:
    """Reads the audit lines of one request, fenced by a sentinel read that is always audited."""

    def __init__(self, output: Output, http: httpx.Client, token: str) -> None:
        self._output = output
        self._http = http
        self._token = token
        self._fences = 0

    def callers_of_last_request(self) -> list[str]:
        self._fences += 1
        fence = f"fence-{self._fences}"
        self._http.get(
            f"/v1/vaults/kv1/secrets/{fence}", headers={"Authorization": f"Bearer {self._token}"}
        )
        lines: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines += [
                json.loads(line)
                for line in self._output.read().splitlines()
                if line.startswith("{") and '"akv_sidecar.audit"' in line
            ]
            if any(line["secret"] == fence for line in lines):
                break
            time.sleep(0.02)
        return [line["caller"] for line in lines[: _index(lines, fence)]]


def _index(lines: list[dict[str, Any]], fence: str) -> int:
    for index, line in enumerate(lines):
        if line["secret"] == fence:
            return index
    raise AssertionError(f"the audit line of {fence} never came")


@pytest.fixture
def callers(tmp_path: Path, output: Output) -> dict[str, str]:
    """Two caller tokens: 'tests' may read everything, 'restricted' only kv1/silver."""
    tokens = {name: secrets.token_urlsafe(24) for name in ("tests", "restricted")}
    output.private += list(tokens.values())
    return tokens


@pytest.fixture
def sidecar(kv: Emulator, tmp_path: Path, callers: dict[str, str]) -> StartSidecar:
    """Starts a sidecar prefetching bronze, with both callers, small limits and a fake clock
    (in the test itself, so its audit lines go to the test's captured output)."""
    tokens = []
    for name, token in callers.items():
        path = tmp_path / f"{name}.token"
        path.write_text(token)
        allow = ["*"] if name == "tests" else ["kv1/silver"]
        tokens.append({"name": name, "token_file": str(path), "allow": allow})
    config = emulator_config(
        kv,
        tmp_path,
        secrets={"kv1": [HOT]},
        auth={"tokens": tokens},
        limits=LIMITS,
        cache={"refresh_interval": "1h", "negative_ttl": "0s"},
    )
    return lambda: run_sidecar(config, clock=FakeClock())


def _send(http: httpx.Client, path: str, case: Case) -> httpx.Response:
    content: Any = case.body
    if case.chunked and case.body is not None:
        body = case.body
        content = iter([body[: len(body) // 2], body[len(body) // 2 :]])
    return http.request("GET", path, headers=case.headers, content=content)


def _answer(response: httpx.Response) -> tuple[int, str | None]:
    code = response.json()["error"]["code"] if response.status_code != 200 else None
    return response.status_code, code


def test_every_request_gets_the_same_answer_on_every_path(
    sidecar: StartSidecar, kv: Emulator, callers: dict[str, str], output: Output
) -> None:
    """Each request of the table gets the same status, error code and audited caller as a hit
    answered in the protocol, as a hit on the full path, and as a miss; admitted ones really took
    each path (only bodiless hits of the plain path are answered in the protocol)."""
    cases = _cases(callers["tests"], callers["restricted"])
    for index in range(len(cases)):
        kv.set_secret("kv1", f"cold-{index}", f"cold-value-{index}-4e1b")
        output.private.append(f"cold-value-{index}-4e1b")
    with sidecar() as running, httpx.Client(base_url=running.url, timeout=10) as http:
        metrics = running.sidecar.metrics
        audit = Audit(output, http, callers["tests"])
        warm = http.get(f"/v1/vaults/kv1/secrets/{HOT}", headers=cases[0].headers)
        assert warm.status_code == 200
        assert audit.callers_of_last_request() == ["tests"]
        for index, case in enumerate(cases):
            answers = {}
            for variant, path in (
                ("protocol", f"/v1/vaults/kv1/secrets/{HOT}"),
                ("full", f"/v1/vaults/kv1/secrets/{HOT}?path=full"),
                ("miss", f"/v1/vaults/kv1/secrets/cold-{index}"),
            ):
                fast_hits = metrics.fast_hits
                asgi_requests = metrics.requests.total()
                response = _send(http, path, case)
                answers[variant] = (*_answer(response), audit.callers_of_last_request())
                in_protocol = metrics.fast_hits > fast_hits
                # The fence read above is one full-path request of its own.
                assert metrics.requests.total() - asgi_requests == 1 + (not in_protocol)
                if response.status_code == 200:
                    expected = {"protocol": "hit", "full": "hit", "miss": "miss"}[variant]
                    assert response.headers["x-cache"] == expected, (case.name, variant)
                    assert in_protocol == (variant == "protocol" and not case.body), case.name
                else:
                    assert not in_protocol, (case.name, variant)
            assert answers["protocol"] == answers["full"] == answers["miss"], (case.name, answers)


def test_expected_answers_of_the_table(sidecar: StartSidecar, callers: dict[str, str]) -> None:
    """The answers themselves: two Authorization headers are 400, limits give 431 and 413."""
    cases = {case.name: case for case in _cases(callers["tests"], callers["restricted"])}
    expected = {
        "plain": (200, None),
        "no token": (401, "Unauthenticated"),
        "wrong token": (403, "Forbidden"),
        "restricted caller": (403, "Forbidden"),
        "lowercase scheme": (200, None),
        "extra spaces": (200, None),
        "connection close": (200, None),
        "announced empty body": (200, None),
        "basic scheme": (401, "Unauthenticated"),
        "two headers, wrong first": (400, "DuplicateAuthorization"),
        "two headers, restricted first": (400, "DuplicateAuthorization"),
        "the same header twice": (400, "DuplicateAuthorization"),
        "forwarded": (400, "ForwardedRequest"),
        "forwarded, RFC 7239": (400, "ForwardedRequest"),
        "forwarded, real ip": (400, "ForwardedRequest"),
        "too many headers": (431, "HeadersTooLarge"),
        "oversized header": (431, "HeadersTooLarge"),
        "announced body over the limit": (413, "PayloadTooLarge"),
        "announced body within it": (200, None),
        "chunked body over the limit": (413, "PayloadTooLarge"),
        "chunked body within it": (200, None),
    }
    assert set(expected) == set(cases)
    with sidecar() as running, httpx.Client(base_url=running.url, timeout=10) as http:
        got = {
            name: _answer(_send(http, f"/v1/vaults/kv1/secrets/{HOT}", case))
            for name, case in cases.items()
        }
    assert got == expected


def test_a_hit_reports_the_same_age_on_both_paths(
    sidecar: StartSidecar, callers: dict[str, str]
) -> None:
    """0.96 s after the fetch both paths say age_seconds 0.9 and Age 0: one rounding rule."""
    headers = {"Authorization": f"Bearer {callers['tests']}"}
    with sidecar() as running, httpx.Client(base_url=running.url, headers=headers) as http:
        clock = running.sidecar.clock
        assert isinstance(clock, FakeClock)
        clock.advance(0.96)
        fast_hits = running.sidecar.metrics.fast_hits
        fast = http.get(f"/v1/vaults/kv1/secrets/{HOT}")
        assert running.sidecar.metrics.fast_hits == fast_hits + 1
        full = http.get(f"/v1/vaults/kv1/secrets/{HOT}?path=full")
    assert fast.json()["age_seconds"] == full.json()["age_seconds"] == 0.9
    assert fast.headers["age"] == full.headers["age"] == "0"
