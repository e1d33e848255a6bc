"""POST /v1/storage/sas without Azurite: who gets what, bad input as 4xx JSON errors, reuse of one
signature by many callers, and a rotated account key signing the next SAS at once. Signatures are
checked by recomputing them with the Azure Storage SDK's own generators from the same inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from azure.storage.blob import generate_container_sas
from azure.storage.filedatalake import generate_directory_sas, generate_file_system_sas

from akv_emulator import Emulator
from akv_sidecar.core.clock import FakeClock
from tests._waiting import wait_for

from .conftest import ACCOUNT, DEV_KEY, KEY_SECRET, account, audit_lines, new_key, serve

LOOPBACK = "http://127.0.0.1:10000/devstoreaccount1"  # never dialled: it only shapes the SAS


def fields(sas: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(sas).items()}


def recomputed(sas: str, key: str, container: str = "lake") -> str:
    """The container SAS the SDK signs with ``key`` for the same inputs as ``sas``."""
    got = fields(sas)
    return generate_container_sas(
        ACCOUNT, container, account_key=key, permission=got["sp"], expiry=got["se"],
        start=got["st"], protocol=got["spr"])  # fmt: skip


def test_sas_is_signed_with_the_account_key_by_the_sdk(
    seeded: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The answer's fields, and a SAS equal to the SDK's own for the same inputs and key, with
    start minutes back, HTTPS and HTTP on a loopback endpoint, and one audit line."""
    with serve(seeded, tmp_path, [account(endpoint=LOOPBACK)]) as api:
        answer = api.sas(container="lake", permissions="lr")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"account", "container", "path", "permissions", "sas_token", "expires_on"}
    assert (body["account"], body["container"], body["path"]) == (ACCOUNT, "lake", None)
    assert body["permissions"] == "rl"  # Azure's order
    sas = body["sas_token"]
    assert sas == recomputed(sas, DEV_KEY)
    got = fields(sas)
    assert (got["sr"], got["sp"], got["spr"]) == ("c", "rl", "https,http")
    assert body["expires_on"] == got["se"].replace("Z", ".000Z")
    (line,) = audit_lines(capsys.readouterr().out, "sas issued")
    assert {k: line[k] for k in ("caller", "account", "container", "path", "permissions")} == {
        "caller": "tests", "account": ACCOUNT, "container": "lake", "path": None,
        "permissions": "rl"}  # fmt: skip
    assert (line["expires_on"], line["outcome"]) == (body["expires_on"], "ok")


def test_hns_account_signs_directory_and_container_sas(seeded: Emulator, tmp_path: Path) -> None:
    """With hns: true a path gives a directory SAS (sr=d, sdd=2) and none a container SAS, both as
    the SDK's datalake generators sign them; 'o' and 'p' are allowed; HTTPS only."""
    key = new_key()
    seeded.set_secret("kv1", "hns-key", key)
    with serve(seeded, tmp_path, [account("lakehns", "hns-key", hns=True)]) as api:
        directory = api.sas(account="lakehns", container="lake", path="/tables/orders/",
                            permissions="rlop").json()  # fmt: skip
        container = api.sas(account="lakehns", container="lake", permissions="rl").json()
    assert directory["path"] == "tables/orders"
    got = fields(directory["sas_token"])
    assert (got["sr"], got["sdd"], got["sp"], got["spr"]) == ("d", "2", "rlop", "https")
    assert directory["sas_token"] == generate_directory_sas(
        "lakehns", "lake", "tables/orders", credential=key, permission="rlop",
        expiry=got["se"], start=got["st"], protocol="https")  # fmt: skip
    got = fields(container["sas_token"])
    assert (got["sr"], got["spr"]) == ("c", "https")
    assert container["sas_token"] == generate_file_system_sas(
        "lakehns", "lake", credential=key, permission="rl", expiry=got["se"], start=got["st"],
        protocol="https")  # fmt: skip


CALLERS = (
    {"name": "lake-only", "allow": [f"storage/{ACCOUNT}/lake"]},
    {"name": "reader", "allow": ["storage/*"], "allow_permissions": "rl"},
    {"name": "secrets-only", "allow": ["kv1/*"]},
    # Patterns written for secrets, which fnmatch would also match against storage/...: no SAS.
    {"name": "broad-secrets", "allow": ["*/lake", "*devstore*", "*/*/*"]},
)


