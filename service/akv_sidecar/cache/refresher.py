"""Keeping tracked secrets fresh: their refresh schedule, backoff and failures, for the cache.

A secret is tracked once it has a value, or once its prefetch failed. Each tracked secret has a
due time in one ``Schedule``: refreshes come up to refresh_jitter early, failures retry after an
exponential backoff with full jitter, no call goes to a vault while its gate is closed (a 429; the
secret is then held back, late and so stale, until the gate reopens), and an on-demand secret that
vanished from Key Vault stops being refreshed. The refresher also
remembers since when each tracked secret has been failing, for /readyz.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from akv_sidecar.cache.policy import refresh_delay
from akv_sidecar.cache.schedule import Schedule
from akv_sidecar.cache.store import Entry, Key
from akv_sidecar.config.schema import Config, VaultConfig
from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.clock import Clock
from akv_sidecar.core.tasks import Tasks
from akv_sidecar.keyvault.client import Upstream
from akv_sidecar.keyvault.outcomes import Failed, Failure

__all__ = ["GONE", "RefreshObserver", "Refresher"]

log = logging.getLogger("akv_sidecar")
GONE = (Failure.NOT_FOUND, Failure.DISABLED)
Fetch = Callable[[VaultConfig, str], Awaitable[Entry | Failed]]
HeldBack = Callable[[Key, Failed], None]  # a refresh came due while the vault's gate was closed


class RefreshObserver(Protocol):
    """Told when a secret's next refresh is scheduled and when a refresh failed."""

    def record_next_refresh(self, vault: str, name: str, delay: float) -> None: ...

    def count_refresh_failure(self, vault: str, name: str) -> None: ...


class Refresher:
    """The tracked secrets of one cache; ``fetch`` gets one (shared with concurrent callers)."""

    def __init__(
        self,
        config: Config,
        upstream: Upstream,
        clock: Clock,
        rand: Callable[[], float],
        tasks: Tasks,
        fetch: Fetch,
        observer: RefreshObserver | None = None,
        held_back: HeldBack | None = None,
    ) -> None:
        self._cache = config.cache
        self._rand = rand
        self._upstream = upstream
        self._clock = clock
        self._tasks = tasks
        self._fetch = fetch
        self._observer = observer
        self._held_back = held_back
        self._backoff = Backoff(config.cache.backoff_base, config.cache.backoff_max, rand)
        self._schedule: Schedule[Key] = Schedule(clock, config.upstream.concurrency)
        self._driver: asyncio.Task[None] | None = None  # started with the first secret
        self._tracked: dict[Key, str] = {}  # key -> the name as configured or first asked for
        self._attempts: dict[Key, int] = {}  # refreshes failed in a row (only failing secrets)
        self._failing: dict[Key, tuple[float, str]] = {}  # since (epoch s), the latest error
        self._vaults = {vault.name.lower(): vault for vault in config.vaults}
        # Per vault: the configured names (lower-cased), or None for "*" (every secret).
        self._listed: dict[str, frozenset[str] | None] = {
            key: None if vault.lists_all else frozenset(s.lower() for s in vault.secrets)
            for key, vault in self._vaults.items()
        }

    def listed(self, key: Key) -> bool:
        """Whether the secret is in its vault's configured list (or the vault lists "*")."""
        names = self._listed.get(key[0], frozenset())
        return names is None or key[1] in names

    def __contains__(self, key: Key) -> bool:
        return key in self._tracked

    def track(self, key: Key, name: str, *, failed: Failed | None = None) -> None:
        """Keep the secret fresh from now on (no-op if it is): its first refresh is due after
        one interval, or after a backoff if it ``failed`` for another reason than being gone."""
        if key in self._tracked:
            return
        self._tracked[key] = name
        if self._driver is None:
            self._driver = self._tasks.spawn(
                self._schedule.run(self._refresh, self._tasks.spawn), "refresh schedule"
            )
        if failed is not None and failed.kind not in GONE:
            self._attempts[key] = 1
        self._schedule_next(key)

    def succeeded(self, key: Key) -> None:
        self._failing.pop(key, None)

    def failed(self, key: Key, failed: Failed, *, unless_failing: bool = False) -> None:
        """Remember a failure of a tracked secret: since when (the first), and the latest (or,
        ``unless_failing``, only if it is not failing already: Key Vault's own error says more)."""
        if key in self._tracked and not (unless_failing and key in self._failing):
            since = self._failing.get(key, (self._clock.time(), ""))[0]
            self._failing[key] = (since, failed.detail)

    def failing(self) -> Iterator[tuple[Key, str, str, float, str]]:
        """Every failing tracked secret: key, vault, name, since (epoch s), latest error."""
        for key, (since, error) in sorted(self._failing.items()):
            yield key, self._vaults[key[0]].name, self._tracked[key], since, error

    def _schedule_next(self, key: Key, delay: float | None = None) -> None:
        if delay is None:
            delay = self._next_delay(self._attempts.get(key, 0))
        self._schedule.at(key, delay)
        if self._observer is not None:
            self._observer.record_next_refresh(self._vaults[key[0]].name, self._tracked[key], delay)

    def _next_delay(self, attempt: int) -> float:
        if attempt == 0:
            return refresh_delay(
                self._cache.refresh_interval, self._cache.refresh_jitter, self._rand
            )
        return self._backoff.delay(attempt - 1)

    async def _refresh(self, key: Key) -> None:
        """One scheduled refresh (the schedule's handler); it schedules the next one."""
        vault, name = self._vaults[key[0]], self._tracked[key]
        throttled = self._upstream.throttled_for(vault.name)
        if throttled > 0:
            # No call before the vault's gate reopens; waiting for it here would hold a worker
            # that refreshes of other vaults need.
            if self._held_back is not None:
                self._held_back(key, Failed(Failure.THROTTLED, "throttled by Key Vault", throttled))
            self._schedule_next(key, throttled)
            return
        result = await self._fetch(vault, name)
        if not isinstance(result, Failed):
            self._attempts.pop(key, None)
        else:
            if self._observer is not None:
                self._observer.count_refresh_failure(vault.name, name)
            if result.kind not in GONE:
                log.warning("refresh %s/%s failed: %s", vault.name, name, result.detail)
                self._attempts[key] = self._attempts.get(key, 0) + 1
            elif self.listed(key):
                log.warning("refresh %s/%s: %s", vault.name, name, result.detail)
                self._attempts.pop(key, None)
            else:
                log.warning("refresh %s/%s: %s; no longer kept", vault.name, name, result.detail)
                del self._tracked[key]  # an on-demand secret that went away is not kept fresh
                self._attempts.pop(key, None)
                self._failing.pop(key, None)
                return
        self._schedule_next(key)
