"""What vending ends in: a SAS or an access token, or why neither could be had, as plain values.

The grants hold the credential they carry out of every repr, so a grant that reaches a log line,
an exception or a test failure shows names and times, never the token.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["Problem", "Refused", "SasGrant", "TokenGrant"]


class Problem(enum.Enum):
    KEY_UNAVAILABLE = "key_unavailable"  # the account key is not in the cache and Key Vault fails
    KEY_INVALID = "key_invalid"  # the secret holds no base64 account key: nothing can be signed
    # (ruff's S105 takes any name with "token" in it for a password.)
    TOKEN_UNAVAILABLE = "token_unavailable"  # noqa: S105 - the credential could not get a token
    TOKEN_TIMEOUT = "token_timeout"  # noqa: S105 - the credential gave none within upstream.timeout


@dataclass(frozen=True, slots=True)
class Refused:
    """Why nothing was vended; ``detail`` is safe to show (kinds and codes, never a key, a token
    or a response body); ``retry_after`` is when trying again can help."""

    problem: Problem
    detail: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class SasGrant:
    """A service SAS for one container (or, on an HNS account, one directory)."""

    account: str
    container: str
    path: str | None
    permissions: str  # in Azure's order, e.g. "rl"
    token: str = field(repr=False)  # the query string, without "?"
    signed_at: float  # epoch seconds on the sidecar's clock
    expires_on: float  # epoch seconds, whole: exactly the token's "se"

    def reusable(self, now: float) -> bool:
        """Whether a caller asking now may get this SAS: more than a third of its life is left."""
        return self.expires_on - now > (self.expires_on - self.signed_at) / 3


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """An access token for one scope, and when to get its successor."""

    scope: str
    token: str = field(repr=False)
    expires_on: float  # epoch seconds, as the credential said
    refresh_at: float  # epoch seconds: from then on a request starts a background refresh
