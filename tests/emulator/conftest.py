"""SDK clients wired to the emulator: real azure-keyvault-secrets over HTTPS, real azure-identity
managed identity against the emulator's token endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from azure.identity import ManagedIdentityCredential
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient

from akv_emulator import Emulator

ClientFactory = Callable[..., SecretClient]
AsyncClientFactory = Callable[..., AsyncSecretClient]


def request_token(emu: Emulator) -> httpx.Response:
    """The emulator's managed-identity token answer for Key Vault, as a client sees it raw."""
    return httpx.get(
        emu.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://vault.azure.net"},
        headers={"X-IDENTITY-HEADER": emu.identity_header},
    )


@pytest.fixture
def make_client(emulator: Emulator, identity_env: dict[str, str]) -> Iterator[ClientFactory]:
    """Build sync SecretClients for an emulator vault; keyword arguments go to the client."""
    opened: list[tuple[SecretClient, ManagedIdentityCredential]] = []

    def make(vault: str = "kv1", **kwargs: Any) -> SecretClient:
        credential = ManagedIdentityCredential()
        client = SecretClient(
            emulator.vault_url(vault),
            credential,
            verify_challenge_resource=False,
            connection_verify=emulator.ca_file,
            **kwargs,
        )
        opened.append((client, credential))
        return client

    yield make
    for client, credential in opened:
        client.close()
        credential.close()


@pytest.fixture
async def make_async_client(
    emulator: Emulator, identity_env: dict[str, str]
) -> AsyncIterator[AsyncClientFactory]:
    """Build async SecretClients for an emulator vault; keyword arguments go to the client."""
    opened: list[tuple[AsyncSecretClient, AsyncManagedIdentityCredential]] = []

    def make(vault: str = "kv1", **kwargs: Any) -> AsyncSecretClient:
        credential = AsyncManagedIdentityCredential()
        client = AsyncSecretClient(
            emulator.vault_url(vault),
            credential,
            verify_challenge_resource=False,
            connection_verify=emulator.ca_file,
            **kwargs,
        )
        opened.append((client, credential))
        return client

    yield make
    for client, credential in opened:
        await client.close()
        await credential.close()