def test_allow_and_permission_ceiling_decide_who_gets_what(
    seeded: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """allow covers storage/<account>/<container> (only patterns starting with storage/ count);
    allow_permissions makes a caller read-only; every refusal is a 403 JSON error, audited, and
    costs no signature."""
    with serve(seeded, tmp_path, [account(endpoint=LOOPBACK)], callers=CALLERS) as api:
        asked = {
            ("lake-only", "lake", "rl"): 200,
            ("lake-only", "bronze", "rl"): 403,
            ("secrets-only", "lake", "rl"): 403,
            ("broad-secrets", "lake", "rl"): 403,
            ("reader", "bronze", "rl"): 200,
            ("reader", "bronze", "l"): 200,
            ("reader", "bronze", "rw"): 403,
            ("reader", "bronze", "racwdl"): 403,
        }
        answers = {
            ask: api.sas(caller=ask[0], container=ask[1], permissions=ask[2]) for ask in asked
        }
        assert {ask: answer.status_code for ask, answer in answers.items()} == asked
        codes = {answers[ask].json()["error"]["code"] for ask in asked if asked[ask] == 403}
        assert codes == {"Forbidden", "PermissionsNotAllowed"}
        assert "at most 'rl'" in answers["reader", "bronze", "rw"].json()["error"]["message"]
        assert api.signatures == 3
    refused = audit_lines(capsys.readouterr().out, "sas refused")
    assert sorted((line["caller"], line["outcome"]) for line in refused) == [
        ("broad-secrets", "Forbidden"), ("lake-only", "Forbidden"),
        ("reader", "PermissionsNotAllowed"), ("reader", "PermissionsNotAllowed"),
        ("secrets-only", "Forbidden")]  # fmt: skip


BAD_REQUESTS: list[tuple[dict[str, Any], int, str]] = [
    ({"container": "Lake", "permissions": "rl"}, 400, "InvalidName"),
    ({"container": "ab", "permissions": "rl"}, 400, "InvalidName"),
    ({"container": "a--b", "permissions": "rl"}, 400, "InvalidName"),
    ({"container": "-lake", "permissions": "rl"}, 400, "InvalidName"),
    ({"container": "l" * 64, "permissions": "rl"}, 400, "InvalidName"),
    ({"container": "lake", "permissions": "rx"}, 400, "InvalidPermissions"),
    ({"container": "lake", "permissions": ""}, 400, "InvalidPermissions"),
    ({"container": "lake", "permissions": "rlo"}, 400, "InvalidPermissions"),
    ({"container": "lake", "permissions": "rl", "ttl": "2h"}, 400, "InvalidTtl"),
    ({"container": "lake", "permissions": "rl", "ttl": 0}, 400, "InvalidTtl"),
    ({"container": "lake", "permissions": "rl", "ttl": "soon"}, 400, "InvalidTtl"),
    ({"container": "lake", "permissions": "rl", "ttl": 10**400}, 400, "InvalidTtl"),
    ({"container": "lake", "permissions": "rl", "path": "tables"}, 400, "PathNeedsHns"),
    ({"account": "nosuchaccount", "container": "lake", "permissions": "rl"}, 404,
     "AccountNotConfigured"),
    ({"account": "Not_An_Account", "container": "lake", "permissions": "rl"}, 400, "InvalidName"),
    ({"container": "lake", "permissions": "rl", "scope": "x"}, 422, "InvalidRequest"),
    ({"container": "lake"}, 422, "InvalidRequest"),
    ({"container": "lake", "permissions": "rl", "ttl": True}, 422, "InvalidRequest"),
    ({"container": ["lake"], "permissions": "rl"}, 422, "InvalidRequest"),
]  # fmt: skip
HNS_BAD_PATHS = ["a/../b", "a//b", "./a", "a\\b", "a\nb", "x/" * 600]


def test_bad_requests_are_4xx_json_errors(seeded: Emulator, tmp_path: Path) -> None:
    """Every malformed, unknown or out-of-range request is a 4xx {"error": {code, message}}
    naming the problem, never a 500, and signs nothing."""
    accounts = [account(endpoint=LOOPBACK), account("lakehns", hns=True)]
    with serve(seeded, tmp_path, accounts) as api:
        answers = [(api.sas(**body), status, code) for body, status, code in BAD_REQUESTS]
        answers += [
            (api.sas(account="lakehns", container="lake", permissions="rl", path=path), 400,
             "InvalidName") for path in HNS_BAD_PATHS]  # fmt: skip
        url = f"{api.sidecar.url}/v1/storage/sas"
        json_headers = {**api.headers(), "Content-Type": "application/json"}
        answers += [
            (httpx.post(url, content=b"{not json", headers=json_headers), 400, "MalformedBody"),
            (httpx.post(url, json={"container": "lake", "permissions": "rl"}), 401,
             "Unauthenticated"),
            (httpx.post(url, json={"container": "lake", "permissions": "rl"},
                        headers={"Authorization": "Bearer " + "x" * 32}), 403, "Forbidden"),
        ]  # fmt: skip
        for answer, status, code in answers:
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)
            assert set(answer.json()) == {"error"}
            assert set(answer.json()["error"]) == {"code", "message"}
        assert api.signatures == 0


