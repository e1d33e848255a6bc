"""odibi's Phase 2C set-up helpers, kept by name and signature, on top of the sidecar.

Fixed along the way: timeouts are honoured (the sidecar client's overall deadline), values never
appear in a repr, all secrets come from one batch request, the success count counts only the
Key Vault connections, and one failure leaves the other connections working.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._client import SidecarClient, shared_client
from ._connection import Connection
from ._exceptions import SidecarError
from ._secret import MASK

__all__ = [
    "KeyVaultFetchResult",
    "configure_connections_parallel",
    "fetch_keyvault_secret",
    "fetch_keyvault_secrets_parallel",
    "prefetch",
]


@dataclass
class KeyVaultFetchResult:
    """The outcome of fetching one connection's secret; `account` is the storage account."""

    connection_name: str
    account: str
    success: bool
    secret_value: str | None = None
    error: Exception | None = None
    duration_ms: float | None = None

    def __repr__(self) -> str:
        value = None if self.secret_value is None else MASK
        return (
            f"KeyVaultFetchResult(connection_name={self.connection_name!r}, "
            f"account={self.account!r}, success={self.success!r}, secret_value={value!r}, "
            f"error={self.error!r}, duration_ms={self.duration_ms!r})"
        )


def fetch_keyvault_secret(
    connection_name: str,
    key_vault_name: str,
    secret_name: str,
    timeout: float = 30.0,
    *,
    account: str = "",
    client: SidecarClient | None = None,
) -> KeyVaultFetchResult:
    """Fetch one secret through the sidecar; returns (never raises) within `timeout`."""
    start = time.perf_counter()
    try:
        secret = (client or shared_client()).get_secret(
            key_vault_name, secret_name, timeout=timeout
        )
    except SidecarError as exc:
        return KeyVaultFetchResult(
            connection_name, account, False, error=exc, duration_ms=_ms(start)
        )
    return KeyVaultFetchResult(connection_name, account, True, secret.value, duration_ms=_ms(start))


def fetch_keyvault_secrets_parallel(
    connections: Mapping[str, Connection],
    max_workers: int = 5,
    timeout: float = 30.0,
    verbose: bool = True,
    *,
    client: SidecarClient | None = None,
) -> dict[str, KeyVaultFetchResult]:
    """Every Key Vault secret the connections need, in ONE batch request to the sidecar.

    Connections that need no secret get a successful result without a value. `max_workers` is
    kept for odibi compatibility: the sidecar fetches in parallel on its side.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers!r}.")
    results: dict[str, KeyVaultFetchResult] = {}
    wanted: list[tuple[str, tuple[str, str]]] = []
    for name, conn in connections.items():
        if conn.secret_ref is None:
            results[name] = KeyVaultFetchResult(name, _account(conn), True, duration_ms=0.0)
        else:
            wanted.append((name, conn.secret_ref))
    if not wanted:
        _say(verbose, "✓ No Key Vault connections to fetch")
        return results
    _say(verbose, f"⚡ Fetching {len(wanted)} Key Vault secrets in parallel...")
    sidecar = client or _client_of(connections)
    start = time.perf_counter()
    outcomes = sidecar.get_secrets([ref for _, ref in wanted], timeout=timeout)
    elapsed = _ms(start)
    for (name, _), outcome in zip(wanted, outcomes, strict=True):
        account = _account(connections[name])
        if isinstance(outcome, SidecarError):
            results[name] = KeyVaultFetchResult(
                name, account, False, error=outcome, duration_ms=elapsed
            )
            _say(verbose, f"  ✗ {name}: {type(outcome).__name__}")
        else:
            results[name] = KeyVaultFetchResult(
                name, account, True, outcome.value, duration_ms=elapsed
            )
            _say(verbose, f"  ✓ {name}: {elapsed:.0f}ms")
    succeeded = sum(1 for name, _ in wanted if results[name].success)
    _say(verbose, f"✓ Completed in {_ms(start):.0f}ms ({succeeded}/{len(wanted)} successful)")
    return results


def configure_connections_parallel(
    connections: Mapping[str, Connection],
    prefetch_secrets: bool = True,
    max_workers: int = 5,
    timeout: float = 30.0,
    verbose: bool = True,
    *,
    client: SidecarClient | None = None,
) -> tuple[Mapping[str, Connection], list[str]]:
    """Prefetch every connection's secret into its cache; failures become error strings."""
    if not prefetch_secrets:
        return connections, []
    results = prefetch(connections, max_workers, timeout, verbose, client)
    errors = [
        f"Failed to fetch secret for '{name}': {result.error}"
        for name, result in results.items()
        if not result.success
    ]
    for error in errors:
        _say(verbose, f"  ⚠ {error}")
    return connections, errors


def prefetch(
    connections: Mapping[str, Connection],
    max_workers: int,
    timeout: float,
    verbose: bool,
    client: SidecarClient | None,
) -> dict[str, KeyVaultFetchResult]:
    """Fetch in one batch and prime each connection that succeeded."""
    results = fetch_keyvault_secrets_parallel(
        connections, max_workers=max_workers, timeout=timeout, verbose=verbose, client=client
    )
    for name, result in results.items():
        if result.secret_value is not None:
            connections[name].prime(result.secret_value)
    return results


def _client_of(connections: Mapping[str, Connection]) -> SidecarClient:
    """The client the connections were given, so tests and apps can steer one batch."""
    for conn in connections.values():
        own = getattr(conn, "_sidecar", None)
        if isinstance(own, SidecarClient):
            return own
    return shared_client()


def _account(conn: Any) -> str:
    return str(getattr(conn, "account", "") or "")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _say(verbose: bool, line: str) -> None:
    if verbose:
        print(line)
