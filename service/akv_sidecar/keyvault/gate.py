"""Per-vault throttling: a 429 from a vault closes its gate for every call to it."""

from __future__ import annotations

import math

from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.clock import Clock

__all__ = ["VaultGate"]


class VaultGate:
    """Per-vault throttling: after a 429 no call goes to that vault until the gate reopens.

    A gate never closes for longer than the backoff's cap (cache.backoff_max): Retry-After is what
    Key Vault, or any proxy on the way, says, and a vault closed for a day (or for ever) would
    serve stale values with no way back short of a restart.
    """

    def __init__(self, clock: Clock, backoff: Backoff) -> None:
        self._clock = clock
        self._backoff = backoff
        self._open_at: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    def throttled(self, vault: str, retry_after: float | None) -> float:
        """Close the gate after a 429: for Retry-After (at most the cap), else for a growing
        backoff. Returns how long it stays closed."""
        strikes = self._strikes.get(vault, 0)
        self._strikes[vault] = strikes + 1
        # A Retry-After of 0 (or a past date) is a 429 all the same: taken literally it would
        # switch the gate off and let every call hammer the throttled vault.
        if retry_after is None or not math.isfinite(retry_after) or retry_after <= 0:
            wait = self._backoff.ceiling(strikes)
        else:
            wait = min(retry_after, self._backoff.cap)
        self._open_at[vault] = max(self._open_at.get(vault, 0.0), self._clock.monotonic() + wait)
        return wait

    def succeeded(self, vault: str) -> None:
        self._strikes.pop(vault, None)

    def remaining(self, vault: str) -> float:
        return max(self._open_at.get(vault, 0.0) - self._clock.monotonic(), 0.0)

    def closed(self) -> dict[str, float]:
        """Every vault whose gate is closed now, with the seconds until it reopens."""
        now = self._clock.monotonic()
        return {vault: at - now for vault, at in sorted(self._open_at.items()) if at > now}

    async def wait(self, vault: str) -> None:
        while (remaining := self.remaining(vault)) > 0:
            await self._clock.sleep(remaining)
