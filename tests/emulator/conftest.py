"""SDK clients wired to the emulator: real azure-keyvault-secrets over HTTPS, real azure-identity
managed identity against the emulator's token endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential
from azure.keyvault.secrets import SecretClient
from azure.keyvault.secrets.aio import SecretClient as AsyncSecretClient

from akv_emulator import Emulator

ClientFactory = Callable[..., SecretClient]
AsyncClientFactory = Callable[..., AsyncSecretClient]


@pytest.fixture
def make_client(emulator: Emulator, identity_env: dict[str, str]) -> Iterator[ClientFactory]:
    """Build sync SecretClients for an emulator vault; keyword arguments go to the client."""
    opened: list[tuple[SecretClient, ManagedIdentityCredential]] = []

    def make(vault: str = "kv1", emu: Emulator = emulator, **kwargs: Any) -> SecretClient:
        credential = ManagedIdentityCredential()
        client = SecretClient(
            emu.vault_url(vault),
            credential,
            verify_challenge_resource=False,
            connection_verify=emu.ca_file,
            **kwargs,
        )
        opened.append((client, credential))
        return client

    yield make
    for client, credential in opened:
        client.close()
        credential.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SecretClient:
    """A sync SecretClient for vault kv1 with the SDK's default retry policy."""
    return make_client()


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
