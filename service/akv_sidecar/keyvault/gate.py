"""Per-vault throttling: a 429 from a vault closes its gate for every call to it."""

from __future__ import annotations

from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.clock import Clock

__all__ = ["VaultGate"]


class VaultGate:
    """Per-vault throttling: after a 429 no call goes to that vault until the gate reopens."""

    def __init__(self, clock: Clock, backoff: Backoff) -> None:
        self._clock = clock
        self._backoff = backoff
        self._open_at: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    def throttled(self, vault: str, retry_after: float | None) -> float:
        """Close the gate after a 429: for Retry-After, else for a growing backoff. Returns it."""
        strikes = self._strikes.get(vault, 0)
        self._strikes[vault] = strikes + 1
        wait = retry_after if retry_after is not None else self._backoff.ceiling(strikes)
        self._open_at[vault] = max(self._open_at.get(vault, 0.0), self._clock.monotonic() + wait)
        return wait

    def succeeded(self, vault: str) -> None:
        self._strikes.pop(vault, None)

    def remaining(self, vault: str) -> float:
        return max(self._open_at.get(vault, 0.0) - self._clock.monotonic(), 0.0)

    async def wait(self, vault: str) -> None:
        while (remaining := self.remaining(vault)) > 0:
            await self._clock.sleep(remaining)
