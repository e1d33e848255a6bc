"""The secret cache: prefetch, background refresh, stale-on-error, on-demand reads.

Reads of cached secrets never wait on Key Vault: the refresher (``refresher``) replaces every
tracked secret's entry before it ages out. Failures keep the last good value (marked stale) until
cache.max_stale and retry with backoff; misses share one Key Vault call per secret; secrets that do
not exist are remembered for cache.negative_ttl. Reads return outcomes (``outcomes``): a hit, a
Key Vault failure or a refusal; what a caller is told is the http layer's decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from akv_sidecar.cache.outcomes import Declined, Hit, Refusal, Unserved
from akv_sidecar.cache.policy import NegativeCache, RateLimit, SingleFlight, Spend
from akv_sidecar.cache.refresher import GONE, Refresher, RefreshObserver
from akv_sidecar.cache.store import Entry, Key, Store, make_entry
from akv_sidecar.config.schema import Config, VaultConfig
from akv_sidecar.core.clock import Clock
from akv_sidecar.core.tasks import Tasks, for_each
from akv_sidecar.core.timestamps import iso_time
from akv_sidecar.keyvault.client import Upstream
from akv_sidecar.keyvault.outcomes import Failed

__all__ = ["SecretCache"]

log = logging.getLogger("akv_sidecar")
Trouble = dict[str, str | None]  # a secret in /readyz: vault, name, since, error


class SecretCache:
    def __init__(
        self,
        config: Config,
        upstream: Upstream,
        clock: Clock,
        rand: Callable[[], float],
        tasks: Tasks,
        observer: RefreshObserver | None = None,
    ) -> None:
        self._config = config
        self._cache = self.settings = config.cache
        self._upstream = upstream
        self._clock = clock
        self.store = Store(config.cache.max_versions)
        self._negative: NegativeCache[tuple[str, ...], Failed] = NegativeCache(
            clock, config.cache.negative_ttl
        )
        self._manual = RateLimit[Key](clock, config.cache.manual_refresh_interval)
        self._flights: SingleFlight[tuple[str, ...], Entry | Failed] = SingleFlight(tasks.spawn)
        self._refresher = Refresher(
            config, upstream, clock, rand, tasks, self._fetch_tracked, observer, self._held_back
        )
        self._listing_failures: list[Trouble] = []
        self._vaults = {vault.name.lower(): vault for vault in config.vaults}
        self.ready = False

    def vault(self, name: str) -> VaultConfig | None:
        return self._vaults.get(name.lower())

    # --- reads -------------------------------------------------------------------------------

    def lookup(self, vault: str, name: str) -> Hit | None:
        """A servable cached entry (lower-cased keys), without any await: the hot path."""
        entry = self.store.get((vault, name))
        if entry is None:
            return None
        age = self._clock.monotonic() - entry.fetched_mono
        if age > self._cache.max_stale:
            return None
        return entry, age, "stale" if entry.stale else "hit"

    async def read(
        self,
        vault: VaultConfig,
        name: str,
        version: str | None = None,
        *,
        spend: Spend | None = None,
    ) -> Hit | Unserved:
        """The secret for a caller: from the cache, or fetched once for every concurrent caller.

        ``spend`` is the caller's budget of Key Vault calls: asked only when this read starts one.
        """
        key = (vault.name.lower(), name.lower())
        if version is not None:
            return await self._read_version(vault, name, version, spend)
        hit = self.lookup(*key)
        if hit is not None:
            return hit
        remembered = self._remembered(key)
        if remembered is not None:
            return remembered
        if self.store.get(key) is not None:
            return Declined(Refusal.TOO_STALE)
        return self._unlisted(vault, name) or await self._fetch_shared(
            vault, name, wait=False, spend=spend
        )

    async def refresh(
        self, vault: VaultConfig, name: str, *, spend: Spend | None = None
    ) -> Hit | Unserved:
        """Fetch now for a caller whose value was just rejected; once per secret per interval."""
        key = (vault.name.lower(), name.lower())
        unlisted = self._unlisted(vault, name)
        if unlisted is not None:
            return unlisted
        wait = self._manual.acquire(key)
        if wait > 0:
            return Declined(Refusal.TOO_SOON, wait)
        self._negative.forget(key)
        return await self._fetch_shared(vault, name, wait=False, spend=spend)

    def serves(self, vault: str, name: str) -> bool:
        """Whether the secret is configured or already cached (and so worth refreshing)."""
        key = (vault.lower(), name.lower())
        return self._refresher.listed(key) or key in self._refresher

    def readiness(self) -> dict[str, list[dict[str, Any]]]:
        """Tracked secrets in trouble: served stale (within max_stale), or not servable at all;
        and the vaults closed after a 429, with the seconds until they reopen."""
        stale: list[Trouble] = []
        failed = list(self._listing_failures)
        for key, vault, name, since, error in self._refresher.failing():
            item = _trouble(vault, name, since, error)
            (stale if self.lookup(*key) is not None else failed).append(item)
        throttled = [
            {"vault": vault, "seconds": round(left, 1)}
            for vault, left in self._upstream.throttled_vaults().items()
        ]
        return {"stale": stale, "failed": failed, "throttled": throttled}

    async def pushed(self, vault: str, name: str) -> Hit | Unserved:
        """Fetch now because Key Vault announced a new version (no manual rate limit applies)."""
        config = self.vault(vault)
        if config is None:
            return Declined(Refusal.NO_SUCH_VAULT)
        self._negative.forget((config.name.lower(), name.lower()))
        return await self._fetch_shared(config, name, wait=False)

    async def _read_version(
        self, vault: VaultConfig, name: str, version: str, spend: Spend | None = None
    ) -> Hit | Unserved:
        key = (vault.name.lower(), name.lower(), version.lower())
        latest = self.store.get(key[:2])
        entry = (
            latest if latest and latest.version.lower() == key[2] else self.store.get_version(key)
        )
        if latest is not None and entry is latest:
            # The current version is exactly as fresh as the value the plain read serves.
            hit = self.lookup(*key[:2])
            return hit if hit is not None else Declined(Refusal.TOO_STALE)
        if entry is not None:
            return entry, self._clock.monotonic() - entry.fetched_mono, "hit"
        unserved = self._remembered(key) or self._unlisted(vault, name)
        if unserved is not None:
            return unserved

        async def fetch() -> Entry | Failed:
            outcome = await self._upstream.fetch(vault.name, name, version, wait=False)
            if isinstance(outcome, Failed):
                self._remember_if_gone(key, outcome)
                return outcome
            fetched = make_entry(vault.name, outcome, self._clock.time(), self._clock.monotonic())
            self.store.put_version(fetched)
            return fetched

        over_budget = self._over_budget(key, spend)
        if over_budget is not None:
            return over_budget
        result = await self._flights.run(key, fetch)
        return result if isinstance(result, Failed) else (result, 0.0, "miss")

    def _remembered(self, key: tuple[str, ...]) -> Failed | None:
        """A failure remembered for cache.negative_ttl (a secret that does not exist)."""
        return self._negative.recall(key)

    def _unlisted(self, vault: VaultConfig, name: str) -> Declined | None:
        key = (vault.name.lower(), name.lower())
        if not self._cache.on_demand and not self._refresher.listed(key):
            return Declined(Refusal.NOT_LISTED)
        return None

    # --- fetching ----------------------------------------------------------------------------

    def _over_budget(self, key: tuple[str, ...], spend: Spend | None) -> Declined | None:
        """Declined when this read would start a Key Vault call its caller has no budget for;
        joining a call already in flight costs nothing."""
        if spend is None or self._flights.in_flight(key):
            return None
        wait = spend()
        return Declined(Refusal.OVER_BUDGET, wait) if wait > 0 else None

    async def _fetch_shared(
        self, vault: VaultConfig, name: str, *, wait: bool, spend: Spend | None = None
    ) -> Hit | Unserved:
        """One Key Vault call per secret however many callers wait."""
        key = (vault.name.lower(), name.lower())
        over_budget = self._over_budget(key, spend)
        if over_budget is not None:
            return over_budget
        result = await self._flights.run(key, lambda: self._fetch_latest(vault, name, wait=wait))
        return result if isinstance(result, Failed) else (result, 0.0, "miss")

    async def _fetch_latest(self, vault: VaultConfig, name: str, *, wait: bool) -> Entry | Failed:
        key = (vault.name.lower(), name.lower())
        outcome = await self._upstream.fetch(vault.name, name, wait=wait)
        if isinstance(outcome, Failed):
            if outcome.kind in GONE:
                self.store.remove(key)
                self._remember_if_gone(key, outcome)
            else:
                self.store.mark_stale(key)
            self._refresher.failed(key, outcome)
            return outcome
        entry = make_entry(vault.name, outcome, self._clock.time(), self._clock.monotonic())
        self.store.put(entry)
        self._negative.forget(key)
        self._refresher.succeeded(key)
        self._refresher.track(key, name)
        return entry

    def _fetch_tracked(self, vault: VaultConfig, name: str) -> Awaitable[Entry | Failed]:
        """A refresh or prefetch: waits for a throttled vault's gate to reopen."""
        key = (vault.name.lower(), name.lower())
        return self._flights.run(key, lambda: self._fetch_latest(vault, name, wait=True))

    def _held_back(self, key: Key, throttled: Failed) -> None:
        """A refresh fell due while the vault's gate was closed: the value is late, so stale."""
        self.store.mark_stale(key)
        self._refresher.failed(key, throttled, unless_failing=True)

    def _remember_if_gone(self, key: tuple[str, ...], failed: Failed) -> None:
        if failed.kind in GONE:
            self._negative.remember(key, failed)

    # --- prefetch and refresh ----------------------------------------------------------------

    async def prefetch(self) -> None:
        """Fetch every configured secret, upstream.concurrency at a time; then mark ready."""
        started = time.perf_counter()
        vaults = self._config.vaults
        # Vaults listing "*" are listed together: each listing is a Key Vault round trip or more.
        names = await asyncio.gather(*(self._configured_names(vault) for vault in vaults))
        wanted = [
            (vault, name) for vault, listed in zip(vaults, names, strict=True) for name in listed
        ]
        failed = 0

        async def fetch(item: tuple[VaultConfig, str]) -> None:
            nonlocal failed
            # Awaited first: `failed += not await ...` reads the count before the await, so
            # concurrent workers would write back each other's stale counts.
            fetched = await self._prefetch_one(*item)
            failed += not fetched

        await for_each(wanted, fetch, self._config.upstream.concurrency)
        log.info(
            "prefetch done: %d secrets, %d failed, in %d ms",
            len(wanted),
            failed,
            (time.perf_counter() - started) * 1000,
        )
        self.ready = True

    async def _configured_names(self, vault: VaultConfig) -> list[str]:
        if not vault.lists_all:
            return vault.names_with()
        listed = await self._upstream.list_enabled(vault.name)
        if isinstance(listed, Failed):
            log.warning("listing vault %s failed: %s", vault.name, listed.detail)
            failure = _trouble(vault.name, "*", self._clock.time(), listed.detail)
            self._listing_failures.append(failure)
            return vault.names_with()
        return vault.names_with(listed)

    async def _prefetch_one(self, vault: VaultConfig, name: str) -> bool:
        started = time.perf_counter()
        result = await self._fetch_tracked(vault, name)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if isinstance(result, Failed):
            log.warning(
                "prefetch %s/%s failed in %d ms: %s", vault.name, name, elapsed_ms, result.detail
            )
            key = (vault.name.lower(), name.lower())
            self._refresher.track(key, name, failed=result)
            self._refresher.failed(key, result)
            return False
        log.info(
            "prefetched %s/%s version %s in %d ms", vault.name, name, result.version, elapsed_ms
        )
        return True


def _trouble(vault: str, name: str, since: float, error: str) -> Trouble:
    return {"vault": vault, "name": name, "since": iso_time(since), "error": error}
