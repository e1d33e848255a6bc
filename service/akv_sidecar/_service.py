"""One running sidecar: the parts wired together, and the lifespan that owns their tasks."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from ._auth import Authenticator
from ._cache import SecretCache
from ._clock import Clock, SystemClock
from ._config import Config
from ._policy import Backoff, VaultGate
from ._reads import Reads
from ._records import Records
from ._tasks import Tasks
from ._upstream import Upstream

__all__ = ["Sidecar"]


class Sidecar:
    """Built from a Config (reading caller tokens, so bad ones fail here); started by the lifespan.

    ``clock`` and ``rand`` default to the real ones; tests inject a FakeClock and fixed randomness.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        rand = rand or random.random
        self.auth = Authenticator(config.auth, config.source)
        self.tasks = Tasks()
        cache = config.cache
        self.gate = VaultGate(self.clock, Backoff(cache.backoff_base, cache.backoff_max, rand))
        self.upstream = Upstream(config, self.gate)
        self.cache = SecretCache(config, self.upstream, self.clock, rand, self.tasks)
        self.records = Records()
        self.reads = Reads(self.auth, self.cache, self.records, self.clock)

    async def start(self) -> None:
        """Open the Key Vault clients and start prefetch and the record drain (not awaited)."""
        await self.upstream.open()
        self.tasks.spawn(self.records.run(), "records drain")
        self.tasks.spawn(self.cache.prefetch(), "prefetch")

    async def stop(self) -> None:
        """Cancel and await every background task, then close clients and the credential."""
        await self.tasks.cancel_all()
        await self.upstream.close()

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()
