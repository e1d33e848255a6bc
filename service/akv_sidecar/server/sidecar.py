"""One running sidecar: the parts wired together, and the lifespan that owns their tasks."""

from __future__ import annotations

import asyncio
import gc
import random
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

from akv_sidecar.cache.cache import SecretCache
from akv_sidecar.config.schema import Config
from akv_sidecar.config.watcher import TokenFileWatcher
from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.clock import Clock, SystemClock
from akv_sidecar.core.tasks import Tasks
from akv_sidecar.http.auth import Authenticator
from akv_sidecar.http.reads import Reads
from akv_sidecar.keyvault.client import Upstream
from akv_sidecar.keyvault.gate import VaultGate
from akv_sidecar.ops.audit import AuditLog
from akv_sidecar.ops.metrics import Metrics, MetricsExporter
from akv_sidecar.ops.records import Records
from akv_sidecar.ops.status import StatusBoard
from akv_sidecar.vending.accounts import with_account_keys
from akv_sidecar.vending.sas import SasVendor, load_generators
from akv_sidecar.vending.tokens import TokenVendor

if TYPE_CHECKING:
    from akv_sidecar.http.vending import Vending
    from akv_sidecar.ops.events import EventGridReceiver

# Key Vault answers 403 for a disabled secret: the metrics count it as forbidden; an untrusted
# certificate is one kind of connection error.
_METRIC_OUTCOMES = {"disabled": "forbidden", "untrusted": "error"}

__all__ = ["Sidecar"]


class Sidecar:
    """Built from a Config (reading caller tokens, so bad ones fail here); started by the lifespan.

    ``clock`` and ``rand`` default to the real ones; tests inject a FakeClock and fixed randomness.
    Audit lines go to ``audit_stream`` (stdout). ``freeze_heap`` (the CLI sets it) moves the heap
    present after prefetch out of the garbage collector's way.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        rand: Callable[[], float] | None = None,
        audit_stream: TextIO | None = None,
        freeze_heap: bool = False,
    ) -> None:
        # Storage account keys join their vault's secrets: prefetched and refreshed like any.
        self.config = config = with_account_keys(config)
        self._freeze_heap = freeze_heap
        self.clock: Clock = clock or SystemClock()
        rand = rand or random.random
        self.auth = Authenticator(config.auth, config.source)
        # Files change in real time: the watcher polls on the system clock even under a fake one.
        self.token_watcher = TokenFileWatcher(
            self.auth.token_files, self.auth.reload, SystemClock(), config.auth.reload_interval
        )
        self.auth.recheck = self.token_watcher.check
        self.tasks = Tasks()
        self.metrics = Metrics()
        vault_names = [vault.name for vault in config.vaults]
        self.status = StatusBoard(self.clock, vault_names, lambda: self.upstream.throttled_vaults())
        cache = config.cache
        self.gate = VaultGate(self.clock, Backoff(cache.backoff_base, cache.backoff_max, rand))
        self.upstream = Upstream(config, self.gate, self._observe_call)
        self.cache = SecretCache(config, self.upstream, self.clock, rand, self.tasks, self)
        audit = AuditLog(audit_stream or sys.stdout, config.log_format)
        sinks = (audit.write, self.metrics.observe_reads, self.status.count_reads)
        self.records = Records(sinks=sinks)
        self.reads = Reads(self.auth, self.cache, self.records, self.clock, config.limits)
        # /v1/tokens uses the Key Vault clients' own credential, opened by upstream.open().
        self._tokens = TokenVendor(config.tokens.scopes, lambda: self.upstream.credential,
                                   self.clock, self.tasks, config.upstream.timeout)  # fmt: skip
        self._sas = SasVendor(config.storage.accounts, self.cache, self.clock)
        self._write_vend = audit.write_vend
        self.exporter = MetricsExporter(self.metrics, self._fetch_times, lambda: self.cache.ready)
        self.events: EventGridReceiver | None = None
        if config.events.enabled:  # the receiver's machinery is loaded only when enabled
            from akv_sidecar.ops.events import EventGridReceiver, read_webhook_secret

            self.events = EventGridReceiver(
                read_webhook_secret(config.events, config.source),
                refresh=self.cache.pushed,
                is_served=self.cache.serves,
                metrics=self.metrics,
            )

    @cached_property
    def vending(self) -> Vending:
        """The vending routes' parts, made with the routes (http/vending.py holds their pydantic
        models: FastAPI's side, built when the first request needs it, not at start)."""
        from akv_sidecar.http.vending import Vending

        return Vending(
            self.reads.caller, self.auth, self._sas, self._tokens, self._write_vend, self.clock
        )

    def _observe_call(
        self, vault: str, secret: str | None, outcome: str, seconds: float, detail: str | None
    ) -> None:
        self.metrics.observe_keyvault_call(vault, _METRIC_OUTCOMES.get(outcome, outcome), seconds)
        if secret is not None:
            self.status.record_call(vault, secret, outcome, detail)

    def record_next_refresh(self, vault: str, name: str, delay: float) -> None:
        self.status.record_next_refresh(vault, name, delay)

    def count_refresh_failure(self, vault: str, name: str) -> None:
        self.metrics.count_refresh_failure(vault, name)

    def _fetch_times(self) -> list[tuple[str, str, float]]:
        return [(e.vault, e.name, e.fetched_at) for e in self.cache.store.entries()]

    def reload(self) -> None:
        """What SIGHUP does for the service: pick up replaced caller token files and vault CA
        files now."""
        self.token_watcher.check()
        self.upstream.reload_trust()

    async def start(self) -> None:
        """Open the Key Vault clients and start prefetch and the record drain (not awaited).

        The prefetch is the first task: its first request goes out as soon as the lifespan yields
        to the loop; whatever else start-up does meanwhile overlaps Key Vault's latency.
        """
        await self.upstream.open()
        self.tasks.spawn(self._prefetch(), "prefetch")
        self.tasks.spawn(self.records.run(), "records drain")
        self.tasks.spawn(self.token_watcher.run(), "token file watcher")

    async def _prefetch(self) -> None:
        if self.config.storage.accounts:
            # The SAS generators (~60 ms of imports) load in a thread while the prefetch waits on
            # Key Vault, not on the first SAS request; a sidecar that vends none never loads them.
            self.tasks.spawn(asyncio.to_thread(load_generators), "SAS generators")
        await self.cache.prefetch()
        if self._freeze_heap:
            # What is alive now (modules, SDK clients, prefetched entries) lives as long as the
            # process: frozen, full collections skip it instead of pausing requests for ~20 ms.
            gc.collect()
            gc.freeze()

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
