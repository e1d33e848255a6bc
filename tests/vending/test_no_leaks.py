"""No SAS or access token the sidecar hands out shows anywhere but in its answer: not in the
audit lines, logs, metrics, status or readiness pages, nor in a grant's repr; and only the vending
layer imports the Azure Storage SDK."""

from __future__ import annotations

import ast
import contextlib
import io
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from akv_emulator import Emulator
from akv_sidecar.vending.outcomes import SasGrant, TokenGrant
from tests._leaks import assert_not_leaked, credential_forms

from .conftest import account, audit_lines, serve

SERVICE = Path(__file__).resolve().parents[2] / "service" / "akv_sidecar"
LOOPBACK = "http://127.0.0.1:10000/devstoreaccount1"


def test_credentials_stay_out_of_every_other_output(
    seeded: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a SAS and a token were handed out (and a few refused), /metrics, /v1/status and
    /readyz hold neither, and the audit lines name both without them."""
    with serve(seeded, tmp_path, [account(endpoint=LOOPBACK)]) as api:
        sas = api.sas(container="lake", permissions="rl").json()["sas_token"]
        token = api.token().json()["access_token"]
        assert api.sas(container="Nope", permissions="rl").status_code == 400
        assert api.token("https://example.com/.default").status_code == 404
        pages = [
            httpx.get(f"{api.sidecar.url}{path}", headers=api.headers()).text
            for path in ("/metrics", "/v1/status", "/readyz")
        ]
    assert "/v1/storage/sas" in pages[0]  # the metrics count the route, by its template
    output = capsys.readouterr().out
    assert len(audit_lines(output, "sas issued")) == len(audit_lines(output, "token issued")) == 1
    assert len(audit_lines(output, "sas refused")) == len(audit_lines(output, "token refused")) == 1
    assert_not_leaked("".join(pages) + output, [*credential_forms(sas), token])


def test_no_credential_leaves_without_its_audit_line(seeded: Emulator, tmp_path: Path) -> None:
    """When the audit stream is broken a SAS or token is refused with 503 AuditUnavailable,
    while refusals are still answered as themselves (not as 500s)."""
    broken = io.StringIO()
    with ExitStack() as stack:
        with contextlib.redirect_stdout(broken):  # the stream the sidecar's audit log writes to
            api = stack.enter_context(serve(seeded, tmp_path, [account(endpoint=LOOPBACK)]))
        broken.close()
        for answer in (api.sas(container="lake", permissions="rl"), api.token()):
            assert (answer.status_code, answer.json()["error"]["code"]) == (503, "AuditUnavailable")
        refused = api.sas(container="Nope", permissions="rl")
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "InvalidName")
        assert api.signatures == 1  # signed, then withheld


def test_grants_keep_their_credential_out_of_repr() -> None:
    """A grant in a log line or a failed assertion shows names and times only."""
    sas = SasGrant("acct", "lake", None, "rl", "sv=x&sig=SECRETSIG", 1.0, 2.0)
    token = TokenGrant("scope", "SECRETTOKEN", 2.0, 1.0)
    assert "SECRETSIG" not in repr(sas)
    assert "SECRETTOKEN" not in repr(token)
    assert "lake" in repr(sas)


def storage_importers() -> set[str]:
    """The service's modules that import azure.storage."""
    found = set()
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(name == "azure.storage" or name.startswith("azure.storage.") for name in names):
                found.add(str(path.relative_to(SERVICE)))
    return found


def test_only_vending_imports_azure_storage() -> None:
    """import-linter cannot confine a subpackage of an external package, so this does: the
    Azure Storage SDK is imported by vending/ alone (and is, by its SAS module)."""
    importers = storage_importers()
    assert "vending/sas.py" in importers
    assert {path for path in importers if not path.startswith("vending/")} == set()
