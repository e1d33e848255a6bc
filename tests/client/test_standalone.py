"""The client on its own, against a scripted sidecar: no service, emulator or Spark needed.

With test_units.py this is what `make test` also runs on Python 3.10 (the Spark drivers' Python on
Databricks 13/14 and Synapse), in a venv holding the client and pytest alone (`make test-py310`).
So this file imports nothing from akv_sidecar or akv_emulator, and no conftest fixture.
"""

from __future__ import annotations

import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from akv_client import (
    AzureADLS,
    LocalConnection,
    SidecarClient,
    Unauthorized,
    fetch_keyvault_secrets_parallel,
    validate_databricks_environment,
)
from tests.client.scripted_server import Reply, ScriptedServer

VALUE = "standalone-" + secrets.token_hex(8)
SECRET = {"vault": "kv1", "name": "bronze-key", "value": VALUE, "version": "ab12", "stale": False}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SidecarClient() finds the URL in AKV_SIDECAR_URL and sends AKV_SIDECAR_TOKEN_FILE's token."""
    token_file = tmp_path / "token"
    token_file.write_text("tok-from-file\n")
    with ScriptedServer([Reply(200, SECRET)]) as server:
        monkeypatch.setenv("AKV_SIDECAR_URL", server.url)
        monkeypatch.setenv("AKV_SIDECAR_TOKEN_FILE", str(token_file))
        monkeypatch.delenv("AKV_SIDECAR_TOKEN", raising=False)
        with SidecarClient() as client:
            assert client.get_secret("kv1", "bronze-key").value == VALUE
    assert server.seen[0].headers["Authorization"] == "Bearer tok-from-file"


def test_unauthorized_is_not_retried() -> None:
    """A 401 becomes Unauthorized after one request, naming the secret and the token settings."""
    refused = Reply(401, {"error": {"code": "Unauthorized", "message": "missing token"}})
    with (
        ScriptedServer([refused]) as server,
        SidecarClient(server.url, retries=3) as client,
        pytest.raises(Unauthorized) as info,
    ):
        client.get_secret("kv1", "bronze-key")
    assert len(server.seen) == 1
    assert "'kv1/bronze-key'" in str(info.value)
    assert "AKV_SIDECAR_TOKEN" in str(info.value)


def test_threads_share_one_storage_key_fetch() -> None:
    """Eight threads asking one connection for its key cause one request and all get the key."""
    slow = Reply(200, SECRET, trickle=0.002)  # about half a second, so the threads overlap
    with ScriptedServer([slow]) as server, SidecarClient(server.url, "t") as client:
        bronze = AzureADLS(
            "acct1", "bronze", key_vault_name="kv1", secret_name="bronze-key", sidecar=client
        )
        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = list(pool.map(lambda _: bronze.get_storage_key(timeout=10), range(8)))
    assert keys == [VALUE] * 8
    assert [seen.path for seen in server.seen] == ["/v1/vaults/kv1/secrets/bronze-key"]


def test_storage_key_timeout_holds_against_a_trickling_sidecar() -> None:
    """get_storage_key(timeout=0.5) raises a TimeoutError within a second on a trickling answer."""
    with (
        ScriptedServer([Reply(200, SECRET, trickle=0.2)]) as server,
        SidecarClient(server.url, "t") as client,
    ):
        bronze = AzureADLS(
            "acct1", "bronze", key_vault_name="kv1", secret_name="bronze-key", sidecar=client
        )
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="'kv1/bronze-key'"):
            bronze.get_storage_key(timeout=0.5)
        assert time.monotonic() - start < 1.5


def test_parallel_fetch_counts_and_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One batch for two Key Vault connections; the count is 1/2; no value printed or repr'd."""
    gone = {"vault": "kv1", "name": "gold-key", "error": {"code": "SecretNotFound", "message": "-"}}
    with (
        ScriptedServer([Reply(200, {"results": [SECRET, gone]})]) as server,
        SidecarClient(server.url, "t") as client,
    ):
        connections = {
            "bronze": AzureADLS("acct1", "data", key_vault_name="kv1", secret_name="bronze-key"),
            "gold": AzureADLS("acct2", "data", key_vault_name="kv1", secret_name="gold-key"),
            "local": LocalConnection(tmp_path),
        }
        results = fetch_keyvault_secrets_parallel(connections, client=client)
    assert [seen.path for seen in server.seen] == ["/v1/secrets:batch"]
    assert results["bronze"].secret_value == VALUE
    assert not results["gold"].success
    assert results["local"].success
    printed = capsys.readouterr().out
    assert "(1/2 successful)" in printed
    assert VALUE not in printed + repr(results)


def test_environment_check_reports_the_sidecar() -> None:
    """validate_databricks_environment says ready for a ready sidecar, unreachable for none."""
    ready = Reply(200, {"status": "ready", "failed": []})
    with ScriptedServer([ready]) as server, SidecarClient(server.url) as client:
        report = validate_databricks_environment(verbose=False, client=client)
    assert (report["sidecar_reachable"], report["sidecar_ready"], report["errors"]) == (
        True,
        True,
        [],
    )
    with SidecarClient(f"http://127.0.0.1:{closed_port()}") as client:
        report = validate_databricks_environment(verbose=False, client=client)
    assert (report["sidecar_reachable"], report["sidecar_ready"]) == (False, False)
    assert any("not reachable" in error for error in report["errors"])
