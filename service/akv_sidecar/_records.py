"""Per-read records: appended on the hot path, aggregated off it.

Every read appends one small ``ReadRecord`` tuple to a bounded deque (no lock, no I/O, no
formatting); a background task drains the deque on a fixed cadence. For now it keeps counts per
(outcome, cache status); the audit log and the metrics consume the same drained batches.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque

from ._audit import ReadRecord

__all__ = ["ReadRecord", "Records"]


class Records:
    """A bounded buffer of read records and the totals drained from it."""

    def __init__(self, capacity: int = 65_536, drain_interval: float = 0.2) -> None:
        self._pending: deque[ReadRecord] = deque(maxlen=capacity)
        self._drain_interval = drain_interval
        self.totals: Counter[tuple[str, str]] = Counter()
        self.add = self._pending.append  # the hot path's only cost: one bound-method call

    def drain(self) -> list[ReadRecord]:
        """Take every pending record, count it, and return the batch."""
        pending = self._pending
        batch = [pending.popleft() for _ in range(len(pending))]
        self.totals.update((record.outcome, record.cache) for record in batch)
        return batch

    async def run(self) -> None:
        """Drain on a fixed cadence until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self._drain_interval)
                self.drain()
        finally:
            self.drain()
