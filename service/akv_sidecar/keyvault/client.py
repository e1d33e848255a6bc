"""Key Vault, as the service sees it: one async SecretClient per vault and plain outcomes.

This module is the only place that knows Azure's exceptions: every call returns either a
``SecretData`` (or a list of names) or a ``Failed`` outcome. Calls are bounded by a semaphore
(upstream.concurrency), by a deadline (upstream.timeout; for a listing, per page: a vault of
10,000 secrets takes ~400 pages), and by the vault's gate, which a 429 closes for every call to
that vault. The SDK never retries (``retry_total=0``): the backoff is ours.

A vault's first call goes alone until it leaves with a token (``_authorized``): the SDK sends each
call without one until it has seen the vault's 401 challenge, so a prefetch of 16 at once cost 16
challenges (16 TLS handshakes, 16 401s, then the token, then the reads) where one does; the others
follow it the moment the challenge is known (50 fetches at 150 ms, 16 at a time, on a busy 2-core
machine: 0.73-0.82 s before, 0.70-0.77 s after; the ideal is 0.60 s).

A vault whose ca_file was replaced gets a new client for its next call; the old one is closed
once the calls it carries have ended. The files are looked at on SIGHUP (``reload_trust``) and,
at most every upstream.ca_reload_interval, before a call: no task of its own, and a replaced CA
is in use by the first call that needs it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.transport import AioHttpTransport
from azure.keyvault.secrets.aio import SecretClient

from akv_sidecar.config.schema import Config, VaultConfig
from akv_sidecar.keyvault.credential import VAULT_SCOPE, build_credential
from akv_sidecar.keyvault.failures import translate as _translate
from akv_sidecar.keyvault.gate import VaultGate
from akv_sidecar.keyvault.outcomes import Failed, Failure
from akv_sidecar.keyvault.secret import SecretData
from akv_sidecar.keyvault.trust import TrustFiles

__all__ = ["Upstream"]

log = logging.getLogger("akv_sidecar")

T = TypeVar("T")
# Told about every Key Vault call: vault, secret (None for a listing), outcome ("ok" or a Failure
# value), seconds and the failure detail. Metrics and the status board listen here.
CallObserver = Callable[[str, str | None, str, float, str | None], None]


_TLS_CLOSE_GRACE = 0.25  # seconds


@dataclass(eq=False)
class _VaultClient:
    """One vault's SDK client and the calls it is carrying (so a replaced one closes idle);
    ``authorized`` is set once a call left with a token (or the first call ended)."""

    sdk: SecretClient
    authorized: asyncio.Event
    calls: int = 0
    retired: bool = False
    priming: bool = False


class Upstream:
    """The Key Vault clients of every configured vault, opened and closed together."""

    def __init__(
        self, config: Config, gate: VaultGate, observe: CallObserver | None = None
    ) -> None:
        self._config = config
        self._gate = gate
        self._observe = observe
        self._timeout = config.upstream.timeout
        self._semaphore = asyncio.Semaphore(config.upstream.concurrency)
        self._credential: AsyncTokenCredential | None = None
        self._vaults = {vault.name.lower(): vault for vault in config.vaults}
        self._clients: dict[str, _VaultClient] = {}
        self._trust = TrustFiles(config.vaults)
        # Written by reload_trust (from any thread), taken on the loop by the vault's next call.
        self._renewed: dict[str, ssl.SSLContext] = {}
        self._retired: list[_VaultClient] = []
        self._trust_interval = config.upstream.ca_reload_interval
        self._trust_looked = time.monotonic()  # files change in real time, whatever the clock
        self._cut_short = False  # a request was cancelled or timed out mid-flight

    async def open(self) -> None:
        self._credential = build_credential(self._config.credential, self._config.source)
        for key, vault in self._vaults.items():
            self._clients[key] = self._client(vault, self._trust.load(vault))

    def reload_trust(self) -> int:
        """Load every ca_file replaced since it was loaded (SIGHUP calls this); each such vault's
        next call uses a new client. Returns how many vaults changed."""
        if self._credential is None:
            return 0
        self._trust_looked = time.monotonic()
        fresh = self._trust.changed()
        for key in fresh:
            log.info("vault %s: ca_file reloaded; new connections trust it", self._vaults[key].name)
        self._renewed.update(fresh)
        return len(fresh)

    @asynccontextmanager
    async def _using(self, vault: str) -> AsyncIterator[SecretClient]:
        """The vault's client for one call (a new one if its CA was reloaded)."""
        key = vault.lower()
        if time.monotonic() - self._trust_looked >= self._trust_interval:
            self.reload_trust()
        context = self._renewed.pop(key, None)
        if context is not None:
            old = self._clients[key]
            self._clients[key] = self._client(self._vaults[key], context)
            old.retired = True
            self._retired.append(old)
        holder = self._clients[key]
        holder.calls += 1
        primer = not holder.authorized.is_set() and not holder.priming
        holder.priming |= primer
        try:
            if not primer:
                await holder.authorized.wait()  # set at once after the first
            yield holder.sdk
        finally:
            if primer:
                holder.authorized.set()  # failed or not, the others go now
            holder.calls -= 1
            await self._close_retired()

    async def _close_retired(self) -> None:
        idle = [holder for holder in self._retired if holder.calls == 0]
        self._retired = [holder for holder in self._retired if holder.calls > 0]
        for holder in idle:
            await holder.sdk.close()

    def _client(self, vault: VaultConfig, context: ssl.SSLContext | None) -> _VaultClient:
        credential = self._credential
        assert credential is not None, "open() first"
        # Our own session so the TLS context is built once and connections are reused.
        session = aiohttp.ClientSession(
            # ssl=True: aiohttp's default verified context (the system's CAs).
            connector=aiohttp.TCPConnector(
                ssl=True if context is None else context, limit=self._config.upstream.concurrency
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=True,
        )
        authorized = asyncio.Event()
        sdk = SecretClient(
            vault.vault_url,
            credential,
            transport=AioHttpTransport(session=session, session_owner=True),
            # Called after the SDK's challenge policy (azure-core's custom hook), on every request.
            raw_request_hook=lambda request: _authorized(request, authorized),
            retry_total=0,
            verify_challenge_resource=_is_azure_host(vault.vault_url),
            connection_timeout=self._timeout,
            read_timeout=self._timeout,
            # Key Vaults that lag (Azure Stack Hub, sovereign clouds) refuse the SDK's newest.
            **({"api_version": vault.api_version} if vault.api_version else {}),
        )
        return _VaultClient(sdk, authorized)

    @property
    def credential(self) -> AsyncTokenCredential | None:
        """The sidecar's credential while open (None before open and after close), for other
        tokens of the same identity (/v1/tokens); closing it stays here."""
        return self._credential

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        retired, self._retired = self._retired, []
        for holder in clients + retired:
            await holder.sdk.close()
        if self._credential is not None:
            await self._credential.close()
            self._credential = None
        if self._cut_short:
            # A request cut short leaves aiohttp closing its TLS connection in the background;
            # let that finish before the loop closes (aiohttp's documented graceful shutdown).
            await asyncio.sleep(_TLS_CLOSE_GRACE)

    async def fetch(
        self, vault: str, name: str, version: str | None = None, *, wait: bool = True
    ) -> SecretData | Failed:
        """Get one secret (its latest or a given version)."""

        async def get() -> SecretData:
            async with self._using(vault) as client:
                secret = await client.get_secret(name, version)
            props = secret.properties
            return SecretData(
                name=secret.name or name,
                value=secret.value or "",
                version=props.version or "",
                content_type=props.content_type,
                tags=props.tags,
                enabled=props.enabled is not False,
                not_before=props.not_before,
                expires_on=props.expires_on,
                updated_on=props.updated_on,
            )

        return await self._call(vault, get, wait=wait, secret=name)

    async def list_enabled(self, vault: str) -> list[str] | Failed:
        """Names of every enabled secret in the vault (for ``secrets: ["*"]``)."""

        async def names() -> list[str]:
            async with self._using(vault) as client:
                pages = client.list_properties_of_secrets().by_page()
                found: list[str] = []
                while True:
                    async with asyncio.timeout(self._timeout):
                        page = await anext(pages, None)
                        if page is None:
                            return found
                        found += [p.name async for p in page if p.enabled is not False and p.name]

        return await self._call(vault, names, wait=True, deadline=False)

    def throttled_for(self, vault: str) -> float:
        """Seconds until the vault's gate reopens after a 429 (0 when open)."""
        return self._gate.remaining(vault.lower())

    def throttled_vaults(self) -> dict[str, float]:
        """Every vault (as configured) whose gate is closed, with the seconds until it reopens."""
        return {self._vaults[key].name: left for key, left in self._gate.closed().items()}

    async def check_credential(self) -> Failed | None:
        """Obtain a Key Vault token once; None when it works."""
        assert self._credential is not None, "open() first"
        credential = self._credential

        async def token() -> None:
            await credential.get_token(VAULT_SCOPE)

        return await self._guarded(token, self._timeout)

    async def _call(
        self,
        vault: str,
        work: Callable[[], Awaitable[T]],
        *,
        wait: bool,
        secret: str | None = None,
        deadline: bool = True,
    ) -> T | Failed:
        """``work`` through the gate and the semaphore; within upstream.timeout unless
        ``deadline`` is False (``work`` then applies the timeout to each of its requests)."""
        key = vault.lower()
        while True:
            if not wait and (remaining := self._gate.remaining(key)) > 0:
                return Failed(Failure.THROTTLED, "throttled by Key Vault", remaining)
            await self._gate.wait(key)
            async with self._semaphore:
                if self._gate.remaining(key) > 0:
                    continue  # throttled while we queued: go back to waiting
                started = time.perf_counter()
                outcome = await self._guarded(work, self._timeout if deadline else None)
            break
        if self._observe is not None:
            failed = outcome if isinstance(outcome, Failed) else None
            self._observe(
                vault,
                secret,
                failed.kind.value if failed else "ok",
                time.perf_counter() - started,
                failed.detail if failed else None,
            )
        if isinstance(outcome, Failed) and outcome.kind is Failure.THROTTLED:
            wait_s = self._gate.throttled(key, outcome.retry_after)
            return Failed(Failure.THROTTLED, outcome.detail, wait_s)
        if not isinstance(outcome, Failed):
            self._gate.succeeded(key)
        return outcome

    async def _guarded(self, work: Callable[[], Awaitable[T]], timeout: float | None) -> T | Failed:
        """``work`` within ``timeout`` (None: ``work`` applies its own), as an outcome."""
        try:
            async with asyncio.timeout(timeout):
                return await work()
        except asyncio.CancelledError:
            self._cut_short = True
            raise
        except Exception as error:
            self._cut_short |= isinstance(error, TimeoutError)
            return _translate(error, self._timeout)


def _authorized(request: PipelineRequest, event: asyncio.Event) -> None:  # type: ignore[type-arg]
    """The first request leaving with a token sets ``event``: the vault's challenge is known."""
    if not event.is_set() and "Authorization" in request.http_request.headers:
        event.set()


def _is_azure_host(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return host.endswith(".vault.azure.net")
