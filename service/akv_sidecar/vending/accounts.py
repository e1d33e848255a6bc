"""The storage accounts and scopes of the config, checked against the rest of it, and the account
keys added to what the cache prefetches and refreshes.

An account key is one more Key Vault secret: prefetched at start and refreshed on the cache's
schedule, so a SAS never waits on Key Vault and a rotated key is picked up with no restart.
"""

from __future__ import annotations

import dataclasses

from akv_sidecar.config.schema import Config, StorageAccountConfig, VaultConfig
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.vending.scope import loopback_http

__all__ = ["with_account_keys"]


def with_account_keys(config: Config) -> Config:
    """``config`` with each account's key secret in its vault's ``secrets``; a ConfigError naming
    the key when an account names a vault that is not configured, or is given twice."""
    vaults = {vault.name.lower(): vault for vault in config.vaults}
    keys: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, account in enumerate(config.storage.accounts):
        path = f"storage.accounts[{index}]"
        _check_account(account, path, seen, config.source)
        vault = vaults.get(account.key.vault.lower())
        if vault is None:
            known = ", ".join(sorted(v.name for v in config.vaults)) or "none"
            raise ConfigError(
                f"Invalid value for '{path}.key.vault' in {config.source}: the sidecar has no "
                f"vault named '{account.key.vault}' (configured: {known}); add it under 'vaults' "
                "so the account key can be fetched and kept fresh."
            )
        keys.setdefault(vault.name.lower(), []).append(account.key.secret)
    for index, scope in enumerate(config.tokens.scopes):
        if not scope.strip() or any(char.isspace() for char in scope):
            raise ConfigError(
                f"Invalid value for 'tokens.scopes[{index}]' in {config.source}: a scope is one "
                "word such as https://storage.azure.com/.default."
            )
    if not keys:
        return config
    return dataclasses.replace(
        config,
        vaults=tuple(
            _prefetching(vault, keys.get(vault.name.lower(), [])) for vault in config.vaults
        ),
    )


def _prefetching(vault: VaultConfig, names: list[str]) -> VaultConfig:
    if not names:
        return vault
    return dataclasses.replace(
        vault, secrets=tuple(vault.names_with(names)) + (("*",) if vault.lists_all else ())
    )


def _check_account(account: StorageAccountConfig, path: str, seen: set[str], source: str) -> None:
    if account.name in seen:
        raise ConfigError(
            f"Invalid value for '{path}.name' in {source}: the storage account "
            f"'{account.name}' is configured twice."
        )
    seen.add(account.name)
    endpoint = account.endpoint
    if endpoint is not None and not (endpoint.startswith("https://") or loopback_http(endpoint)):
        raise ConfigError(
            f"Invalid value for '{path}.endpoint' in {source}: use https://, or http:// only "
            "to this machine (127.0.0.1, localhost or ::1, as for Azurite)."
        )
