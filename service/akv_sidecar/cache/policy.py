"""Cache policy: when to refresh, how long to back off, what to remember, what to share.

Pure decisions over the clock and the random source they are given, so tests can drive them
exactly; the cache (``cache.cache``) applies them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from akv_sidecar.core.backoff import Random
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.core.clock import Clock

__all__ = ["NegativeCache", "RateLimit", "SingleFlight", "Spend", "TokenBucket", "refresh_delay"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def refresh_delay(interval: float, jitter: float, rand: Random) -> float:
    """Time to the next refresh: up to ``jitter`` of the interval early, never late."""
    return interval * (1.0 - jitter * rand())


class NegativeCache(Generic[K, V]):
    """Remembers failures such as 'not found' for ``ttl`` seconds, bounded in size."""

    def __init__(self, clock: Clock, ttl: float, max_size: int = 10_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._items: BoundedMap[K, tuple[float, V]] = BoundedMap(max_size)

    def remember(self, key: K, value: V) -> None:
        if self._ttl <= 0:
            return
        self._items[key] = (self._clock.monotonic() + self._ttl, value)

    def recall(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock.monotonic():
            del self._items[key]
            return None
        return item[1]

    def forget(self, key: K) -> None:
        self._items.pop(key, None)


class RateLimit(Generic[K]):
    """Allows one action per key per ``interval``; answers how long to wait otherwise."""

    def __init__(self, clock: Clock, interval: float, max_size: int = 10_000) -> None:
        self._clock = clock
        self._interval = interval
        # The oldest-written key is the first whose interval is over: dropping it allows nothing
        # early unless more than max_size keys acted within one interval.
        self._last: BoundedMap[K, float] = BoundedMap(max_size)

    def acquire(self, key: K) -> float:
        """0 if allowed now (and counted), else the seconds until it will be."""
        now = self._clock.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return self._interval - (now - last)
        self._last[key] = now
        return 0.0


Spend = Callable[[], float]  # 0 when an action may go now (and is counted), else seconds to wait


class TokenBucket:
    """``rate`` actions a second on average, bursts of up to ``burst``; ``take`` is a Spend."""

    def __init__(self, clock: Clock, rate: float, burst: int) -> None:
        self._clock = clock
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = clock.monotonic()

    def take(self) -> float:
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


class SingleFlight(Generic[K, V]):
    """Concurrent calls for one key share one running task; its result goes to all of them.

    The task is shielded: a caller that gives up does not cancel the work the others await.
    """

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, V]], asyncio.Task[V]]) -> None:
        self._spawn = spawn
        self._running: dict[K, asyncio.Task[V]] = {}

    def in_flight(self, key: K) -> bool:
        return key in self._running

    async def run(self, key: K, work: Callable[[], Coroutine[Any, Any, V]]) -> V:
        task = self._running.get(key)
        if task is None:
            task = self._spawn(work())
            self._running[key] = task
            task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)
