"""Access tokens of the sidecar's own identity, for the scopes the config lists.

The credential is the one the Key Vault clients use (``Upstream.credential``), never a second
one. Each scope's token is cached; from ``refresh_at`` (five minutes before expiry, or halfway
for a shorter-lived token) a request starts one background refresh and is answered with the token
still cached, so no caller waits on a refresh while a valid token is there. A token with less
than a minute left is not handed out: callers wait for one fetch, shared. Every decision reads the
injected clock, so tests move time exactly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from azure.core.credentials_async import AsyncTokenCredential

from akv_sidecar.cache.policy import SingleFlight
from akv_sidecar.core.clock import Clock
from akv_sidecar.core.tasks import Tasks
from akv_sidecar.vending.outcomes import Problem, Refused, TokenGrant

__all__ = ["MIN_LEFT", "REFRESH_AHEAD", "RETRY_AFTER", "TokenVendor", "refresh_at"]

log = logging.getLogger("akv_sidecar")

# azure-identity and azure-core also refresh five minutes ahead: when this cache asks, the
# credential fetches rather than answering from its own cache.
REFRESH_AHEAD = 300.0
MIN_LEFT = 60.0  # a caller gets at least this long to use a token
# Between background attempts: after a failure, or when the credential answered with the token
# already held (azure-identity waits 30 s between its own requests).
RETRY_AFTER = 30.0


def refresh_at(fetched_at: float, expires_on: float) -> float:
    """When to start getting a token's successor."""
    return expires_on - min(REFRESH_AHEAD, max(expires_on - fetched_at, 0.0) / 2)


class TokenVendor:
    """Tokens per configured scope; ``requests`` counts the tokens asked of the credential."""

    def __init__(
        self,
        scopes: Iterable[str],
        credential: Callable[[], AsyncTokenCredential | None],
        clock: Clock,
        tasks: Tasks,
        timeout: float,
    ) -> None:
        self._scopes = {scope.lower(): scope for scope in scopes}
        self._credential = credential
        self._clock = clock
        self._tasks = tasks
        self._timeout = timeout
        self._grants: dict[str, TokenGrant] = {}  # per configured scope: bounded by the config
        self._next_try: dict[str, float] = {}
        self._flights: SingleFlight[str, TokenGrant | Refused] = SingleFlight(tasks.spawn)
        self.requests = 0

    def scope(self, name: str) -> str | None:
        """The configured scope ``name`` stands for (scopes compare without case), or None."""
        return self._scopes.get(name.lower())

    async def token(self, scope: str) -> TokenGrant | Refused:
        """A token for a configured scope with at least MIN_LEFT to live, or why there is none."""
        now = self._clock.time()
        grant = self._grants.get(scope)
        if grant is not None and grant.expires_on - now > MIN_LEFT:
            if now >= grant.refresh_at and now >= self._next_try.get(scope, 0.0):
                self._next_try[scope] = now + RETRY_AFTER
                if not self._flights.in_flight(scope):
                    self._tasks.spawn(self._refresh(scope), "token refresh")
            return grant
        return await self._flights.run(scope, lambda: self._fetch(scope))

    async def _refresh(self, scope: str) -> None:
        outcome = await self._flights.run(scope, lambda: self._fetch(scope))
        if isinstance(outcome, Refused):
            log.warning("refreshing the access token for %s failed: %s", scope, outcome.detail)

    async def _fetch(self, scope: str) -> TokenGrant | Refused:
        credential = self._credential()
        if credential is None:
            return Refused(Problem.TOKEN_UNAVAILABLE, "the sidecar's credential is not open", 1.0)
        self.requests += 1
        try:
            async with asyncio.timeout(self._timeout):
                access = await credential.get_token(scope)
        except TimeoutError:
            return Refused(
                Problem.TOKEN_TIMEOUT, f"the credential gave no token within {self._timeout:g} s"
            )
        except Exception as error:  # azure-identity raises many kinds; their text may quote bodies
            return Refused(
                Problem.TOKEN_UNAVAILABLE,
                f"the credential could not get a token ({type(error).__name__})",
                RETRY_AFTER,
            )
        now = self._clock.time()
        expires_on = float(access.expires_on)
        held = self._grants.get(scope)
        # The credential may answer with the token already held (its own cache): that changes
        # nothing here, so the next attempt comes RETRY_AFTER later, not at a new refresh_at.
        if held is None or (access.token != held.token and expires_on >= held.expires_on):
            self._grants[scope] = TokenGrant(
                scope, access.token, expires_on, refresh_at(now, expires_on)
            )
        grant = self._grants[scope]
        if grant.expires_on - now <= MIN_LEFT:  # the promise: never a token about to die
            return Refused(
                Problem.TOKEN_UNAVAILABLE,
                f"the credential has no token with more than {MIN_LEFT:g} s left",
                RETRY_AFTER,
            )
        return grant
