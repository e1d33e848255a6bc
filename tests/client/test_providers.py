"""sidecar_sas_provider's settings and hadoop_jar(), without Spark: what the JVM provider gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from akv_client import AzureADLS, SidecarClient, hadoop_jar, spark_submit_conf

HOST = "mystorage.dfs.core.windows.net"


def provider(tmp_path: Path, **kwargs: Any) -> AzureADLS:
    token = tmp_path / "token"
    token.write_text("caller-token", encoding="utf-8")
    sidecar = SidecarClient("http://127.0.0.1:9", token_file=str(token))
    return AzureADLS(
        "mystorage", "lake", auth_mode="sidecar_sas_provider", sidecar=sidecar, **kwargs
    )


def test_settings_name_the_provider_and_hold_no_secret(tmp_path: Path) -> None:
    conn = provider(tmp_path)
    assert conn.spark_conf() == {
        f"fs.azure.account.auth.type.{HOST}": "SAS",
        f"fs.azure.sas.token.provider.type.{HOST}": "org.akvsidecar.hadoop.SidecarSasTokenProvider",
        f"fs.azure.akv-sidecar.url.{HOST}": "http://127.0.0.1:9",
        f"fs.azure.akv-sidecar.token.file.{HOST}": str(tmp_path / "token"),
        f"fs.azure.account.hns.enabled.{HOST}": "false",
        "fs.azure.fns.account.service.type": "BLOB",
    }
    assert conn.uri("t") == f"abfss://lake@{HOST}/t"
    assert conn.sidecar.config.token == "caller-token"


def test_hns_account_and_azurite_endpoint(tmp_path: Path) -> None:
    hns = provider(tmp_path, hns=True).spark_conf()
    assert hns[f"fs.azure.account.hns.enabled.{HOST}"] == "true"
    assert "fs.azure.fns.account.service.type" not in hns
    azurite = provider(tmp_path, endpoint="http://127.0.0.1:10000/mystorage")
    conf = azurite.spark_conf()
    assert conf["fs.azure.abfs.endpoint"] == "127.0.0.1:10000"
    assert conf["fs.azure.always.use.https"] == "false"
    assert conf["fs.azure.networking.library"] == "JDK_HTTP_URL_CONNECTION"
    assert azurite.uri("t") == f"abfs://lake@{HOST}/t"


def test_misconfigurations_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="plain HTTP is for an emulator on this machine"):
        provider(tmp_path, endpoint="http://storage.example/mystorage").spark_conf()
    monkeypatch.delenv("AKV_SIDECAR_TOKEN_FILE", raising=False)
    no_file = AzureADLS(
        "mystorage", "lake", auth_mode="sidecar_sas_provider",
        sidecar=SidecarClient("http://127.0.0.1:9", "t"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="AKV_SIDECAR_TOKEN_FILE"):
        no_file.spark_conf()


def test_hadoop_jar_and_submit_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jar = tmp_path / "providers.jar"
    monkeypatch.setenv("AKV_SIDECAR_HADOOP_JAR", str(jar))
    assert hadoop_jar() is None
    jar.write_bytes(b"PK")
    assert hadoop_jar() == str(jar)
    conf = spark_submit_conf(provider(tmp_path))
    assert conf["spark.jars"] == str(jar)
    assert conf[f"spark.hadoop.fs.azure.account.auth.type.{HOST}"] == "SAS"
    assert conf["spark.redaction.regex"].startswith("(?i)secret|password|token|access[.]?key|")
