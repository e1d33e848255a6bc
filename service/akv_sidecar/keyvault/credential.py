"""The Azure credential the sidecar uses, built from ``credential.kind``.

Every kind comes from ``azure.identity.aio``; the caller closes the credential on shutdown.
"""

from __future__ import annotations

from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import (
    AzureCliCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from akv_sidecar.config.loading import read_secret_setting
from akv_sidecar.config.schema import CredentialConfig
from akv_sidecar.core.errors import ConfigError

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
    secret, where = read_secret_setting(
        config.client_secret_file, config.client_secret_env, "credential.client_secret", source
    )
    if not secret:
        raise ConfigError(f"Invalid value for '{where}' in {source}: the client secret is empty.")
    return secret
