"""Exponential backoff with full jitter, over the random source it is given."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Backoff", "Random"]

Random = Callable[[], float]


class Backoff:
    """Exponential backoff, full jitter: attempt n waits uniformly in [0, min(cap, base*2^n)]."""

    def __init__(self, base: float, cap: float, rand: Random) -> None:
        self.base = base
        self.cap = cap
        self._rand = rand

    def ceiling(self, attempt: int) -> float:
        return min(self.cap, self.base * 2.0 ** min(attempt, 62))

    def delay(self, attempt: int) -> float:
        return self._rand() * self.ceiling(attempt)
