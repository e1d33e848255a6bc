"""Serving a read: the one implementation behind the fast path, the GET route and the batch.

``fast`` answers a cache hit synchronously or says "not here" (None), leaving misses and every
error to the async ``read``, which validates names, checks access and fetches through the cache.
Every read, answered or refused, appends one record for the audit log and metrics.

A hit's response (body and headers) changes only when the entry is replaced, turns stale, or its
age moves to the next tenth of a second, so ``fast`` keeps the last rendering per secret and most
hits reuse it whole: at tens of thousands of reads a second, rendering per read would dominate.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from time import perf_counter

from starlette.types import Scope

from akv_sidecar.cache.cache import SecretCache
from akv_sidecar.cache.outcomes import Declined, Hit
from akv_sidecar.cache.policy import Spend, TokenBucket
from akv_sidecar.cache.store import Entry, Key, age_tenths
from akv_sidecar.config.fields import SECRET_NAME, VAULT_NAME, VERSION
from akv_sidecar.config.schema import LimitsConfig, VaultConfig
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.core.clock import Clock
from akv_sidecar.http.auth import Authenticator, Caller
from akv_sidecar.http.errors import ApiError, unserved_error
from akv_sidecar.keyvault.outcomes import Failed
from akv_sidecar.ops.records import ReadRecord, Records

__all__ = ["BatchItem", "CallerBudgets", "Reads", "Rendered", "cache_headers", "peer"]

BatchItem = tuple[str, str, str | None]  # vault, name, version
_CACHE_STATUS = {status: status.encode() for status in ("hit", "miss", "stale")}
_new_record = tuple.__new__
_MAX_RENDERINGS = 4096  # hot secrets are few
_HIT_HEADERS = ((b"content-type", b"application/json"), (b"cache-control", b"no-store"))


@dataclass(frozen=True, slots=True)
class Rendered:
    """A hit's response as bytes on the wire after the status line and the server's own headers
    (Date), and what it was rendered from.

    The same bytes go out for every hit until the next rendering: the server's protocol writes
    them to the connection as they are (``server.connections``).
    """

    entry: Entry  # frozen: a value turning stale is a new entry, so this covers staleness too
    tenths: int  # the age it was rendered at, in tenths of a second
    head: bytes = field(repr=False)  # the header lines, each ending in CRLF
    tail: bytes = field(repr=False)  # head, the blank line, the body: holds the secret value

    def closing(self) -> bytes:
        """The tail with `Connection: close` among the headers, for the connection's last answer."""
        return self.head + b"connection: close\r\n" + self.tail[len(self.head) :]


def peer(scope: Scope) -> str:
    """Who made the request, for the audit line: the peer address, or "unix" on the Unix socket
    (which has none)."""
    client = scope.get("client")
    return client[0] if client else "unix"


def cache_headers(tenths: int, status: str) -> list[tuple[bytes, bytes]]:
    """The headers that describe where a served value came from (Age in whole seconds)."""
    return [(b"x-cache", _CACHE_STATUS[status]), (b"age", str(tenths // 10).encode())]


class CallerBudgets:
    """Each caller's budget of Key Vault calls its reads may start (limits.upstream_rate and
    limits.upstream_burst): one caller reading made-up names cannot throttle the vault."""

    def __init__(self, clock: Clock, limits: LimitsConfig) -> None:
        self._clock = clock
        self._rate = limits.upstream_rate
        self._burst = limits.upstream_burst
        self._buckets: dict[str, TokenBucket] = {}  # per configured caller: bounded by the config

    def spend_for(self, caller: Caller) -> Spend | None:
        if self._rate == 0:
            return None
        bucket = self._buckets.get(caller.name)
        if bucket is None:
            bucket = self._buckets[caller.name] = TokenBucket(self._clock, self._rate, self._burst)
        return bucket.take


class Reads:
    def __init__(
        self,
        auth: Authenticator,
        cache: SecretCache,
        records: Records,
        clock: Clock,
        limits: LimitsConfig,
    ) -> None:
        self._auth = auth
        self._cache = cache
        self._records = records
        self._clock = clock
        self._budgets = CallerBudgets(clock, limits)
        self._rendered: BoundedMap[Key, Rendered] = BoundedMap(_MAX_RENDERINGS)
        # Bound once: attribute lookups are a measurable share of a fast hit.
        self._now, self._record_read = clock.time, records.add
        self._identify, self._allowed, self._lookup = auth.identify, auth.allowed, cache.lookup

    def fast(self, authorization: bytes, key: Key, client: str) -> Rendered | None:
        """A cache hit's response for an authorised caller, or None to take the full path.

        ``key`` is the lower-cased (vault, name) of the request path.
        """
        started = perf_counter()
        caller = self._identify(authorization)
        if caller is None:
            return None
        vault, name = key
        if not self._allowed(caller, vault, name):
            return None
        hit = self._lookup(vault, name)
        if hit is None:
            return None
        entry, age, status = hit
        tenths = age_tenths(age)
        rendering = self._rendered.get(key)
        if rendering is None or rendering.entry is not entry or rendering.tenths != tenths:
            rendering = self._render(key, entry, tenths, status)
        # tuple.__new__ skips the NamedTuple constructor's Python frame: a third of its cost here.
        self._record_read(
            _new_record(
                ReadRecord,
                (
                    self._now(),
                    caller.name,
                    entry.vault,
                    entry.name,
                    entry.version,
                    "ok",
                    status,
                    perf_counter() - started,
                    client,
                ),
            )
        )
        return rendering

    def _render(self, key: Key, entry: Entry, tenths: int, status: str) -> Rendered:
        body = entry.render(tenths, status == "stale")
        headers = (
            *_HIT_HEADERS,
            (b"content-length", str(len(body)).encode()),
            *cache_headers(tenths, status),
        )
        head = b"".join(b"%s: %s\r\n" % header for header in headers)
        rendering = Rendered(entry, tenths, head, head + b"\r\n" + body)
        self._rendered[key] = rendering
        return rendering

    def caller(self, authorization: bytes | None) -> Caller:
        return self._auth.authenticate(authorization)

    def shows(self, caller: Caller, vault: str, name: str) -> bool:
        """Whether operations pages may show this caller the secret (its name, version, state)."""
        return caller.admin or self._auth.allowed(caller, vault.lower(), name.lower())

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
                return json.dumps({"vault": vault, "name": name, **error.body()}).encode()
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
        started = perf_counter()
        try:
            config = self._resolve(caller, vault, name, version)
            spend = self._budgets.spend_for(caller)
            if refresh:
                outcome = await self._cache.refresh(config, name, spend=spend)
            else:
                outcome = await self._cache.read(config, name, version, spend=spend)
            if isinstance(outcome, Failed | Declined):
                raise unserved_error(config.name, name, outcome, self._cache.settings)
            hit = outcome
        except ApiError as error:
            self._record(caller, vault, name, version, error.code, "none", started, client)
            raise
        entry, age, status = hit
        self._record(caller, entry.vault, entry.name, entry.version, "ok", status, started, client)
        return entry.render(age_tenths(age), status == "stale"), hit

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
        latency = perf_counter() - started
        record = ReadRecord(
            self._clock.time(), caller.name, vault, name, version, outcome, cache, latency, client
        )
        self._records.add(record)
