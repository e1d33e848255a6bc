"""``akv-sidecar check``: the config doctor.

Loads the config (already validated by then), reads the caller tokens, obtains a credential, fetches
every configured secret once, and prints a table. Values are never printed; any failure exits 1.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from akv_sidecar.config.schema import Config, VaultConfig
from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.clock import SystemClock
from akv_sidecar.http.auth import Authenticator
from akv_sidecar.keyvault.client import Upstream
from akv_sidecar.keyvault.gate import VaultGate
from akv_sidecar.keyvault.outcomes import Failed
from akv_sidecar.vending.accounts import with_account_keys

__all__ = ["run_check"]

Row = tuple[str, str, str, str, str]  # vault, secret, version, latency, result
_HEADER: Row = ("VAULT", "SECRET", "VERSION", "LATENCY", "RESULT")


def run_check(config: Config, out: TextIO | None = None) -> int:
    """Print the table to ``out`` (stdout); 0 if everything worked, else 1."""
    Authenticator(config.auth, config.source)  # unreadable or short tokens raise ConfigError
    # As serve does: storage account keys join their vaults' secrets (and a bad account fails).
    config = with_account_keys(config)
    rows = asyncio.run(_rows(config))
    _print_table(rows, out or sys.stdout)
    failures = sum(row[4] != "ok" for row in rows)
    print(f"{len(rows) - failures} ok, {failures} failed", file=out or sys.stdout)
    return 1 if failures else 0


async def _rows(config: Config) -> list[Row]:
    clock = SystemClock()
    upstream = Upstream(config, VaultGate(clock, Backoff(1.0, 1.0, lambda: 1.0)))
    await upstream.open()
    try:
        started = time.perf_counter()
        problem = await upstream.check_credential()
        rows: list[Row] = [
            ("-", f"(credential: {config.credential.kind})", "-", _ms(started), _result(problem))
        ]
        for vault in config.vaults:
            rows += await _vault_rows(upstream, vault)
        return rows
    finally:
        await upstream.close()


async def _vault_rows(upstream: Upstream, vault: VaultConfig) -> list[Row]:
    names = vault.names_with()
    rows: list[Row] = []
    if vault.lists_all:
        started = time.perf_counter()
        listed = await upstream.list_enabled(vault.name)
        if isinstance(listed, Failed):
            rows.append((vault.name, "* (list)", "-", _ms(started), _result(listed)))
        else:
            names = vault.names_with(listed)

    async def fetch(name: str) -> Row:
        started = time.perf_counter()
        outcome = await upstream.fetch(vault.name, name)
        if isinstance(outcome, Failed):
            return (vault.name, name, "-", _ms(started), _result(outcome))
        return (vault.name, name, outcome.version, _ms(started), "ok")

    return rows + list(await asyncio.gather(*(fetch(name) for name in names)))


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.0f} ms"


def _result(problem: Failed | None) -> str:
    return "ok" if problem is None else f"FAILED {problem.kind.value}: {problem.detail}"


def _print_table(rows: list[Row], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in [_HEADER, *rows]) for i in range(len(_HEADER))]
    for row in [_HEADER, *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(),
            file=out,
        )
