"""An overall deadline per call, the backoff between its attempts, and a vended credential's lease.

The active deadline lives in a context variable so the network layer (`_transport`) can clamp
every connect, read and write to what is left of it: a server trickling one byte at a time cannot
stretch a call past its deadline.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

__all__ = ["Deadline", "Lease", "active_deadline", "backoff_delay", "deadline_scope"]


class Deadline:
    """A point in monotonic time; `remaining()` never goes below zero."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self._clock = clock
        self._at = clock() + timeout

    def remaining(self) -> float:
        return max(0.0, self._at - self._clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def clamp(self, timeout: float | None) -> float:
        """The smaller of `timeout` and what is left; 0.0 means the deadline has passed."""
        left = self.remaining()
        return left if timeout is None else min(timeout, left)


_active: ContextVar[Deadline | None] = ContextVar("akv_client_deadline", default=None)


def active_deadline() -> Deadline | None:
    return _active.get()


@contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    token = _active.set(deadline)
    try:
        yield deadline
    finally:
        _active.reset(token)


def backoff_delay(
    attempt: int,
    base: float,
    cap: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return float(rand()) * min(cap, base * 2.0**attempt)


class Lease:
    """A vended credential's life, from its receipt to `expires_on`, on the monotonic clock.

    `renew_due` once less than a third of that life is left. The life is measured with this
    machine's wall clock once, at receipt; from then on only the monotonic clock counts, so a
    clock step cannot stretch it. `postpone` defers the next renewal after one failed.
    """

    def __init__(
        self,
        expires_on: datetime,
        *,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        start = clock()
        self.lifetime = expires_on.timestamp() - wall()
        self.expires_at = start + self.lifetime
        self.renew_at = start + self.lifetime * 2.0 / 3.0

    @property
    def renew_due(self) -> bool:
        return self._clock() >= self.renew_at

    @property
    def expired(self) -> bool:
        return self._clock() >= self.expires_at

    def postpone(self, seconds: float) -> None:
        """Try renewing again in `seconds`, but never later than the expiry."""
        self.renew_at = min(self._clock() + seconds, self.expires_at)