def test_thousand_concurrent_requests_cost_one_signature(
    seeded: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1,000 concurrent requests for one scope: one signature, one SAS for all, no Key Vault call
    beyond the key's prefetch, and one audit line each."""
    with serve(seeded, tmp_path, [account(endpoint=LOOPBACK)]) as api:
        body = {"account": ACCOUNT, "container": "lake", "permissions": "rl"}
        answers = api.post_many("/v1/storage/sas", body, 1000)
        assert [status for status, _ in answers] == [200] * 1000
        tokens = {document["sas_token"] for _, document in answers}
        assert len(tokens) == 1
        for token in tokens:
            assert token == recomputed(token, DEV_KEY)
        assert api.signatures == 1
        assert seeded.calls(vault="kv1", op="get", secret=KEY_SECRET) == 1
    assert len(audit_lines(capsys.readouterr().out, "sas issued")) == 1000


def test_sas_is_reused_while_a_third_of_its_life_is_left(seeded: Emulator, tmp_path: Path) -> None:
    """A 90 s SAS is handed out again up to 60 s after signing, a new one after that; other
    permissions or lifetimes are other SAS (on a FakeClock, exactly)."""
    clock = FakeClock()
    with serve(seeded, tmp_path, [account(endpoint=LOOPBACK, max_ttl="90s")], clock=clock) as api:
        first = api.sas(container="lake", permissions="rl").json()["sas_token"]
        clock.advance(59.5)
        assert api.sas(container="lake", permissions="rl").json()["sas_token"] == first
        assert api.signatures == 1
        clock.advance(1.0)
        second = api.sas(container="lake", permissions="rl").json()["sas_token"]
        assert second != first
        assert fields(second)["se"] > fields(first)["se"]
        assert api.signatures == 2
        assert api.sas(container="lake", permissions="r").json()["sas_token"] != second
        assert api.sas(container="lake", permissions="rl", ttl=30).json()["sas_token"] != second
        assert api.signatures == 4


def test_rotated_key_signs_the_next_sas_without_restart(seeded: Emulator, tmp_path: Path) -> None:
    """A new key version in Key Vault, picked up by the scheduled refresh: the next SAS is signed
    with the new key (the SDK recomputes it with the new key, not the old), no restart."""
    clock = FakeClock()
    settings = {"cache": {"refresh_interval": "60s"}}
    with serve(seeded, tmp_path, [account(endpoint=LOOPBACK)], clock=clock, **settings) as api:
        before = api.sas(container="lake", permissions="rl").json()["sas_token"]
        assert before == recomputed(before, DEV_KEY)
        store = api.sidecar.sidecar.cache.store
        version = store.get(("kv1", KEY_SECRET)).version  # type: ignore[union-attr]
        rotated = new_key()
        seeded.set_secret("kv1", KEY_SECRET, rotated)
        clock.advance(60)
        wait_for(lambda: store.get(("kv1", KEY_SECRET)).version != version,  # type: ignore[union-attr]
                 what="the refreshed key")  # fmt: skip
        after = api.sas(container="lake", permissions="rl").json()["sas_token"]
        assert fields(after)["sig"] != fields(before)["sig"]
        assert after == recomputed(after, rotated)
        assert after != recomputed(after, DEV_KEY)
        assert api.signatures == 2
        assert seeded.calls(vault="kv1", op="get", secret=KEY_SECRET) == 2


def test_key_problems_are_json_errors_without_the_key(seeded: Emulator, tmp_path: Path) -> None:
    """An account whose key secret is missing answers 503 KeyUnavailable; one whose secret is no
    base64 key answers 502 KeyInvalid; neither message holds the secret's value."""
    junk = "not a key " + new_key()[:20]
    seeded.set_secret("kv1", "junk-key", junk)
    accounts = [account("nokey", "missing-key"), account("junkkey", "junk-key")]
    with serve(seeded, tmp_path, accounts) as api:
        missing = api.sas(account="nokey", container="lake", permissions="rl")
        invalid = api.sas(account="junkkey", container="lake", permissions="rl")
        assert (missing.status_code, missing.json()["error"]["code"]) == (503, "KeyUnavailable")
        assert (invalid.status_code, invalid.json()["error"]["code"]) == (502, "KeyInvalid")
        assert junk not in invalid.text
        assert "not_found" in missing.json()["error"]["message"]
        assert api.signatures == 0
