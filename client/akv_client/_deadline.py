"""An overall deadline per call, and the backoff between its attempts.

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

__all__ = ["Deadline", "active_deadline", "backoff_delay", "deadline_scope"]


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
