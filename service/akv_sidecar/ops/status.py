"""What an operator looks at during an incident: per-secret state, without values.

The board keeps, per (vault, secret), the Key Vault calls made, the reads served, the last error
and when the next refresh is due. The upstream client, the refresh loop and the drain task feed it
(never the request path itself); `GET /v1/status` renders it next to the store's entries.

Secrets the refresher tracks are bounded by the cache; names that were fetched once and are not
tracked (a caller asking for names that do not exist) are not, so they live in a bounded map of
`MAX_UNTRACKED`: the oldest-written goes first, and tracked ones are never forgotten.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from akv_sidecar.cache.store import Entry, Key
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.core.clock import Clock
from akv_sidecar.core.timestamps import iso_time
from akv_sidecar.ops.records import ReadRecord

__all__ = ["MAX_UNTRACKED", "StatusBoard"]

MAX_UNTRACKED = 1_000
OVER_BUDGET = "CallerOverBudget"  # the audit outcome of a read refused by the caller's budget


@dataclass(slots=True)  # one per secret: no per-instance __dict__
class _SecretState:
    keyvault_calls: int = 0
    reads: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    next_refresh_mono: float | None = None


class StatusBoard:
    """Per-secret counters and times, updated off the hot path."""

    def __init__(
        self,
        clock: Clock,
        vaults: Sequence[str] = (),
        throttled: Callable[[], dict[str, float]] | None = None,
    ) -> None:
        """``vaults``: the configured vault names; ``throttled`` tells the vaults whose gate a
        429 closed, with the seconds until it reopens."""
        self._clock = clock
        self._vaults = tuple(vaults)
        self._throttled = throttled
        # Secrets with a refresh scheduled (bounded by the cache), and the rest (bounded here).
        self._tracked: dict[Key, _SecretState] = {}
        self._untracked: BoundedMap[Key, _SecretState] = BoundedMap(MAX_UNTRACKED)
        # Callers refused for spending their budget of Key Vault calls: count and last time.
        self._over_budget: Counter[str] = Counter()
        self._over_budget_at: dict[str, float] = {}

    def _find(self, key: Key) -> _SecretState | None:
        return self._tracked.get(key) or self._untracked.get(key)

    def _state(self, vault: str, name: str) -> _SecretState:
        key = (vault.lower(), name.lower())
        state = self._find(key)
        if state is None:
            state = self._untracked[key] = _SecretState()
        return state

    def record_call(self, vault: str, name: str, outcome: str, detail: str | None) -> None:
        """One Key Vault call for this secret; `detail` is the safe failure description."""
        state = self._state(vault, name)
        state.keyvault_calls += 1
        if outcome != "ok":
            state.last_error = f"{outcome}: {detail}" if detail else outcome
            state.last_error_at = self._clock.time()

    def record_next_refresh(self, vault: str, name: str, delay: float) -> None:
        key = (vault.lower(), name.lower())
        state = self._tracked.get(key) or self._untracked.pop(key, None) or _SecretState()
        state.next_refresh_mono = self._clock.monotonic() + delay
        self._tracked[key] = state

    def count_reads(self, records: Sequence[ReadRecord]) -> None:
        """Reads served, from a drained batch (only reads that found a value count)."""
        for record in records:
            if record.outcome == OVER_BUDGET:  # configured callers only: bounded by the config
                self._over_budget[record.caller] += 1
                self._over_budget_at[record.caller] = record.time
        served = Counter((r.vault, r.secret) for r in records if r.outcome == "ok")
        for (vault, secret), reads in served.items():  # a batch holds few distinct secrets
            state = self._find((vault.lower(), secret.lower()))
            if state is not None:
                state.reads += reads

    def render(self, entries: Iterable[Entry], *, ready: bool) -> dict[str, Any]:
        """The /v1/status document: every vault (closed after a 429 or not), and every tracked
        secret, cached or not, sorted by name."""
        now_wall, now_mono = self._clock.time(), self._clock.monotonic()
        cached = {(entry.vault.lower(), entry.name.lower()): entry for entry in entries}
        secrets = []
        for key in sorted(cached.keys() | self._tracked.keys() | self._untracked.keys()):
            entry, state = cached.get(key), self._find(key) or _SecretState()
            due = state.next_refresh_mono
            secrets.append(
                {
                    "vault": entry.vault if entry else key[0],
                    "name": entry.name if entry else key[1],
                    "version": entry.version if entry else None,
                    "fetched_at": iso_time(entry.fetched_at) if entry else None,
                    "age_seconds": round(entry.age(now_mono), 3) if entry else None,
                    "stale": entry.stale if entry else None,
                    "last_error": state.last_error,
                    "last_error_at": iso_time(state.last_error_at),
                    "next_refresh_at": iso_time(now_wall + due - now_mono)
                    if due is not None
                    else None,
                    "keyvault_calls": state.keyvault_calls,
                    "reads": state.reads,
                }
            )
        closed = self._throttled() if self._throttled is not None else {}
        vaults = [
            {"name": name, "throttled_for_seconds": round(closed.get(name, 0.0), 1)}
            for name in self._vaults
        ]
        callers = [
            {
                "name": name,
                "over_budget": count,
                "last_over_budget_at": iso_time(self._over_budget_at[name]),
            }
            for name, count in sorted(self._over_budget.items())
        ]
        return {"ready": ready, "vaults": vaults, "callers": callers, "secrets": secrets}
