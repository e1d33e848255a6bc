"""odibi's Phase 2C helpers on top of the real sidecar: one batch, honest counts and timeouts."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from akv_client import (
    AzureADLS,
    Connection,
    FallbackWarning,
    LocalConnection,
    SecretNotFound,
    SidecarClient,
    SidecarError,
    SidecarUnavailable,
    configure_connections_parallel,
    fetch_keyvault_secret,
    fetch_keyvault_secrets_parallel,
    validate_databricks_environment,
)
from akv_sidecar.testing import free_port
from tests.client.conftest import SEEDED, CountingClient

if TYPE_CHECKING:
    from akv_emulator import Emulator


def connections(client: CountingClient, tmp_path: Path) -> dict[str, Connection]:
    def kv(account: str, secret: str) -> AzureADLS:
        return AzureADLS(
            account, "data", key_vault_name="kv1", secret_name=secret, sidecar=client, name=secret
        )

    return {
        "bronze": kv("bronzeacct", "bronze-key"),
        "silver": kv("silveracct", "silver-key"),
        "gold": kv("goldacct", "gold-key-missing"),
        "direct": AzureADLS("directacct", "data", auth_mode="direct_key", account_key="k"),
        "local": LocalConnection(tmp_path),
    }


def test_fetch_keyvault_secret(client: CountingClient, emulator: Emulator) -> None:
    """One fetch succeeds with the value; a missing secret is a failed result, not an exception."""
    ok = fetch_keyvault_secret("bronze", "kv1", "bronze-key", account="acct1", client=client)
    assert ok.success
    assert ok.secret_value == SEEDED["bronze-key"]
    assert ok.account == "acct1"
    assert ok.duration_ms is not None
    missing = fetch_keyvault_secret("gold", "kv1", "nope", client=client)
    assert not missing.success
    assert isinstance(missing.error, SecretNotFound)
    assert missing.secret_value is None


def test_fetch_keyvault_secret_honours_its_timeout(
    client: CountingClient, emulator: Emulator
) -> None:
    """With Key Vault hanging, the fetch returns within timeout + 1 s with a TimeoutError."""
    emulator.inject("kv1", secret="slow-key", hang=True)
    start = time.monotonic()
    result = fetch_keyvault_secret("slow", "kv1", "slow-key", timeout=1.0, client=client)
    assert time.monotonic() - start < 2.0
    assert not result.success
    assert isinstance(result.error, TimeoutError)
    assert "'kv1/slow-key'" in str(result.error)


def test_parallel_fetch_is_one_batch_with_correct_counts(
    client: CountingClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One batch request for the 3 Key Vault connections; verbose lines and a 2/3 count."""
    results = fetch_keyvault_secrets_parallel(connections(client, tmp_path), client=client)
    assert client.calls == {"get_secrets": 1}
    assert results["bronze"].secret_value == SEEDED["bronze-key"]
    assert results["bronze"].account == "bronzeacct"
    assert results["silver"].success
    assert not results["gold"].success
    assert isinstance(results["gold"].error, SecretNotFound)
    assert results["direct"].success
    assert results["direct"].secret_value is None
    assert results["local"].success
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "⚡ Fetching 3 Key Vault secrets in parallel..."
    assert re.fullmatch(r"  ✓ bronze: \d+ms", lines[1])
    assert re.fullmatch(r"  ✓ silver: \d+ms", lines[2])
    assert lines[3] == "  ✗ gold: SecretNotFound"
    assert re.fullmatch(r"✓ Completed in \d+ms \(2/3 successful\)", lines[4])
    assert len(lines) == 5


