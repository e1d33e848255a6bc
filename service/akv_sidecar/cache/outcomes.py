"""What a cache read ends in: a hit, or why it was not served, as plain values.

A read returns a ``Hit``, a Key Vault ``Failed`` outcome (the fetch it needed failed), or a
``Declined`` (the cache itself would not serve it). The http layer turns the last two into what a
caller is told (``akv_sidecar.http.errors``); nothing here knows HTTP.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from akv_sidecar.cache.store import Entry
from akv_sidecar.keyvault.outcomes import Failed

__all__ = ["Declined", "Hit", "Refusal", "Unserved"]

Hit = tuple[Entry, float, str]  # entry, age in seconds, cache status ("hit" | "miss" | "stale")


class Refusal(enum.Enum):
    TOO_STALE = "too_stale"  # past cache.max_stale and Key Vault still failing
    NOT_LISTED = "not_listed"  # not configured for the vault, and cache.on_demand is off
    TOO_SOON = "too_soon"  # refreshed by hand less than cache.manual_refresh_interval ago
    NO_SUCH_VAULT = "no_such_vault"
    OVER_BUDGET = (
        "over_budget"  # the caller spent its budget of Key Vault calls (limits.upstream_*)
    )


@dataclass(frozen=True, slots=True)
class Declined:
    """Why the cache did not serve a read; ``retry_after`` is when trying again can help."""

    refusal: Refusal
    retry_after: float | None = None


Unserved = Failed | Declined
