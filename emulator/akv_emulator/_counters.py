"""Request counters by vault, operation, secret name and status, for exact call-count asserts."""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple


class CallKey(NamedTuple):
    """What one counted request was: vault, operation, lower-cased secret name, HTTP status."""

    vault: str
    op: str
    secret: str | None
    status: int


class Counters:
    """Counts requests; read and written on the emulator's loop only."""

    def __init__(self) -> None:
        self._counts: Counter[CallKey] = Counter()

    def record(self, vault: str, op: str, secret: str | None, status: int) -> None:
        self._counts[CallKey(vault, op, secret.lower() if secret else None, status)] += 1

    def count(
        self,
        vault: str | None = None,
        op: str | None = None,
        secret: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many requests match every filter given (None matches anything)."""
        return sum(n for _, n in self._matching(vault, op, secret, status))

    def reset(self) -> None:
        self._counts.clear()

    def snapshot(
        self,
        vault: str | None = None,
        op: str | None = None,
        secret: str | None = None,
        status: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every counter matching every filter given, as JSON-ready rows."""
        rows = sorted(self._matching(vault, op, secret, status), key=str)
        return [{**key._asdict(), "count": n} for key, n in rows]

    def _matching(
        self, vault: str | None, op: str | None, secret: str | None, status: int | None
    ) -> list[tuple[CallKey, int]]:
        wanted = secret.lower() if secret else None
        return [
            (key, n)
            for key, n in self._counts.items()
            if (vault is None or key.vault == vault)
            and (op is None or key.op == op)
            and (wanted is None or key.secret == wanted)
            and (status is None or key.status == status)
        ]
