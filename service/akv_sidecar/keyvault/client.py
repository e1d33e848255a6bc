"""Key Vault, as the service sees it: one async SecretClient per vault and plain outcomes.

This module is the only place that knows Azure's exceptions: every call returns either a
``SecretData`` (or a list of names) or a ``Failed`` outcome. Calls are bounded by a semaphore
(upstream.concurrency), by a deadline (upstream.timeout; for a listing, per page: a vault of
10,000 secrets takes ~400 pages), and by the vault's gate, which a 429 closes for every call to
that vault. The SDK never retries (``retry_total=0``): the backoff is ours.
"""

from __future__ import annotations

import asyncio
import email.utils
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import AioHttpTransport
from azure.keyvault.secrets.aio import SecretClient

from akv_sidecar.config.schema import Config, VaultConfig
from akv_sidecar.keyvault.credential import VAULT_SCOPE, build_credential
from akv_sidecar.keyvault.gate import VaultGate
from akv_sidecar.keyvault.outcomes import Failed, Failure
from akv_sidecar.keyvault.secret import SecretData

__all__ = ["Upstream"]

T = TypeVar("T")
# Told about every Key Vault call: vault, secret (None for a listing), outcome ("ok" or a Failure
# value), seconds and the failure detail. Metrics and the status board listen here.
CallObserver = Callable[[str, str | None, str, float, str | None], None]


_TLS_CLOSE_GRACE = 0.25  # seconds


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
        self._clients: dict[str, SecretClient] = {}
        self._cut_short = False  # a request was cancelled or timed out mid-flight

    async def open(self) -> None:
        self._credential = build_credential(self._config.credential, self._config.source)
        for vault in self._config.vaults:
            self._clients[vault.name.lower()] = self._client(vault, self._credential)

    def _client(self, vault: VaultConfig, credential: AsyncTokenCredential) -> SecretClient:
        context = ssl.create_default_context()
        if vault.ca_file:
            context.load_verify_locations(vault.ca_file)
        # Our own session so the TLS context is built once and connections are reused.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=self._config.upstream.concurrency),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=True,
        )
        return SecretClient(
            vault.vault_url,
            credential,
            transport=AioHttpTransport(session=session, session_owner=True),
            retry_total=0,
            verify_challenge_resource=_is_azure_host(vault.vault_url),
            connection_timeout=self._timeout,
            read_timeout=self._timeout,
        )

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
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
        client = self._clients[vault.lower()]

        async def get() -> SecretData:
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
        client = self._clients[vault.lower()]

        async def names() -> list[str]:
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


def _is_azure_host(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return host.endswith(".vault.azure.net")


def _translate(error: Exception, timeout: float) -> Failed:
    """Azure's exceptions as outcomes; messages keep status and codes, never response bodies."""
    if isinstance(error, TimeoutError | ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return Failed(Failure.TIMEOUT, f"no answer within {timeout:g} s")
    if isinstance(error, ResourceNotFoundError):
        return Failed(Failure.NOT_FOUND, "not found in Key Vault")
    if isinstance(error, ClientAuthenticationError) and error.status_code is None:
        return Failed(
            Failure.ERROR, f"the credential could not get a token ({type(error).__name__})"
        )
    if isinstance(error, HttpResponseError):
        return _translate_status(error)
    if (refused := _certificate_error(error)) is not None:
        reason = getattr(refused, "verify_message", None) or "certificate verify failed"
        return Failed(
            Failure.UNTRUSTED,
            f"Key Vault's TLS certificate is not trusted ({reason}); check the vault's ca_file, "
            "or a TLS-inspecting proxy on the way",
        )
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return Failed(Failure.ERROR, f"Key Vault could not be reached ({type(error).__name__})")
    return Failed(Failure.ERROR, f"unexpected {type(error).__name__}")


def _certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The innermost certificate verification failure in the error's chain, if any (the
    innermost is ssl's own, which carries the reason; aiohttp's wrapper is one too)."""
    found, seen = None, set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            found = current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return found


def _translate_status(error: HttpResponseError) -> Failed:
    status = error.status_code
    code = error.error.code if error.error is not None else None
    inner = error.error.innererror if error.error is not None else {}
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    detail = f"HTTP {status} {code or ''}".strip()
    if status == 429:
        headers = getattr(error.response, "headers", None) or {}
        return Failed(Failure.THROTTLED, detail, _retry_after(headers.get("Retry-After")))
    if status == 403 and (inner_code == "SecretDisabled" or "disabled" in str(error).lower()):
        return Failed(Failure.DISABLED, detail)
    if status in (401, 403):
        return Failed(Failure.FORBIDDEN, detail)
    if status == 404:
        return Failed(Failure.NOT_FOUND, detail)
    return Failed(Failure.ERROR, detail)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date); None if absent or unusable."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = email.utils.localtime()
    return max((moment - now).total_seconds(), 0.0)
