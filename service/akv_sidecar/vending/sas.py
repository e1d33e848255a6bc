"""Service SAS: signed with the account key the cache holds, by the Azure Storage SDK's own
generators, and reused while more than a third of its life is left.

A SAS is kept per (account, container, path, permissions, lifetime, key version): a thousand
executors asking for one scope cost one signature, and a rotated key (a new version in the cache)
gets new SAS signed with it at once, the old ones simply no longer looked up. Reading the key is
the only await; looking the SAS up, signing and storing it happen without one, so callers that
waited for the same key fetch find the SAS the first of them signed (no second signature).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from akv_sidecar.cache.cache import SecretCache
from akv_sidecar.cache.outcomes import Declined
from akv_sidecar.cache.store import Entry
from akv_sidecar.config.schema import StorageAccountConfig
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.core.clock import Clock
from akv_sidecar.keyvault.outcomes import Failed
from akv_sidecar.vending.outcomes import Problem, Refused, SasGrant
from akv_sidecar.vending.scope import loopback_http

__all__ = ["CLOCK_SKEW", "SasVendor"]

# A SAS starts this long before it is signed: a storage service whose clock is a little ahead
# would otherwise refuse it as not yet valid.
CLOCK_SKEW = 300
_MAX_KEPT = 10_000  # scopes; the least recently signed go first
_MIN_KEY_BYTES = 16

_SasKey = tuple[str, str, str | None, str, float, str]  # account, container, path, perms, ttl, key


class SasVendor:
    """Signs SAS for the configured storage accounts; ``signatures`` counts what it signed."""

    def __init__(
        self, accounts: tuple[StorageAccountConfig, ...], cache: SecretCache, clock: Clock
    ) -> None:
        self._accounts = {account.name: account for account in accounts}
        self._cache = cache
        self._clock = clock
        self._issued: BoundedMap[_SasKey, SasGrant] = BoundedMap(_MAX_KEPT)
        self.signatures = 0

    def account(self, name: str) -> StorageAccountConfig | None:
        return self._accounts.get(name)

    async def issue(
        self,
        account: StorageAccountConfig,
        container: str,
        path: str | None,
        permissions: str,
        ttl: float,
    ) -> SasGrant | Refused:
        """A SAS for the scope, reused or newly signed with the account key's current version."""
        vault = self._cache.vault(account.key.vault)
        assert vault is not None, "with_account_keys checked the vault at start"
        read = await self._cache.read(vault, account.key.secret)
        if isinstance(read, Failed | Declined):
            return _key_unavailable(account.name, read)
        entry = read[0]
        scope: _SasKey = (account.name, container, path, permissions, ttl, _key_id(entry))
        now = self._clock.time()
        issued = self._issued.get(scope)
        if issued is not None and issued.reusable(now):
            return issued
        signed = self._sign(account, container, path, permissions, ttl, entry, now)
        if isinstance(signed, SasGrant):
            self._issued[scope] = signed
        return signed

    def _sign(
        self,
        account: StorageAccountConfig,
        container: str,
        path: str | None,
        permissions: str,
        ttl: float,
        entry: Entry,
        now: float,
    ) -> SasGrant | Refused:
        key = _account_key(entry)
        if key is None:
            return Refused(
                Problem.KEY_INVALID,
                f"the Key Vault secret holding account '{account.name}''s key is not a base64 "
                "storage account key",
            )
        # Whole seconds: the SAS carries st and se to the second, and expires_on must equal se.
        start, expiry = _utc(int(now) - CLOCK_SKEW), _utc(int(now + ttl))
        protocol = "https,http" if loopback_http(account.endpoint) else "https"
        token = _generate(account, container, path, permissions, key, start, expiry, protocol)
        self.signatures += 1
        return SasGrant(account.name, container, path, permissions, token, now, expiry.timestamp())


def load_generators() -> None:
    """Import the Azure Storage SDK's SAS generators (~60 ms, ~4 MiB): only a sidecar with
    storage accounts calls this, off the prefetch's way; the first SAS imports them otherwise."""
    import azure.storage.blob
    import azure.storage.filedatalake  # noqa: F401


def _generate(
    account: StorageAccountConfig,
    container: str,
    path: str | None,
    permissions: str,
    key: str,
    start: datetime,
    expiry: datetime,
    protocol: str,
) -> str:
    """The SDK's generator for the scope: sr=c on a blob account, sr=c or sr=d with HNS."""
    # Imported when first needed: a sidecar that vends no SAS never loads Azure Storage.
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    from azure.storage.filedatalake import (
        DirectorySasPermissions,
        FileSystemSasPermissions,
        generate_directory_sas,
        generate_file_system_sas,
    )

    if not account.hns:
        return generate_container_sas(
            account.name,
            container,
            account_key=key,
            permission=ContainerSasPermissions.from_string(permissions),
            expiry=expiry,
            start=start,
            protocol=protocol,
        )
    if path is None:
        return generate_file_system_sas(
            account.name,
            container,
            credential=key,
            permission=FileSystemSasPermissions.from_string(permissions),
            expiry=expiry,
            start=start,
            protocol=protocol,
        )
    return generate_directory_sas(
        account.name,
        container,
        path,
        credential=key,
        permission=DirectorySasPermissions.from_string(permissions),
        expiry=expiry,
        start=start,
        protocol=protocol,
    )


def _key_id(entry: Entry) -> str:
    """Which key signed: the secret and its version (a rotation is a new version)."""
    return f"{entry.vault.lower()}/{entry.name.lower()}/{entry.version}"


def _account_key(entry: Entry) -> str | None:
    """The key held in the cached secret, if it is base64 of a key's length."""
    # The store keeps a secret as its prebuilt response body; the value is one field of it.
    value = json.loads(entry.body_prefix + b"}").get("value")
    if not isinstance(value, str):
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return value.strip() if len(decoded) >= _MIN_KEY_BYTES else None


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _key_unavailable(account: str, unserved: Failed | Declined) -> Refused:
    if isinstance(unserved, Failed):
        detail, retry = f"{unserved.kind.value}: {unserved.detail}", unserved.retry_after
    else:
        detail, retry = unserved.refusal.value, unserved.retry_after
    return Refused(
        Problem.KEY_UNAVAILABLE,
        f"the key of account '{account}' is not available ({detail})",
        retry,
    )
