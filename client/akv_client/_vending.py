"""Credentials the sidecar vends, in use: one SAS or access token per connection, shared by every
thread and renewed once less than a third of its life is left (`VendedCredential`); and the async
token credential azure-core (so adlfs) takes, asking the sidecar (`SidecarTokenCredential`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, NamedTuple

from ._client import STORAGE_SCOPE, SidecarClient
from ._deadline import Deadline, Lease
from ._exceptions import (
    RateLimited,
    SidecarError,
    SidecarTimeout,
    SidecarUnavailable,
    UpstreamError,
)
from ._secret import MASK, AccessToken, VendedSas

__all__ = ["SidecarTokenCredential", "VendedCredential"]

Vended = VendedSas | AccessToken
# A failed renewal while the credential still works: keep it, and try again this soon.
_TRANSIENT = (SidecarUnavailable, SidecarTimeout, UpstreamError, RateLimited)
_RENEW_TIMEOUT = 5.0
_RENEW_RETRY = 15.0
_log = logging.getLogger("akv_client")


class _Held(NamedTuple):
    value: Vended
    lease: Lease


class VendedCredential:
    """One vended credential, fetched with `vend(timeout)` on first use and renewed when due.

    Threads share one request. While the current credential still works, the others keep using
    it during a renewal, and a renewal that fails for a passing reason (sidecar unreachable,
    throttled, Azure erring) keeps it until it expires; a refusal (403, 404) drops it.
    """

    def __init__(self, vend: Callable[[float], Vended], subject: str) -> None:
        self._vend = vend
        self.subject = subject
        self._lock = threading.Lock()
        self._held: _Held | None = None

    def __repr__(self) -> str:
        return f"VendedCredential({self.subject!r})"

    def drop(self) -> None:
        """Forget the credential (e.g. after Azure refused it): the next use vends a new one."""
        self._held = None

    def get(self, timeout: float) -> Vended:
        held = self._held
        if held is not None and not held.lease.renew_due:
            return held.value
        usable = held is not None and not held.lease.expired
        deadline = Deadline(timeout)
        if usable:
            acquired = self._lock.acquire(blocking=False)
        else:
            acquired = self._lock.acquire(timeout=deadline.remaining())
        if not acquired:
            if held is not None and usable:
                return held.value  # another thread is renewing it
            detail = f"another thread's request did not finish within {timeout:g}s"
            raise SidecarTimeout(detail=detail, subject=self.subject)
        try:
            held = self._held
            if held is None or held.lease.renew_due:
                held = self._renew(held, deadline)
            return held.value
        finally:
            self._lock.release()

    def _renew(self, held: _Held | None, deadline: Deadline) -> _Held:
        usable = held is not None and not held.lease.expired
        budget = min(deadline.remaining(), _RENEW_TIMEOUT) if usable else deadline.remaining()
        try:
            value = self._vend(budget)
        except _TRANSIENT as exc:
            if held is None or not usable:
                raise
            held.lease.postpone(min(_RENEW_RETRY, held.lease.lifetime / 10))
            _log.warning(
                "Renewing %s failed (%s); the current one is kept until it expires.",
                self.subject,
                type(exc).__name__,
            )
            return held
        except SidecarError:
            self._held = None
            raise
        lease = Lease(value.expires_on)
        if lease.expired:
            detail = (
                f"it expires at {value.expires_on.isoformat()}, already past by this machine's "
                "clock: check the clocks"
            )
            raise SidecarError(detail=detail, subject=self.subject)
        self._held = _Held(value, lease)
        return self._held


class _CoreAccessToken:
    """azure-core's `AccessToken` shape (`.token`, `.expires_on` in epoch seconds), masked."""

    __slots__ = ("expires_on", "token")

    def __init__(self, token: str, expires_on: int) -> None:
        self.token = token
        self.expires_on = expires_on

    def __repr__(self) -> str:
        return f"AccessToken(token={MASK!r}, expires_on={self.expires_on!r})"

    def __iter__(self) -> Any:  # azure-core's AccessToken is a NamedTuple: unpacking works too
        return iter((self.token, self.expires_on))


class SidecarTokenCredential:
    """An azure-core async token credential (adlfs's `credential=`, azure-storage-blob's aio
    clients) whose tokens come from the sidecar's `POST /v1/tokens`.

    azure-core caches each token and asks again shortly before it expires. The blocking sidecar
    call runs in the event loop's default executor.
    """

    def __init__(self, sidecar: SidecarClient, *, timeout: float = 30.0) -> None:
        self._sidecar = sidecar
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SidecarTokenCredential(url={self._sidecar.url!r})"

    async def get_token(self, *scopes: str, **kwargs: Any) -> _CoreAccessToken:
        scope = scopes[0] if scopes else STORAGE_SCOPE
        loop = asyncio.get_running_loop()
        token: AccessToken = await loop.run_in_executor(None, self._fetch, scope)
        return _CoreAccessToken(token.token, int(token.expires_on.timestamp()))

    def _fetch(self, scope: str) -> AccessToken:
        return self._sidecar.get_token(scope, timeout=self._timeout)

    async def close(self) -> None:
        """Nothing to close: the sidecar client belongs to its owner."""

    async def __aenter__(self) -> SidecarTokenCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
