"""The emulator's means of reproducing what breaks clients: any Retry-After text, a vault that lags
behind the SDK's API version, error messages of any shape, a rotated CA; and its admin counters.
Every check goes through the unmodified SDK or plain HTTP."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.core.rest import HttpResponse
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from akv_emulator import Emulator

from .conftest import ClientFactory


def _throttled_header(client: SecretClient) -> str:
    """The Retry-After header of the 429 the client gets."""
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("a")
    assert caught.value.status_code == 429
    response = caught.value.response
    assert isinstance(response, HttpResponse)
    return str(response.headers["Retry-After"])


@pytest.mark.parametrize("text", ["inf", "nan", "1e9", "-5", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_retry_after_text_is_sent_as_it_is(
    emulator: Emulator, make_client: ClientFactory, text: str
) -> None:
    """retry_after given as text reaches the client unchanged (what a broken proxy sends)."""
    emulator.set_secret("kv1", "a", "v")
    client = make_client(retry_total=0)
    emulator.inject("kv1", throttle=(0, 60.0), retry_after=text)
    assert _throttled_header(client) == text


def test_retry_after_text_through_admin_and_a_header_break_is_refused(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """POST /admin/faults takes retry_after as text; one with a line break is a 400."""
    emulator.set_secret("kv1", "a", "v")
    client = make_client(retry_total=0)
    with httpx.Client(base_url=emulator.admin_url) as admin:
        bad = admin.post("/admin/faults", json={"throttle": [0, 60], "retry_after": "1\r\nX: y"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "BadParameter"
        good = admin.post("/admin/faults", json={"throttle": [0, 60], "retry_after": "inf"})
        assert good.status_code == 200
    assert _throttled_header(client) == "inf"


def test_an_error_fault_carries_any_message(emulator: Emulator, make_client: ClientFactory) -> None:
    """status/code/message answer that error with that message, newlines and all."""
    emulator.set_secret("kv1", "a", "v")
    client = make_client(retry_total=0)
    emulator.inject("kv1", status=403, code="ForbiddenByFirewall", message="Client\naddress x")
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("a")
    assert caught.value.status_code == 403
    assert caught.value.error is not None
    assert caught.value.error.code == "ForbiddenByFirewall"
    assert caught.value.error.message == "Client\naddress x"


@pytest.fixture
def lagging(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator whose vault speaks only api-version 7.4 and 7.3, with identity env set."""
    with Emulator(vaults=("kv1",), api_versions=("7.4", "7.3")) as emu:
        for name, value in emu.identity_env().items():
            monkeypatch.setenv(name, value)
        emu.set_secret("kv1", "a", "v")
        yield emu


def _client(emulator: Emulator, ca_file: str | None = None, **kwargs: object) -> SecretClient:
    return SecretClient(
        emulator.vault_url("kv1"),
        ManagedIdentityCredential(),
        verify_challenge_resource=False,
        connection_verify=ca_file or emulator.ca_file,
        retry_total=0,
        **kwargs,
    )


def test_api_versions_refuse_the_sdks_newest_as_key_vault_does(lagging: Emulator) -> None:
    """With api_versions, the SDK's default version gets Key Vault's 400 BadParameter; 7.4 works."""
    with _client(lagging) as client, pytest.raises(HttpResponseError) as caught:
        client.get_secret("a")
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "BadParameter"
    assert caught.value.error.message == (
        "The specified version (2026-04-01) is not recognized. "
        "Consider using the latest supported version (7.4)."
    )
    with _client(lagging, api_version="7.4") as client:
        assert client.get_secret("a").value == "v"


def test_api_versions_must_name_one() -> None:
    """An empty api_versions list is refused (None means what Azure accepts)."""
    with pytest.raises(ValueError, match="api_versions"):
        Emulator(api_versions=())


def test_rotated_certificates_need_the_new_ca(
    emulator: Emulator, identity_env: dict[str, str], tmp_path: Path
) -> None:
    """After rotate_certificates the old CA no longer verifies the vault and ca_file's does."""
    emulator.set_secret("kv1", "a", "v")
    old_ca = shutil.copy(emulator.ca_file, tmp_path / "old-ca.pem")
    with _client(emulator, str(old_ca)) as client:
        assert client.get_secret("a").value == "v"
        emulator.rotate_certificates()
        with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get_secret("a")
    assert Path(emulator.ca_file).read_bytes() != Path(old_ca).read_bytes()
    with _client(emulator) as client:
        assert client.get_secret("a").value == "v"


def test_counters_list_is_filtered_like_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /admin/counters?vault=demo lists only demo's counters, and they add up to count."""
    with Emulator(vaults=("demo", "other")) as emu:
        for name, value in emu.identity_env().items():
            monkeypatch.setenv(name, value)
        for vault, reads in (("demo", 1), ("other", 2)):
            emu.set_secret(vault, "a", "v")
            with SecretClient(
                emu.vault_url(vault),
                ManagedIdentityCredential(),
                verify_challenge_resource=False,
                connection_verify=emu.ca_file,
            ) as client:
                for _ in range(reads):
                    client.get_secret("a")
        with httpx.Client(base_url=emu.admin_url) as admin:
            demo = admin.get("/admin/counters", params={"vault": "demo", "op": "get"}).json()
            everything = admin.get("/admin/counters").json()
    assert demo["count"] == 1
    assert demo["counters"] == [
        {"vault": "demo", "op": "get", "secret": "a", "status": 200, "count": 1}
    ]
    assert {"demo", "other"} <= {row["vault"] for row in everything["counters"]}
    assert sum(row["count"] for row in everything["counters"]) == everything["count"]
