"""Caller token rotation: replacing a token file takes effect without a restart.

The watcher remembers each token file's identity (inode, size, modification time). When any of them
changes it calls `reload`, which re-reads every token and swaps the hashes in at once. It looks on a
fixed cadence, so a replaced (old) token stops working within one interval, and again whenever a
presented token matches no caller, so a caller that already has the new token is never refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from akv_sidecar.core.clock import Clock
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.core.files import Signature, file_signature

__all__ = ["TokenFileWatcher"]

logger = logging.getLogger("akv_sidecar.auth")


class TokenFileWatcher:
    """Calls `reload()` when a token file changed; a failed reload keeps the previous tokens."""

    def __init__(
        self,
        paths: Iterable[str],
        reload: Callable[[], None],
        clock: Clock,
        interval: float,
    ) -> None:
        self._paths = tuple(paths)
        self._reload = reload
        self._clock = clock
        self._interval = interval
        self._seen = self._signatures()

    def _signatures(self) -> tuple[Signature, ...]:
        return tuple(file_signature(path) for path in self._paths)

    def check(self) -> bool:
        """Reload if any file changed since the last look; True when new tokens were loaded."""
        current = self._signatures()
        if current == self._seen:
            return False
        try:
            self._reload()
        except ConfigError as error:
            # A file caught mid-replacement (missing, empty) is retried on the next look.
            logger.error("caller token reload failed; the previous tokens stay valid: %s", error)
            return False
        self._seen = current
        logger.info("caller tokens reloaded", extra={"files": len(self._paths)})
        return True

    async def run(self) -> None:
        """Look every interval until cancelled."""
        while True:
            await self._clock.sleep(self._interval)
            self.check()
