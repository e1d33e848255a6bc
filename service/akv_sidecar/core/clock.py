"""Clocks: the system clock, and a fake one that tests move by hand.

Every time-based decision in the service (refresh schedule, backoff, max_stale, rate limits) reads
the clock it was given, so a test can make an hour pass in a microsecond, exactly.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from time import monotonic as _monotonic
from time import time as _wall_time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """What the service needs from time."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps shown to callers)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for ages, deadlines and schedules)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class SystemClock:
    """The real clock: its readers are the C functions themselves (the hot path reads them)."""

    time = staticmethod(_wall_time)
    monotonic = staticmethod(_monotonic)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class FakeClock:
    """A clock that moves only when ``advance`` is called; safe to drive from another thread.

    Sleepers registered from any event loop are woken, in deadline order, on their own loop once
    ``advance`` moves the clock past their deadline.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._wall_offset = start
        self._now = 0.0
        self._order = itertools.count()
        self._sleepers: list[
            tuple[float, int, asyncio.AbstractEventLoop, asyncio.Future[None]]
        ] = []

    def time(self) -> float:
        return self._wall_offset + self._now

    def monotonic(self) -> float:
        return self._now

    @property
    def sleeping(self) -> int:
        """How many sleepers are waiting (lets a test wait until background work is idle)."""
        with self._lock:
            return sum(not future.done() for *_, future in self._sleepers)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            entry = (self._now + seconds, next(self._order), loop, future)
            heapq.heappush(self._sleepers, entry)
        await future

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake every sleeper whose deadline has passed."""
        if seconds < 0:
            raise ValueError("a clock cannot go back")
        due: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        with self._lock:
            self._now += seconds
            while self._sleepers and self._sleepers[0][0] <= self._now:
                _, _, loop, future = heapq.heappop(self._sleepers)
                due.append((loop, future))
        for loop, future in due:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
