"""Fixtures for the vending tests: the sidecar over the Key Vault emulator with storage accounts
and token scopes, callers of different reach, and the scan for every credential minted.

Every SAS and access token a test receives comes through ``Api``, which registers it; after each
test no log record, audit line or other captured output may contain any of them, nor any account
key or caller token the test made (Azurite's published development key is the one exception).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from akv_emulator import Emulator
from akv_sidecar.core.clock import Clock
from akv_sidecar.testing import RunningSidecar, emulator_config, run_sidecar
from tests._leaks import credential_forms, scan_output
from tests.client.azurite import ACCOUNT, DEV_KEY

__all__ = [
    "ACCOUNT",
    "DEV_KEY",
    "KEY_SECRET",
    "STORAGE_SCOPE",
    "Api",
    "account",
    "audit_lines",
    "new_key",
    "serve",
]

KEY_SECRET = "azurite-key"  # the emulator's secret holding the account key
STORAGE_SCOPE = "https://storage.azure.com/.default"
MINTED: set[str] = set()  # every SAS (and its sig) and access token received, and private keys


def new_key() -> str:
    """A random storage account key (64 bytes, base64), registered for the scan."""
    key = base64.b64encode(secrets.token_bytes(64)).decode()
    MINTED.add(key)
    return key


def account(name: str = ACCOUNT, secret: str = KEY_SECRET, **settings: Any) -> dict[str, Any]:
    """A storage.accounts entry whose key is the emulator's secret ``secret`` in kv1."""
    return {"name": name, "key": {"vault": "kv1", "secret": secret}, **settings}


@pytest.fixture(autouse=True)
def no_credential_in_output(
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """After each test: no minted SAS, sig, token or private key in any log record or in
    stdout/stderr (where the audit lines go), even output the test read itself."""
    with scan_output(caplog, capsys, monkeypatch, MINTED):
        yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Tell the run how many credentials the scan covered."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if MINTED and reporter is not None:
        reporter.write_line(f"vending leak scan: {len(MINTED)} minted credentials never logged")


@pytest.fixture
def seeded(emulator: Emulator, identity_env: dict[str, str]) -> Emulator:
    """The emulator with Azurite's development key stored as kv1/azurite-key."""
    emulator.set_secret("kv1", KEY_SECRET, DEV_KEY)
    return emulator


def vending_config(
    emulator: Emulator,
    tmp_path: Path,
    accounts: list[dict[str, Any]],
    scopes: tuple[str, ...] = (STORAGE_SCOPE,),
    callers: tuple[dict[str, Any], ...] = (),
    **sections: Any,
) -> tuple[dict[str, Any], dict[str, str]]:
    """A sidecar config with these storage accounts and scopes, the caller "tests" (allow "*")
    and ``callers`` (name, allow, allow_permissions); and each caller's token by name."""
    config = emulator_config(
        emulator, tmp_path, storage={"accounts": accounts}, tokens={"scopes": list(scopes)},
        **sections,
    )  # fmt: skip
    tokens = {"tests": (tmp_path / "token").read_text(encoding="utf-8")}
    for caller in callers:
        token = tokens[caller["name"]] = secrets.token_urlsafe(32)
        token_file = tmp_path / f"token-{caller['name']}"
        token_file.write_text(token, encoding="utf-8")
        config["auth"]["tokens"].append({**caller, "token_file": str(token_file)})
    MINTED.update(tokens.values())
    return config, tokens


@contextmanager
def serve(
    emulator: Emulator,
    tmp_path: Path,
    accounts: list[dict[str, Any]],
    *,
    clock: Clock | None = None,
    **options: Any,
) -> Iterator[Api]:
    """A running sidecar for ``vending_config(...)``, as an Api. Called in the test body, not in a
    fixture: the sidecar writes audit lines to the stdout of the phase that built it, and pytest
    closes the setup phase's captured stdout before the test runs."""
    config, tokens = vending_config(emulator, tmp_path, accounts, **options)
    with run_sidecar(config, clock=clock, rand=lambda: 1.0) as sidecar:
        yield Api(sidecar, tokens)


class Api:
    """Calls to a running sidecar as one of its callers; every credential received joins the
    leak scan before the test sees it."""

    def __init__(self, sidecar: RunningSidecar, tokens: dict[str, str]) -> None:
        self.sidecar = sidecar
        self.tokens = tokens

    def headers(self, caller: str = "tests") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    def sas(self, caller: str = "tests", **body: Any) -> httpx.Response:
        """POST /v1/storage/sas with ``body`` (account defaults to Azurite's)."""
        body.setdefault("account", ACCOUNT)
        answer = httpx.post(
            f"{self.sidecar.url}/v1/storage/sas", json=body, headers=self.headers(caller)
        )
        return remember(answer)

    def token(self, scope: str = STORAGE_SCOPE, caller: str = "tests") -> httpx.Response:
        answer = httpx.post(
            f"{self.sidecar.url}/v1/tokens", json={"scope": scope}, headers=self.headers(caller)
        )
        return remember(answer)

    @property
    def signatures(self) -> int:
        """SAS the sidecar signed so far (not counting reused ones)."""
        return self.sidecar.sidecar.vending.sas.signatures

    def post_many(self, path: str, body: dict[str, Any], count: int) -> list[tuple[int, Any]]:
        """``count`` concurrent POSTs over 100 connections: (status, JSON body) of each. aiohttp,
        not httpx: httpx's async pool slows to ~25 ms a request with a thousand waiting."""

        async def post_all() -> list[tuple[int, Any]]:
            connector = aiohttp.TCPConnector(limit=100)
            async with aiohttp.ClientSession(headers=self.headers(), connector=connector) as http:

                async def post() -> tuple[int, Any]:
                    async with http.post(f"{self.sidecar.url}{path}", json=body) as answer:
                        return answer.status, await answer.json()

                return list(await asyncio.gather(*(post() for _ in range(count))))

        answers = asyncio.run(post_all())
        for status, document in answers:
            register(status, document)
        return answers


def remember(answer: httpx.Response) -> httpx.Response:
    """Register the SAS or token in a 200 answer for the leak scan; returns the answer."""
    register(answer.status_code, answer.json() if answer.status_code == 200 else None)
    return answer


def register(status: int, document: Any) -> None:
    if status == 200:
        for field in ("sas_token", "access_token"):
            if field in document:
                MINTED.update(credential_forms(document[field]))


def audit_lines(output: str, message: str) -> list[dict[str, Any]]:
    """The JSON audit lines in ``output`` with this message ("sas issued", "token refused")."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == message]
