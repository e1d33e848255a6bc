"""Pure parts of the client: value objects, error messages, settings, deadlines, connections."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import akv_client
from akv_client import (
    AzureADLS,
    ClientConfig,
    FallbackConfig,
    KeyVaultFetchResult,
    LocalConnection,
    Secret,
    SecretNotFound,
    SidecarError,
    SidecarTimeout,
)
from akv_client._deadline import Deadline, backoff_delay
from akv_client._errors import from_error_body, from_status

VALUE = "pa55-w0rd-not-to-be-seen"


def test_secret_repr_and_str_mask_the_value() -> None:
    """A Secret shows vault, name and a short version, never its value."""
    secret = Secret.from_json(
        {"vault": "kv1", "name": "bronze", "value": VALUE, "version": "ab12cd34", "stale": False},
        cache="hit",
    )
    assert secret.value == VALUE
    for text in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert VALUE not in text
        assert "kv1" in text
        assert "bronze" in text
        assert "***" in text
        assert "ab12…" in text
    assert secret.cache == "hit"


def test_fetch_result_repr_masks_the_value() -> None:
    """KeyVaultFetchResult keeps the value but never prints it."""
    result = KeyVaultFetchResult("bronze", "acct1", True, secret_value=VALUE, duration_ms=1.0)
    assert result.secret_value == VALUE
    assert VALUE not in repr(result)
    assert "'***'" in repr(result)
    assert "acct1" in repr(result)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "InvalidName", akv_client.InvalidRequest),
        (401, "Unauthenticated", akv_client.Unauthorized),
        (403, "Forbidden", akv_client.Forbidden),
        (404, "SecretNotFound", akv_client.SecretNotFound),
        (404, "VaultNotConfigured", akv_client.SecretNotFound),
        (429, "TooManyRequests", akv_client.RateLimited),
        (502, "UpstreamError", akv_client.UpstreamError),
        (503, "NotReady", akv_client.SidecarUnavailable),
        (504, "UpstreamTimeout", akv_client.SidecarTimeout),
    ],
)
def test_error_statuses_map_to_the_tree(status: int, code: str, cls: type[SidecarError]) -> None:
    """Each sidecar status becomes its exception, whose message names vault/secret and advice."""
    body = {"error": {"code": code, "message": "what to do next"}}
    for error in (
        from_status(status, body, "kv1", "bronze"),
        from_error_body(body["error"], "kv1", "bronze"),
    ):
        assert type(error) is cls
        assert isinstance(error, SidecarError)
        assert "'kv1/bronze'" in str(error)
        assert error.advice in str(error)
        assert error.code == code


def test_messages_tell_what_to_check() -> None:
    """The not-found message names the secret and what to check; a timeout is a TimeoutError."""
    error = SecretNotFound("kv1", "bronze", detail="HTTP 404 SecretNotFound: gone")
    assert str(error).startswith("Key Vault secret 'kv1/bronze' was not found")
    assert "Check the secret name and that the sidecar's allow list permits it." in str(error)
    timeout = SidecarTimeout("kv1", "bronze", detail="no answer within 1s")
    assert isinstance(timeout, TimeoutError)
    copy = pickle.loads(pickle.dumps(timeout))  # noqa: S301 - our own bytes
    assert type(copy) is SidecarTimeout
    assert str(copy) == str(timeout)


def test_config_reads_the_environment(tmp_path: Path) -> None:
    """Explicit arguments beat AKV_SIDECAR_TOKEN, which beats AKV_SIDECAR_TOKEN_FILE."""
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    env = {"AKV_SIDECAR_TOKEN_FILE": str(token_file)}
    assert ClientConfig.resolve(env=env).token == "from-file"
    assert ClientConfig.resolve(env=env).url == "http://127.0.0.1:8787"
    assert ClientConfig.resolve(env=env | {"AKV_SIDECAR_TOKEN": "from-env"}).token == "from-env"
    assert ClientConfig.resolve("http://h:1/", "explicit", env=env).token == "explicit"
    assert ClientConfig.resolve(env={"AKV_SIDECAR_URL": "http://h:2/"}).url == "http://h:2"
    assert "explicit" not in repr(ClientConfig.resolve(token="explicit", env={}))
    with pytest.raises(ValueError, match="AKV_SIDECAR_TOKEN_FILE"):
        ClientConfig.resolve(env={"AKV_SIDECAR_TOKEN_FILE": str(tmp_path / "missing")})
    with pytest.raises(ValueError, match="must start with http"):
        ClientConfig.resolve("ftp://x", env={})


def test_fallback_config_parses_vault_urls() -> None:
    """AKV_SIDECAR_FALLBACK=direct turns the fallback on; vault URLs default to Azure's."""
    config = FallbackConfig.from_env(
        {"AKV_SIDECAR_FALLBACK": "direct", "AKV_SIDECAR_FALLBACK_VAULT_URLS": "kv1=https://h:1"}
    )
    assert config.enabled
    assert config.vault_url("kv1") == "https://h:1"
    assert config.vault_url("kv2") == "https://kv2.vault.azure.net"
    assert not FallbackConfig.from_env({}).enabled
    with pytest.raises(ValueError, match="AKV_SIDECAR_FALLBACK"):
        FallbackConfig.from_env({"AKV_SIDECAR_FALLBACK": "sometimes"})
    with pytest.raises(ValueError, match="AKV_SIDECAR_FALLBACK_VAULT_URLS"):
        FallbackConfig.from_env({"AKV_SIDECAR_FALLBACK_VAULT_URLS": "kv1"})


