"""The Azure credential the sidecar uses, built from ``credential.kind``.

Every kind comes from ``azure.identity.aio``; the caller closes the credential on shutdown.
"""

from __future__ import annotations

import os
from pathlib import Path

from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import (
    AzureCliCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from ._config import CredentialConfig
from ._exceptions import ConfigError

__all__ = ["VAULT_SCOPE", "build_credential"]

VAULT_SCOPE = "https://vault.azure.net/.default"


def build_credential(config: CredentialConfig, source: str = "<dict>") -> AsyncTokenCredential:
    """The async credential for ``config``; errors name the key and ``source``."""
    kind = config.kind
    if kind == "managed_identity":
        if config.client_id:
            return ManagedIdentityCredential(client_id=config.client_id)
        return ManagedIdentityCredential()
    if kind == "workload_identity":
        return _workload_identity(config, source)
    if kind == "client_secret":
        assert config.tenant_id
        assert config.client_id
        return ClientSecretCredential(
            config.tenant_id, config.client_id, _client_secret(config, source)
        )
    if kind == "azure_cli":
        return AzureCliCredential(tenant_id=config.tenant_id or "")
    return DefaultAzureCredential(managed_identity_client_id=config.client_id)


def _workload_identity(config: CredentialConfig, source: str) -> AsyncTokenCredential:
    try:
        return WorkloadIdentityCredential(
            tenant_id=config.tenant_id,
            client_id=config.client_id,
            token_file_path=config.token_file,
        )
    except ValueError:
        raise ConfigError(
            f"Invalid value for 'credential' in {source}: kind workload_identity needs tenant_id, "
            "client_id and token_file (or AZURE_TENANT_ID, AZURE_CLIENT_ID and "
            "AZURE_FEDERATED_TOKEN_FILE, which Azure Workload Identity sets)."
        ) from None


def _client_secret(config: CredentialConfig, source: str) -> str:
    if config.client_secret_file:
        try:
            secret = Path(config.client_secret_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"Invalid value for 'credential.client_secret_file' in {source}: cannot read "
                f"{config.client_secret_file} ({error.strerror})."
            ) from None
        where = "credential.client_secret_file"
    else:
        secret = os.environ.get(config.client_secret_env or "", "").strip()
        where = "credential.client_secret_env"
    if not secret:
        raise ConfigError(f"Invalid value for '{where}' in {source}: the client secret is empty.")
    return secret
