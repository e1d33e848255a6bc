"""Per-read records: appended on the hot path, aggregated off it.

Every read appends one small ``ReadRecord`` tuple to a bounded deque (no lock, no I/O, no
formatting); a background task drains the deque on a fixed cadence and hands each batch to the
sinks: the audit log, the metrics and the status board.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

__all__ = ["ReadRecord", "Records", "VendRecord"]

_CHUNK = 256


class ReadRecord(NamedTuple):
    """What the hot path remembers about one read: names and numbers, never the value."""

    time: float  # wall clock, epoch seconds
    caller: str  # the caller token's configured name, never the token
    vault: str
    secret: str
    version: str | None
    outcome: str  # "ok" or the error code returned, e.g. "SecretNotFound"
    cache: str  # "hit", "miss", "stale" or "none" when no value was served
    latency: float  # seconds spent answering
    client: str  # peer address, or "unix" for the Unix socket


class VendRecord(NamedTuple):
    """One credential handed out or refused (a SAS, an access token): what it was for and until
    when, never the credential. Fields that do not apply to its kind are None."""

    time: float  # wall clock, epoch seconds
    caller: str
    kind: str  # "sas" or "token"
    account: str | None
    container: str | None
    path: str | None
    permissions: str | None
    scope: str | None
    expires_on: float | None  # epoch seconds; None when refused
    outcome: str  # "ok" or the error code returned
    client: str


class Records:
    """A bounded buffer of read records and the totals drained from it."""

    def __init__(
        self,
        capacity: int = 65_536,
        drain_interval: float = 0.2,
        sinks: Sequence[Callable[[list[ReadRecord]], None]] = (),
    ) -> None:
        self._pending: deque[ReadRecord] = deque(maxlen=capacity)
        self._drain_interval = drain_interval
        self._sinks = tuple(sinks)
        self.add = self._pending.append  # the hot path's only cost: one bound-method call

    def drain(self, limit: int | None = None) -> list[ReadRecord]:
        """Take the pending records (at most ``limit``) and hand them to the sinks."""
        pending = self._pending
        count = len(pending) if limit is None else min(limit, len(pending))
        batch = [pending.popleft() for _ in range(count)]
        if batch:
            for sink in self._sinks:
                sink(batch)
        return batch

    async def run(self) -> None:
        """Drain on a fixed cadence until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self._drain_interval)
                # In chunks, letting requests in between: one big batch would stall the loop.
                for _ in range(math.ceil(len(self._pending) / _CHUNK)):
                    self.drain(_CHUNK)
                    await asyncio.sleep(0)
        finally:
            self.drain()
