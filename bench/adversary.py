"""``python -m bench.adversary``: the adversarial checks, run against a real sidecar and emulator.

Each check is something an earlier adversarial run broke (issue #12): hostile ``Retry-After``
values, slowloris connections, one caller spending a vault's throttle budget on made-up names,
ambiguous or relayed requests, oversized and malformed bodies, redirects built from ``Host``,
and status pages showing a caller more than it may read. Every check talks real sockets and
HTTP to the sidecar, which talks HTTPS to the emulator through the real SDK.

The checks are also run by ``make test`` (``tests/reliability/test_adversary.py``), and the
pieces they are built from (``slowloris``, ``retry_after_storm``) by the reliability soak, so a
change is run through all of them again. Every loop here is bounded in count and time, and
talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import httpx

from akv_emulator import Emulator
from akv_sidecar.testing import RunningSidecar, emulator_config, run_sidecar

VAULT = "kv1"
HOT = "bronze"  # prefetched and served from the cache throughout
HOSTILE_RETRY_AFTER = ("inf", "nan", "1e9", "-5", "99999999999", "Fri, 31 Dec 9999 23:59:59 GMT")
SLOW_START = f"GET /v1/vaults/{VAULT}/secrets/{HOT} HTTP/1.1\r\nHost: x\r\n".encode()
MAX_SLOW_SOCKETS = 200  # the bound the workplace and the issue set for slowloris runs
BACKOFF_MAX = 2.0  # cache.backoff_max of the sidecar under test: no wait may exceed it
HEADER_TIMEOUT = 2.0
LIMITS = {
    "max_connections": 100,
    "header_timeout": f"{HEADER_TIMEOUT:g}s",
    "upstream_rate": 20,
    "upstream_burst": 50,
}


@dataclass(frozen=True)
class Outcome:
    """One check's verdict; ``detail`` names what was seen (never a value or a token)."""

    name: str
    passed: bool
    detail: str


class Target:
    """A running sidecar and its emulator, with the tokens of its three callers."""

    def __init__(self, sidecar: RunningSidecar, emulator: Emulator, tokens: dict[str, str]):
        self.sidecar = sidecar
        self.emulator = emulator
        self.tokens = tokens
        self.http = httpx.Client(base_url=sidecar.url, timeout=10)

    def get(self, path: str, caller: str = "reader", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[caller]}", **kwargs.pop("headers", {})}
        return self.http.request("GET", path, headers=headers, **kwargs)

    def probes(self) -> list[int]:
        return [self.http.get(path).status_code for path in ("/healthz", "/readyz")]


@contextlib.contextmanager
def open_sockets(port: int, count: int, first: bytes = b"") -> Iterator[list[socket.socket]]:
    """``count`` connections to the sidecar, each having sent ``first``; closed afterwards."""
    with ExitStack() as stack:
        opened = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            with contextlib.suppress(OSError):  # the sidecar may already close the oldest
                if first:
                    sock.sendall(first)
            opened.append(sock)
        yield opened


def slowloris(port: int, count: int) -> contextlib.AbstractContextManager[list[socket.socket]]:
    """``count`` (at most 200) connections that send a request line and one header, and stop."""
    return open_sockets(port, min(count, MAX_SLOW_SOCKETS), SLOW_START)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the sidecar closed ``sock`` (EOF or reset), without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True
    finally:
        sock.setblocking(True)


def retry_after_storm(emulator: Emulator, value: str, vault: str = VAULT) -> None:
    """Every Key Vault call of ``vault`` answered 429 with ``Retry-After: value``."""
    emulator.inject(vault=vault, throttle=(0, 3600.0), retry_after=value)


def _check_retry_after(target: Target) -> Outcome:
    worst, answers = 0.0, set()
    for value in HOSTILE_RETRY_AFTER:
        retry_after_storm(target.emulator, value)
        miss = f"/v1/vaults/{VAULT}/secrets/miss-{secrets.token_hex(4)}"
        answers.add(target.get(miss).status_code)
        throttled = target.http.get("/readyz").json().get("throttled", [])
        worst = max([worst, *(item["seconds"] for item in throttled)])
        target.emulator.clear_faults()
        time.sleep(BACKOFF_MAX + 0.2)  # the gate must reopen within backoff_max
        answers.add(target.get(f"/v1/vaults/{VAULT}/secrets/{HOT}").status_code)
    reopened = target.get(f"/v1/vaults/{VAULT}/secrets/miss-after").status_code == 404
    passed = 500 not in answers and worst <= BACKOFF_MAX and reopened
    return Outcome(
        "hostile Retry-After",
        passed,
        f"answers {sorted(answers)}, longest gate {worst:g} s (max {BACKOFF_MAX:g}), "
        f"vault reopened: {reopened}",
    )


def _check_slowloris(target: Target) -> Outcome:
    with slowloris(target.sidecar.port, 150) as slow:
        probes = target.probes()
        read = target.get(f"/v1/vaults/{VAULT}/secrets/{HOT}").status_code
        time.sleep(HEADER_TIMEOUT + 1.0)  # past the header deadline: the sidecar closed them all
        held = sum(not closed_by_server(sock) for sock in slow)
    passed = probes == [200, 200] and read == 200 and held == 0
    return Outcome(
        "slowloris (150 sockets, max 100)",
        passed,
        f"probes {probes}, read {read}, still open after the header deadline: {held}",
    )


