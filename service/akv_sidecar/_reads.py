"""Serving a read: the one implementation behind the fast path, the GET route and the batch.

``fast`` answers a cache hit synchronously or says "not here" (None), leaving misses and every
error to the async ``read``, which validates names, checks access and fetches through the cache.
Every read, answered or refused, appends one record for the audit log and metrics.
"""

from __future__ import annotations

import asyncio
import json
import time

from ._auth import Authenticator, Caller
from ._cache import Hit, SecretCache
from ._clock import Clock
from ._config import SECRET_NAME, VAULT_NAME, VERSION, VaultConfig
from ._exceptions import ApiError
from ._records import ReadRecord, Records

__all__ = ["BatchItem", "Reads", "cache_headers", "error_body"]

BatchItem = tuple[str, str, str | None]  # vault, name, version
_CACHE_STATUS = {status: status.encode() for status in ("hit", "miss", "stale")}


def cache_headers(age: float, status: str) -> list[tuple[bytes, bytes]]:
    """The headers that describe where a served value came from."""
    return [(b"x-cache", _CACHE_STATUS[status]), (b"age", str(int(age)).encode())]


def error_body(error: ApiError) -> dict[str, dict[str, str]]:
    return {"error": {"code": error.code, "message": error.message}}


class Reads:
    def __init__(
        self, auth: Authenticator, cache: SecretCache, records: Records, clock: Clock
    ) -> None:
        self._auth = auth
        self._cache = cache
        self._records = records
        self._clock = clock

    def fast(
        self, authorization: str | None, vault: str, name: str, client: str
    ) -> tuple[bytes, Hit] | None:
        """A cache hit for an authorised caller, or None to take the full path."""
        started = time.perf_counter()
        caller = self._auth.identify(authorization)
        if caller is None:
            return None
        vault, name = vault.lower(), name.lower()
        if not self._auth.allowed(caller, vault, name):
            return None
        hit = self._cache.lookup(vault, name)
        if hit is None:
            return None
        entry, age, status = hit
        body = entry.render(age, status == "stale")
        self._records.add(
            ReadRecord(
                self._clock.time(),
                caller.name,
                entry.vault,
                entry.name,
                entry.version,
                "ok",
                status,
                time.perf_counter() - started,
                client,
            )
        )
        return body, hit

    def caller(self, authorization: str | None) -> Caller:
        return self._auth.authenticate(authorization)

    async def read(
        self, caller: Caller, vault: str, name: str, version: str | None, client: str
    ) -> tuple[bytes, Hit]:
        """The secret's body and where it came from; an ApiError for anything else."""
        return await self._serve(caller, vault, name, version, client, refresh=False)

    async def refresh(
        self, caller: Caller, vault: str, name: str, client: str
    ) -> tuple[bytes, Hit]:
        """Fetch the secret from Key Vault now (rate-limited per secret)."""
        return await self._serve(caller, vault, name, None, client, refresh=True)

    async def batch(self, caller: Caller, items: list[BatchItem], client: str) -> bytes:
        """``{"results": [...]}`` in request order; failures are per item."""

        async def one(vault: str, name: str, version: str | None) -> bytes:
            try:
                body, _ = await self.read(caller, vault, name, version, client)
            except ApiError as error:
                return json.dumps({"vault": vault, "name": name, **error_body(error)}).encode()
            return body

        parts = await asyncio.gather(*(one(*item) for item in items))
        return b'{"results":[' + b",".join(parts) + b"]}"

    async def _serve(
        self,
        caller: Caller,
        vault: str,
        name: str,
        version: str | None,
        client: str,
        *,
        refresh: bool,
    ) -> tuple[bytes, Hit]:
        started = time.perf_counter()
        try:
            config = self._resolve(caller, vault, name, version)
            if refresh:
                hit = await self._cache.refresh(config, name)
            else:
                hit = await self._cache.read(config, name, version)
        except ApiError as error:
            self._record(caller, vault, name, version, error.code, "none", started, client)
            raise
        entry, age, status = hit
        self._record(caller, entry.vault, entry.name, entry.version, "ok", status, started, client)
        return entry.render(age, status == "stale"), hit

    def _resolve(self, caller: Caller, vault: str, name: str, version: str | None) -> VaultConfig:
        if not VAULT_NAME.match(vault):
            raise ApiError(
                400,
                "InvalidName",
                f"'{vault[:64]}' is not a Key Vault name: use 3-24 letters, digits and single "
                "hyphens, starting with a letter.",
            )
        if not SECRET_NAME.match(name):
            raise ApiError(
                400,
                "InvalidName",
                f"'{name[:64]}' is not a secret name: use 1-127 letters, digits and hyphens.",
            )
        if version is not None and not VERSION.match(version):
            raise ApiError(
                400,
                "InvalidName",
                "A secret version is 32 hexadecimal characters; check ?version=.",
            )
        config = self._cache.vault(vault)
        if config is None:
            raise ApiError(
                404,
                "VaultNotConfigured",
                f"The sidecar has no vault named '{vault}'; add it under 'vaults' in its "
                "configuration or fix the vault name.",
            )
        self._auth.authorize(caller, vault, name)
        return config

    def _record(
        self,
        caller: Caller,
        vault: str,
        name: str,
        version: str | None,
        outcome: str,
        cache: str,
        started: float,
        client: str,
    ) -> None:
        latency = time.perf_counter() - started
        record = ReadRecord(
            self._clock.time(), caller.name, vault, name, version, outcome, cache, latency, client
        )
        self._records.add(record)