def test_configure_connections_parallel_isolates_failures(
    client: CountingClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keys land in each connection's cache; the failure is one error string naming 'gold'."""
    conns, errors = configure_connections_parallel(connections(client, tmp_path), client=client)
    assert len(errors) == 1
    assert errors[0].startswith("Failed to fetch secret for 'gold':")
    assert "'kv1/gold-key-missing'" in errors[0]
    bronze, silver = conns["bronze"], conns["silver"]
    assert isinstance(bronze, AzureADLS)
    assert isinstance(silver, AzureADLS)
    assert bronze.get_storage_key() == SEEDED["bronze-key"]
    assert silver.get_storage_key() == SEEDED["silver-key"]
    assert client.calls == {"get_secrets": 1}
    assert "⚠ Failed to fetch secret for 'gold'" in capsys.readouterr().out
    assert configure_connections_parallel(conns, prefetch_secrets=False, client=client)[1] == []


def test_parallel_fetch_timeout_covers_the_batch(
    client: CountingClient, emulator: Emulator, tmp_path: Path
) -> None:
    """A hung secret in the batch: results within timeout + 1 s, each naming its secret."""
    emulator.inject("kv1", secret="slow-key", hang=True)
    conn = AzureADLS("acct1", "data", key_vault_name="kv1", secret_name="slow-key", sidecar=client)
    start = time.monotonic()
    results = fetch_keyvault_secrets_parallel({"slow": conn}, timeout=1.0, verbose=False)
    assert time.monotonic() - start < 2.0
    assert isinstance(results["slow"].error, TimeoutError)
    assert "'kv1/slow-key'" in str(results["slow"].error)


def test_validate_environment_reports_the_sidecar(
    client: CountingClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The environment check says Databricks or not, and whether the sidecar is up and ready."""
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    info = validate_databricks_environment(client=client)
    assert info["is_databricks"]
    assert info["runtime_version"] == "15.4"
    assert info["sidecar_reachable"]
    assert info["sidecar_ready"]
    assert info["errors"] == []
    assert set(info) >= {"spark_available", "dbutils_available"}
    assert "Sidecar Ready: ✓" in capsys.readouterr().out
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION")
    with SidecarClient(f"http://127.0.0.1:{free_port()}", "t") as down:
        info = validate_databricks_environment(verbose=False, client=down)
    assert not info["is_databricks"]
    assert not info["sidecar_reachable"]
    assert "not reachable" in info["errors"][0]


def test_direct_fallback_reads_key_vault_when_sidecar_is_down(
    emulator: Emulator, identity_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AKV_SIDECAR_FALLBACK=direct reads Key Vault itself, with a warning; off by default."""
    emulator.set_secret("kv1", "bronze-key", SEEDED["bronze-key"])
    url = f"http://127.0.0.1:{free_port()}"
    with SidecarClient(url, "t", retries=0) as client, pytest.raises(SidecarUnavailable):
        client.get_secret("kv1", "bronze-key")
    monkeypatch.setenv("AKV_SIDECAR_FALLBACK", "direct")
    monkeypatch.setenv("AKV_SIDECAR_FALLBACK_VAULT_URLS", f"kv1={emulator.vault_url('kv1')}")
    monkeypatch.setenv("AKV_SIDECAR_FALLBACK_CA_FILE", emulator.ca_file)
    with SidecarClient(url, "t", retries=0) as client:
        with pytest.warns(FallbackWarning, match="unreachable"):
            secret = client.get_secret("kv1", "bronze-key")
        assert secret.value == SEEDED["bronze-key"]
        assert secret.cache == "direct"
        with pytest.warns(FallbackWarning):
            found, missing = client.get_secrets([("kv1", "bronze-key"), ("kv1", "nope")])
    assert not isinstance(found, Exception)
    assert found.value == SEEDED["bronze-key"]
    assert isinstance(missing, SecretNotFound)
    assert emulator.calls(vault="kv1", op="get", secret="bronze-key", status=200) == 2


def test_direct_fallback_gets_only_what_the_deadline_has_left(
    emulator: Emulator, identity_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sidecar that hangs up slowly uses most of the deadline; the direct read keeps within it."""
    emulator.set_secret("kv1", "bronze-key", SEEDED["bronze-key"])
    emulator.inject("kv1", hang=True)
    monkeypatch.setenv("AKV_SIDECAR_FALLBACK", "direct")
    monkeypatch.setenv("AKV_SIDECAR_FALLBACK_VAULT_URLS", f"kv1={emulator.vault_url('kv1')}")
    monkeypatch.setenv("AKV_SIDECAR_FALLBACK_CA_FILE", emulator.ca_file)
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.1)

        def hang_up_slowly() -> None:  # reads nothing, answers nothing, closes after 0.6 s
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    connection, _ = listener.accept()
                    stop.wait(0.6)
                    connection.close()

        server = threading.Thread(target=hang_up_slowly)
        server.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        try:
            with SidecarClient(url, "t", retries=2, timeout=2.0) as client:
                started = time.monotonic()
                with pytest.warns(FallbackWarning), pytest.raises(SidecarError):
                    client.get_secret("kv1", "bronze-key")
                elapsed = time.monotonic() - started
        finally:
            stop.set()
            server.join(5)
            emulator.clear_faults()
    assert elapsed < 2.0 + 1.0