def _check_caller_budget(target: Target) -> Outcome:
    before = target.emulator.calls(vault=VAULT, op="get")
    started = time.monotonic()
    statuses = [
        target.get(f"/v1/vaults/{VAULT}/secrets/made-up-{i}", caller="noisy").status_code
        for i in range(200)
    ]
    elapsed = time.monotonic() - started
    calls = target.emulator.calls(vault=VAULT, op="get") - before
    allowed = LIMITS["upstream_burst"] + LIMITS["upstream_rate"] * elapsed + 1
    others = target.get(f"/v1/vaults/{VAULT}/secrets/{HOT}").status_code
    passed = calls <= allowed and statuses.count(429) > 0 and others == 200
    return Outcome(
        "one caller, 200 made-up names",
        passed,
        f"{calls} Key Vault calls in {elapsed:.1f} s (budget {allowed:.0f}), "
        f"{statuses.count(429)} refused, another caller's hit {others}",
    )


def _request_checks(target: Target) -> list[tuple[str, httpx.Response, int]]:
    """(what was sent, the answer, the status it must get) for each hostile request."""
    hit = f"/v1/vaults/{VAULT}/secrets/{HOT}"
    good = f"Bearer {target.tokens['reader']}"
    two = [("Authorization", good), ("Authorization", f"Bearer {target.tokens['restricted']}")]
    batch = "/v1/secrets:batch"
    json_auth = {"Authorization": good, "Content-Type": "application/json"}
    deep = b'{"secrets": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    sent = [
        ("two Authorization headers", target.http.get(hit, headers=two), 400),
        ("a GET with a body over the limit", target.get(hit, content=b"x" * 70_000), 413),
        (
            "a trailing slash with Host: evil.example",
            target.get(hit + "/", headers={"Host": "evil.example"}),
            404,
        ),
        (
            "a batch body of invalid UTF-8",
            target.http.post(batch, content=b'{"\xff"}', headers=json_auth),
            400,
        ),
        (
            "a batch body nested 5,000 deep",
            target.http.post(batch, content=deep, headers=json_auth),
            400,
        ),
    ]
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        sent.append((f"relayed with {header}", target.get(hit, headers={header: "for=x"}), 400))
    return sent


def _check_requests(target: Target) -> list[Outcome]:
    outcomes = []
    for name, response, expected in _request_checks(target):
        passed = response.status_code == expected and "location" not in response.headers
        code = response.json().get("error", {}).get("code") if response.content else None
        outcomes.append(Outcome(name, passed, f"{response.status_code} {code} (want {expected})"))
    return outcomes


def _check_status_visibility(target: Target) -> Outcome:
    rows = target.get("/v1/status", caller="restricted").json()["secrets"]
    names = sorted(row["name"] for row in rows)
    return Outcome("/v1/status for a restricted caller", names == ["silver"], f"sees {names}")


CHECKS: tuple[Callable[[Target], Outcome | list[Outcome]], ...] = (
    _check_requests,
    _check_status_visibility,
    _check_slowloris,
    _check_retry_after,
    _check_caller_budget,
)


def run_checks(target: Target) -> list[Outcome]:
    """Every check against ``target``, in an order where none disturbs the next."""
    outcomes: list[Outcome] = []
    for check in CHECKS:
        result = check(target)
        outcomes += result if isinstance(result, list) else [result]
    return outcomes


@contextlib.contextmanager
def _environment(values: dict[str, str], saved: dict[str, str | None]) -> Iterator[None]:
    """The managed-identity variables pointed at the emulator, then put back as they were."""
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def target(work_dir: Path, audit_stream: TextIO | None = None) -> Iterator[Target]:
    """A fresh emulator (bronze, silver) and a sidecar configured for the checks."""
    saved = {name: os.environ.get(name) for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER")}
    with Emulator(vaults=(VAULT,)) as emulator, _environment(emulator.identity_env(), saved):
        for name in (HOT, "silver"):
            emulator.set_secret(VAULT, name, f"adversary-{name}-{secrets.token_hex(8)}")
        tokens = {name: secrets.token_urlsafe(24) for name in ("reader", "restricted", "noisy")}
        callers = []
        for name, token in tokens.items():
            (work_dir / name).write_text(token)
            allow = ["kv1/silver"] if name == "restricted" else ["*"]
            callers.append({"name": name, "token_file": str(work_dir / name), "allow": allow})
        config = emulator_config(
            emulator,
            work_dir,
            {VAULT: [HOT, "silver"]},
            auth={"tokens": callers},
            limits=LIMITS,
            cache={"refresh_interval": "1h", "backoff_max": f"{BACKOFF_MAX:g}s"},
        )
        with run_sidecar(config, audit_stream=audit_stream) as sidecar:
            checked = Target(sidecar, emulator, tokens)
            try:
                yield checked
            finally:
                checked.http.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adversary", description=__doc__)
    parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="akv-adversary-") as work_dir,
        open(os.devnull, "w") as audit,  # one line per read: thousands, and not the point here
        target(Path(work_dir), audit) as checked,
    ):
        outcomes = run_checks(checked)
    for outcome in outcomes:
        print(f"{'PASS' if outcome.passed else 'FAIL'}  {outcome.name}: {outcome.detail}")
    failed = sum(not outcome.passed for outcome in outcomes)
    print(f"{len(outcomes) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