def test_deadline_and_backoff_with_an_injected_clock() -> None:
    """A Deadline counts down on its clock; backoff is full jitter under an exponential cap."""
    now = [100.0]
    deadline = Deadline(5.0, clock=lambda: now[0])
    assert deadline.remaining() == 5.0
    assert deadline.clamp(2.0) == 2.0
    now[0] += 4.0
    assert deadline.clamp(2.0) == pytest.approx(1.0)
    now[0] += 2.0
    assert deadline.expired
    assert deadline.remaining() == 0.0
    assert backoff_delay(0, 0.1, 2.0, rand=lambda: 1.0) == pytest.approx(0.1)
    assert backoff_delay(3, 0.1, 2.0, rand=lambda: 1.0) == pytest.approx(0.8)
    assert backoff_delay(10, 0.1, 2.0, rand=lambda: 1.0) == 2.0
    assert backoff_delay(10, 0.1, 2.0, rand=lambda: 0.0) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"account": "Bad_Account"}, "'account'"),
        ({"container": "x"}, "'container'"),
        ({"auth_mode": "password"}, "'auth_mode'"),
        ({"key_vault_name": None}, "'key_vault_name'"),
        ({"secret_name": None}, "'secret_name'"),
        ({"auth_mode": "direct_key"}, "'account_key'"),
        ({"auth_mode": "sas_token", "secret_name": None}, "'sas_token'"),
        ({"auth_mode": "service_principal", "client_id": "c"}, "'tenant_id'"),
        ({"auth_mode": "service_principal", "tenant_id": "t"}, "'client_id'"),
        ({"endpoint": "127.0.0.1:10000"}, "'endpoint'"),
    ],
)
def test_adls_validation_names_field_and_connection(kwargs: dict[str, Any], field: str) -> None:
    """Each invalid configuration is a ValueError naming the field and the connection."""
    base: dict[str, Any] = {
        "account": "acct1",
        "container": "bronze",
        "key_vault_name": "kv1",
        "secret_name": "s1",
    }
    with pytest.raises(ValueError, match=field) as info:
        AzureADLS(**(base | kwargs), name="bronze-conn")
    assert "'bronze-conn'" in str(info.value)


def test_adls_uri_and_settings_per_auth_mode() -> None:
    """uri() builds abfss URIs; spark_conf/storage_options match each auth mode."""
    host = "acct1.dfs.core.windows.net"
    conn = AzureADLS("acct1", "bronze", "/raw/", "direct_key", account_key=VALUE)
    assert conn.uri("/t1") == f"abfss://bronze@{host}/raw/t1"
    assert AzureADLS("acct1", "bronze", auth_mode="direct_key", account_key="k").uri("t") == (
        f"abfss://bronze@{host}/t"
    )
    assert conn.spark_conf() == {
        f"fs.azure.account.auth.type.{host}": "SharedKey",
        f"fs.azure.account.key.{host}": VALUE,
    }
    assert conn.storage_options() == {"account_name": "acct1", "account_key": VALUE}
    assert conn.pandas_storage_options() == {"account_name": "acct1", "account_key": VALUE}
    assert VALUE not in repr(conn)

    sas = AzureADLS("acct1", "bronze", auth_mode="sas_token", sas_token="?sv=1&sig=x")
    assert sas.secret_ref is None
    assert sas.spark_conf() == {
        f"fs.azure.account.auth.type.{host}": "SAS",
        f"fs.azure.sas.fixed.token.{host}": "sv=1&sig=x",
    }
    assert sas.storage_options()["sas_token"] == "sv=1&sig=x"

    sp = AzureADLS(
        "acct1", "bronze", auth_mode="service_principal", tenant_id="t1", client_id="c1",
        client_secret=VALUE,
    )  # fmt: skip
    conf = sp.spark_conf()  # the provider classes are loaded in test_spark.py, not spelled here
    assert conf[f"fs.azure.account.auth.type.{host}"] == "OAuth"
    assert conf[f"fs.azure.account.oauth2.client.secret.{host}"] == VALUE
    assert conf[f"fs.azure.account.oauth2.client.endpoint.{host}"] == (
        "https://login.microsoftonline.com/t1/oauth2/token"
    )
    assert sp.storage_options() == {
        "account_name": "acct1", "tenant_id": "t1", "client_id": "c1", "client_secret": VALUE,
    }  # fmt: skip
    assert sp.get_storage_key() is None

    mi = AzureADLS("acct1", "bronze", auth_mode="managed_identity", identity="msi")
    assert mi.spark_conf()[f"fs.azure.account.auth.type.{host}"] == "OAuth"
    assert mi.storage_options() == {"account_name": "acct1"}
    assert mi.pandas_storage_options() == {"account_name": "acct1", "anon": False}

    kv = AzureADLS("acct1", "bronze", key_vault_name="kv1", secret_name="s1", sidecar=None)
    assert kv.secret_ref == ("kv1", "s1")
    kv.prime(VALUE)
    assert kv.get_storage_key() == VALUE


def test_local_connection_has_the_same_interface(tmp_path: Path) -> None:
    """LocalConnection maps paths under its folder and needs no credentials."""
    local = LocalConnection(tmp_path)
    assert isinstance(local, akv_client.Connection)
    assert isinstance(
        AzureADLS("acct1", "bronze", auth_mode="managed_identity"), akv_client.Connection
    )
    assert local.uri("tables/t1") == str(tmp_path / "tables" / "t1")
    assert local.uri("/t2") == str(tmp_path / "t2")
    assert local.secret_ref is None
    assert local.get_storage_key() is None
    assert local.storage_options() == {}
    assert local.spark_conf() == {}
