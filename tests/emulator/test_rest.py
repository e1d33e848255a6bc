"""Raw HTTP details the SDK hides: api-version checks, challenge header, list bodies, tokens."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from akv_emulator import DEFAULT_TENANT, Emulator

from .conftest import request_token


def _token(emu: Emulator) -> str:
    answer = request_token(emu)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@pytest.fixture
def vault(emulator: Emulator) -> Iterator[httpx.Client]:
    """An httpx client for vault kv1 that carries an emulator-issued bearer token."""
    headers = {"Authorization": f"Bearer {_token(emulator)}"}
    with httpx.Client(
        base_url=emulator.vault_url("kv1"), verify=emulator.client_ssl_context(), headers=headers
    ) as client:
        yield client


def test_challenge_header_names_tenant_and_resource(emulator: Emulator) -> None:
    """Without a token the vault answers 401 with Key Vault's Bearer challenge, counted apart."""
    with httpx.Client(verify=emulator.client_ssl_context()) as client:
        answer = client.get(f"{emulator.vault_url('kv1')}/secrets/x?api-version=7.4")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == (
        f'Bearer authorization="https://login.microsoftonline.com/{DEFAULT_TENANT}", '
        'resource="https://vault.azure.net"'
    )
    assert answer.json()["error"]["code"] == "Unauthorized"
    assert emulator.calls(op="challenge", status=401) == 1
    assert emulator.calls(op="get") == 0


def test_foreign_token_is_rejected(emulator: Emulator) -> None:
    """A token issued by another emulator's identity endpoint gets the 401 challenge."""
    with Emulator(vaults=("other",)) as other:
        foreign = _token(other)
    with httpx.Client(verify=emulator.client_ssl_context()) as client:
        answer = client.get(
            f"{emulator.vault_url('kv1')}/secrets/x?api-version=7.4",
            headers={"Authorization": f"Bearer {foreign}"},
        )
    assert answer.status_code == 401
    assert "WWW-Authenticate" in answer.headers


@pytest.mark.parametrize(
    ("version", "status"),
    [("7.0", 404), ("7.4", 404), ("2025-07-01", 404), ("2026-04-01", 404), ("2027-01-01", 400),
     ("1.0", 400), ("2016-10-01", 400), ("latest", 400), (None, 400)],
)  # fmt: skip
def test_api_version_window(vault: httpx.Client, version: str | None, status: int) -> None:
    """api-version 7.x and dated versions up to 2026-04-01 pass; others get 400 BadParameter."""
    params = {"api-version": version} if version else {}
    answer = vault.get("/secrets/absent", params=params)
    assert answer.status_code == status
    expected = "SecretNotFound" if status == 404 else "BadParameter"
    assert answer.json()["error"]["code"] == expected


def test_list_items_carry_no_values_and_absolute_next_link(
    emulator: Emulator, vault: httpx.Client
) -> None:
    """List pages hold SecretItems without values and an absolute nextLink with a skiptoken."""
    for i in range(3):
        emulator.set_secret("kv1", f"n{i}", "VALUE")
    page = vault.get("/secrets", params={"api-version": "7.4", "maxresults": 2}).json()
    assert [item["id"] for item in page["value"]] == [
        f"{emulator.vault_url('kv1')}/secrets/n0",
        f"{emulator.vault_url('kv1')}/secrets/n1",
    ]
    assert all("value" not in item for item in page["value"])
    assert page["nextLink"].startswith(f"{emulator.vault_url('kv1')}/secrets?")
    assert "$skiptoken=" in page["nextLink"]
    last = vault.get(page["nextLink"]).json()
    assert [item["id"].rsplit("/", 1)[1] for item in last["value"]] == ["n2"]
    assert last["nextLink"] is None


def test_attributes_are_unix_seconds(emulator: Emulator, vault: httpx.Client) -> None:
    """SecretBundle attributes carry integer times and the recovery fields."""
    emulator.set_secret("kv1", "timed", "v", exp=2_000_000_000, nbf=1_000_000_000)
    attributes = vault.get("/secrets/timed/", params={"api-version": "7.4"}).json()["attributes"]
    assert attributes["exp"] == 2_000_000_000
    assert attributes["nbf"] == 1_000_000_000
    assert isinstance(attributes["created"], int)
    assert isinstance(attributes["updated"], int)
    assert attributes["recoveryLevel"] == "Recoverable+Purgeable"
    assert attributes["recoverableDays"] == 90


@pytest.mark.parametrize("maxresults", ["0", "26", "x"])
def test_maxresults_out_of_range(vault: httpx.Client, maxresults: str) -> None:
    """maxresults outside 1..25 is a 400 BadParameter."""
    answer = vault.get("/secrets", params={"api-version": "7.4", "maxresults": maxresults})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadParameter"


def test_set_without_value_and_bad_json(vault: httpx.Client) -> None:
    """A PUT without a string value, or with a body that is not JSON, is a 400 BadParameter."""
    params = {"api-version": "7.4"}
    no_value = vault.put("/secrets/x", params=params, json={"contentType": "a"})
    not_json = vault.put("/secrets/x", params=params, content=b"{nope")
    for answer in (no_value, not_json):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "BadParameter"


def test_unknown_route_is_json_404(vault: httpx.Client) -> None:
    """A path outside the secrets API gets a JSON 404, not an HTML page."""
    answer = vault.get("/keys/k", params={"api-version": "7.4"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NotFound"
