"""Fault injection: latency, outages, error rates, throttling, hangs, failures, malformed bodies."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._exceptions import FaultError, KeyVaultError

Outage = Literal["refuse", "503"]
_HEADER_TEXT = re.compile(r"[\x20-\x7e]*")  # what an HTTP header value can carry as it is
_DEFAULT_CODES = {
    400: "BadParameter",
    401: "Unauthorized",
    403: "Forbidden",
    404: "SecretNotFound",
    409: "Conflict",
    429: "Throttled",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


@dataclass(frozen=True)
class Fault:
    """What goes wrong for requests in one scope (a vault, or one secret of a vault).

    latency: seconds added, fixed or drawn uniformly from (lo, hi). outage: "refuse" closes the
    vault's port, "503" answers ServiceUnavailable. error_rate: fraction answered 500.
    throttle: (n, window_s) admits n requests per window, then 429 Throttled; retry_after adds a
    Retry-After header to 429 and 503 answers: seconds, or any text sent as it is (an HTTP date,
    or what a broken proxy sends: "inf", "nan", "1e9"). hang: accept and never answer until cleared.
    status/code/message: answer every request with that error (message: the error body's text,
    any text at all, e.g. one with newlines). malformed: answer 200 with broken JSON.
    """

    latency: float | tuple[float, float] | None = None
    outage: Outage | None = None
    error_rate: float | None = None
    throttle: tuple[int, float] | None = None
    retry_after: int | str | None = None
    hang: bool = False
    status: int | None = None
    code: str | None = None
    malformed: bool = False
    message: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.latency, (list, tuple)):
            low, high = self.latency
            if not 0 <= low <= high:
                raise FaultError(f"latency range must be 0 <= lo <= hi, got {self.latency}")
            object.__setattr__(self, "latency", (float(low), float(high)))
        elif self.latency is not None and self.latency < 0:
            raise FaultError(f"latency must be >= 0, got {self.latency}")
        if self.outage not in (None, "refuse", "503"):
            raise FaultError(f"outage must be 'refuse' or '503', got {self.outage!r}")
        if self.error_rate is not None and not 0 <= self.error_rate <= 1:
            raise FaultError(f"error_rate must be within [0, 1], got {self.error_rate}")
        if self.throttle is not None:
            count, window = self.throttle
            if count < 0 or window <= 0:
                raise FaultError(f"throttle must be (n >= 0, window_s > 0), got {self.throttle}")
            object.__setattr__(self, "throttle", (int(count), float(window)))
        if isinstance(self.retry_after, str) and not _HEADER_TEXT.fullmatch(self.retry_after):
            raise FaultError("retry_after text must be printable ASCII on one line")
        if self.status is not None and not 400 <= self.status <= 599:
            raise FaultError(f"status must be an HTTP error status, got {self.status}")

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> Fault:
        """Build from JSON-like input (the admin API), rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise FaultError(f"unknown fault key {unknown[0]!r}; allowed: {sorted(known)}")
        try:
            return cls(**spec)
        except (TypeError, ValueError) as exc:
            raise FaultError(f"invalid fault {dict(spec)}: {exc}") from exc

    def overlay(self, newer: Fault) -> Fault:
        """This fault with every field that newer sets taking newer's value."""
        return dataclasses.replace(self, **newer.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """The fields set to something other than their default (0 counts as set)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        }


Scope = tuple[str, "str | None"]


class FaultBook:
    """Faults by scope, throttle windows, and the switch that releases hung requests."""

    def __init__(self, rng: random.Random, clock: Callable[[], float] = time.monotonic) -> None:
        self._rng = rng
        self._clock = clock
        self._faults: dict[Scope, Fault] = {}
        self._windows: dict[Scope, tuple[float, int]] = {}
        self._release = asyncio.Event()
        self._stopping = False

    def inject(self, vault: str, secret: str | None, fault: Fault) -> Fault:
        """Merge fault into the scope's fault and return the result."""
        if secret is not None and fault.outage == "refuse":
            raise FaultError("outage='refuse' closes a vault's port; it cannot target one secret")
        scope = (vault, secret.lower() if secret else None)
        merged = self._faults.get(scope, Fault()).overlay(fault)
        self._faults[scope] = merged
        self._windows.pop(scope, None)
        return merged

    def clear(self, vault: str | None = None) -> None:
        """Drop the faults of one vault (or all) and let hung requests go on."""
        for scope in [s for s in self._faults if vault is None or s[0] == vault]:
            del self._faults[scope]
            self._windows.pop(scope, None)
        self._release.set()
        self._release = asyncio.Event()

    def release_all(self) -> None:
        """Let every hung request go on (at shutdown)."""
        self._stopping = True
        self._release.set()

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {"vault": vault, "secret": secret, **fault.as_dict()}
            for (vault, secret), fault in self._faults.items()
        ]

    def _throttled(self, scope: Scope, limit: tuple[int, float]) -> bool:
        count, window = limit
        now = self._clock()
        started, admitted = self._windows.get(scope, (now, 0))
        if now - started >= window:
            started, admitted = now, 0
        if admitted >= count:
            self._windows[scope] = (started, admitted)
            return True
        self._windows[scope] = (started, admitted + 1)
        return False

    async def apply(self, vault: str, secret: str | None) -> bool:
        """Delay, hang or raise KeyVaultError as the scope's faults say; True means malformed."""
        scopes: list[Scope] = [(vault, None)]
        if secret is not None:
            scopes.append((vault, secret.lower()))
        malformed = False
        for scope in scopes:
            fault = await self._unless_hung(scope)
            if fault is not None:
                await self._apply_one(scope, fault)
                malformed = malformed or fault.malformed
        return malformed

    async def _unless_hung(self, scope: Scope) -> Fault | None:
        """Wait while the scope hangs; then the scope's fault as it is now."""
        fault = self._faults.get(scope)
        while fault is not None and fault.hang and not self._stopping:
            await self._release.wait()
            fault = self._faults.get(scope)
        return fault

    async def _apply_one(self, scope: Scope, fault: Fault) -> None:
        if isinstance(fault.latency, tuple):
            await asyncio.sleep(self._rng.uniform(*fault.latency))
        elif fault.latency:
            await asyncio.sleep(fault.latency)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.outage == "503":
            raise KeyVaultError(
                503, "ServiceUnavailable", "The service is temporarily unavailable.", None, headers
            )
        if fault.throttle is not None and self._throttled(scope, fault.throttle):
            raise KeyVaultError(
                429,
                "Throttled",
                "Request was not processed because too many requests were received. "
                "Reason: VaultRequestTypeLimitReached",
                None,
                headers,
            )
        if fault.status is not None:
            code = fault.code or _DEFAULT_CODES.get(fault.status, "Error")
            raise KeyVaultError(fault.status, code, fault.message or f"Injected failure: {code}.")
        if fault.error_rate and self._rng.random() < fault.error_rate:
            raise KeyVaultError(500, "InternalServerError", "An unexpected error occurred.")
