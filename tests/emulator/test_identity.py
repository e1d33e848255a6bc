"""The managed-identity endpoint serves azure-identity's App Service source unmodified."""

from __future__ import annotations

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from akv_emulator import Emulator

from .conftest import request_token

_SCOPE = "https://vault.azure.net/.default"


def test_managed_identity_credential_gets_a_token(
    emulator: Emulator, identity_env: dict[str, str]
) -> None:
    """ManagedIdentityCredential() fetches a token from the emulator, once, then caches it."""
    with ManagedIdentityCredential() as credential:
        token = credential.get_token(_SCOPE)
        assert token.token
        assert token.expires_on > 0
        assert credential.get_token(_SCOPE).token == token.token
    assert emulator.calls(vault="identity", op="token", status=200) == 1


async def test_async_managed_identity_credential(
    emulator: Emulator, identity_env: dict[str, str]
) -> None:
    """The async ManagedIdentityCredential fetches a token from the emulator too."""
    async with AsyncManagedIdentityCredential() as credential:
        assert (await credential.get_token(_SCOPE)).token
    assert emulator.calls(vault="identity", op="token", status=200) == 1


def test_default_azure_credential_reads_a_secret(
    emulator: Emulator, identity_env: dict[str, str]
) -> None:
    """DefaultAzureCredential picks the emulator's managed identity and the SDK reads a secret."""
    emulator.set_secret("kv1", "via-dac", "ok")
    with (
        DefaultAzureCredential() as credential,
        SecretClient(
            emulator.vault_url("kv1"),
            credential,
            verify_challenge_resource=False,
            connection_verify=emulator.ca_file,
        ) as client,
    ):
        assert client.get_secret("via-dac").value == "ok"
    assert emulator.calls(vault="identity", op="token", status=200) == 1


def test_identity_failure_switch(emulator: Emulator, identity_env: dict[str, str]) -> None:
    """fail_identity(500) makes token requests fail; fail_identity(None) restores them."""
    emulator.fail_identity(500)
    with (
        ManagedIdentityCredential(retry_total=0) as credential,
        pytest.raises(ClientAuthenticationError),
    ):
        credential.get_token(_SCOPE)
    assert emulator.calls(vault="identity", op="token", status=500) >= 1
    emulator.fail_identity(None)
    with ManagedIdentityCredential() as credential:
        assert credential.get_token(_SCOPE).token


def test_identity_refused(emulator: Emulator, identity_env: dict[str, str]) -> None:
    """fail_identity(refuse=True) closes the token port; credentials then fail to connect."""
    emulator.fail_identity(None, refuse=True)
    with (
        ManagedIdentityCredential(retry_total=0) as credential,
        pytest.raises(ServiceRequestError),
    ):
        credential.get_token(_SCOPE)
    emulator.fail_identity(None)
    with ManagedIdentityCredential() as credential:
        assert credential.get_token(_SCOPE).token


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, {"api-version": "2019-08-01", "resource": "https://vault.azure.net"}, 400),
        ({"X-IDENTITY-HEADER": "wrong"}, {"api-version": "2019-08-01", "resource": "r"}, 401),
        ({"X-IDENTITY-HEADER": None}, {"api-version": "2017-09-01", "resource": "r"}, 400),
        ({"X-IDENTITY-HEADER": None}, {"api-version": "2019-08-01"}, 400),
    ],
)
def test_token_request_validation(
    emulator: Emulator, headers: dict[str, str | None], params: dict[str, str], status: int
) -> None:
    """Missing or wrong header, wrong api-version or no resource are rejected with JSON."""
    sent = {k: v if v is not None else emulator.identity_header for k, v in headers.items()}
    answer = httpx.get(emulator.identity_endpoint, headers=sent, params=params)
    assert answer.status_code == status
    assert answer.json()["statusCode"] == status


def test_token_response_shape(emulator: Emulator) -> None:
    """The token answer has App Service's fields: access_token, expires_on, resource, ..."""
    answer = request_token(emulator).json()
    assert set(answer) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert answer["token_type"] == "Bearer"
    assert answer["resource"] == "https://vault.azure.net"
    assert int(answer["expires_on"]) > 0
