"""When each tracked secret is next due: one heap of due times, driven by one task.

A task per secret would cost ~2 KB of coroutine and task state each (19 MiB for 10,000 secrets);
a heap entry costs ~100 B. The driver sleeps on the injected clock until the earliest due time,
or until a key is given an earlier one, and hands due keys to a bounded number of workers.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Awaitable, Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from akv_sidecar.core.clock import Clock

__all__ = ["Schedule"]

K = TypeVar("K", bound=Hashable)
Spawn = Callable[[Coroutine[Any, Any, None]], Any]


class Schedule(Generic[K]):
    """Due times keyed by K on ``clock``; ``run`` handles each key once it is due.

    A key is due once; the handler schedules it again if it should come back. Replacing a key's
    due time leaves its old heap entry behind, skipped when it surfaces (and compacted away).
    """

    def __init__(self, clock: Clock, workers: int) -> None:
        self._clock = clock
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._order = itertools.count()  # ties run in the order they were scheduled
        self._workers = asyncio.Semaphore(workers)
        self._earlier = asyncio.Event()
        # The latest time the driver slept to: re-deriving it as now + (due - now) can round
        # a hair below the due time, which must not leave a due key waiting for the next tick.
        self._reached = -math.inf

    def at(self, key: K, delay: float) -> None:
        """Make ``key`` due ``delay`` seconds from now (replacing its current due time)."""
        due = self._clock.monotonic() + max(delay, 0.0)
        self._due[key] = due
        if not self._heap or due < self._heap[0][0]:
            self._earlier.set()
        heapq.heappush(self._heap, (due, next(self._order), key))
        if len(self._heap) > 2 * len(self._due) + 64:
            self._heap = [item for item in self._heap if self._due.get(item[2]) == item[0]]
            heapq.heapify(self._heap)

    async def run(self, handle: Callable[[K], Awaitable[None]], spawn: Spawn) -> None:
        """Forever: once a worker is free and a key is due, handle that key in the background."""
        while True:
            await self._workers.acquire()
            try:
                key = await self._next_due()
            except BaseException:
                self._workers.release()
                raise
            spawn(self._handled(handle, key))

    async def _handled(self, handle: Callable[[K], Awaitable[None]], key: K) -> None:
        try:
            await handle(key)
        finally:
            self._workers.release()

    async def _next_due(self) -> K:
        while True:
            head = self._head()
            if head is not None and head[0] <= max(self._clock.monotonic(), self._reached):
                heapq.heappop(self._heap)
                del self._due[head[2]]
                return head[2]
            self._earlier.clear()
            if head is None:
                await self._earlier.wait()
            elif await self._sleep_until(head[0]):
                self._reached = max(self._reached, head[0])

    def _head(self) -> tuple[float, int, K] | None:
        """The earliest live entry, dropping replaced ones on the way."""
        while self._heap:
            head = self._heap[0]
            if self._due.get(head[2]) == head[0]:
                return head
            heapq.heappop(self._heap)
        return None

    async def _sleep_until(self, due: float) -> bool:
        """Sleep on the clock until ``due``; False if woken early by an earlier due time."""
        timer = asyncio.ensure_future(self._clock.sleep(due - self._clock.monotonic()))
        earlier = asyncio.ensure_future(self._earlier.wait())
        try:
            await asyncio.wait((timer, earlier), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            earlier.cancel()
            await asyncio.gather(timer, earlier, return_exceptions=True)
        return not timer.cancelled()
