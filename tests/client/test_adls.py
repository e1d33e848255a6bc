"""AzureADLS credentials through the real sidecar: caching, single fetch, deadlines, invalidate."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from akv_client import AzureADLS
from tests.client.conftest import SEEDED, CountingClient

if TYPE_CHECKING:
    from akv_emulator import Emulator

HOST = "acct1.dfs.core.windows.net"


def kv_conn(client: CountingClient, name: str = "bronze-key") -> AzureADLS:
    return AzureADLS("acct1", "bronze", key_vault_name="kv1", secret_name=name, sidecar=client)


def test_storage_key_comes_through_the_sidecar_once(client: CountingClient) -> None:
    """get_storage_key returns the vault's key; later calls use the connection's cache."""
    conn = kv_conn(client)
    assert conn.get_storage_key() == SEEDED["bronze-key"]
    assert conn.get_storage_key() == SEEDED["bronze-key"]
    assert conn.spark_conf()[f"fs.azure.account.key.{HOST}"] == SEEDED["bronze-key"]
    assert conn.storage_options()["account_key"] == SEEDED["bronze-key"]
    assert client.calls == {"get_secret": 1}


def test_twenty_threads_make_one_sidecar_call(client: CountingClient, emulator: Emulator) -> None:
    """20 concurrent first callers share one fetch: one sidecar call, one Key Vault get."""
    emulator.inject("kv1", secret="slow-key", latency=0.3)
    conn = kv_conn(client, "slow-key")
    barrier = threading.Barrier(20)

    def first_call(_: int) -> str | None:
        barrier.wait()
        return conn.get_storage_key(timeout=10)

    with ThreadPoolExecutor(max_workers=20) as pool:
        keys = list(pool.map(first_call, range(20)))
    assert keys == [SEEDED["slow-key"]] * 20
    assert client.calls == {"get_secret": 1}
    assert emulator.calls(vault="kv1", op="get", secret="slow-key", status=200) == 1


def test_get_storage_key_times_out_when_key_vault_hangs(
    client: CountingClient, emulator: Emulator
) -> None:
    """A hanging Key Vault: TimeoutError within timeout + 1 s, naming vault and secret."""
    emulator.inject("kv1", secret="slow-key", hang=True)
    conn = kv_conn(client, "slow-key")
    start = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        conn.get_storage_key(timeout=1.0)
    assert time.monotonic() - start < 2.0
    assert "kv1" in str(info.value)
    assert "slow-key" in str(info.value)


def test_waiting_threads_also_respect_their_timeout(
    client: CountingClient, emulator: Emulator
) -> None:
    """A caller queued behind a hung fetch still gets its TimeoutError within its own limit."""
    emulator.inject("kv1", secret="slow-key", hang=True)
    conn = kv_conn(client, "slow-key")
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(conn.get_storage_key, 1.5)
        time.sleep(0.2)
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="slow-key"):
            conn.get_storage_key(timeout=0.5)
        assert time.monotonic() - start < 1.5
        with pytest.raises(TimeoutError):
            first.result()


def test_invalidate_refetches_through_refresh(client: CountingClient, emulator: Emulator) -> None:
    """invalidate() brings a rotated key via the refresh endpoint; a second one within 10 s
    falls back to a plain read instead of failing."""
    conn = kv_conn(client)
    assert conn.get_storage_key() == SEEDED["bronze-key"]
    emulator.set_secret("kv1", "bronze-key", "bronze-rotated")
    assert conn.get_storage_key() == SEEDED["bronze-key"]
    conn.invalidate()
    assert conn.get_storage_key() == "bronze-rotated"
    conn.invalidate()
    assert conn.get_storage_key() == "bronze-rotated"
    assert client.calls == {"get_secret": 2, "refresh_secret": 2}


def test_sas_and_service_principal_secrets_from_key_vault(client: CountingClient) -> None:
    """sas_token and service_principal modes read their secret through the sidecar."""
    sas = AzureADLS(
        "acct1", "bronze", auth_mode="sas_token", key_vault_name="kv1", secret_name="sas-token",
        sidecar=client,
    )  # fmt: skip
    assert sas.spark_conf()[f"fs.azure.sas.fixed.token.{HOST}"] == SEEDED["sas-token"]
    sp = AzureADLS(
        "acct1", "bronze", auth_mode="service_principal", tenant_id="t1", client_id="c1",
        key_vault_name="kv1", secret_name="sp-secret", sidecar=client,
    )  # fmt: skip
    assert sp.get_client_secret() == SEEDED["sp-secret"]
    assert sp.storage_options()["client_secret"] == SEEDED["sp-secret"]
    assert sp.spark_conf()[f"fs.azure.account.oauth2.client.secret.{HOST}"] == SEEDED["sp-secret"]
    assert client.calls == {"get_secret": 2}
