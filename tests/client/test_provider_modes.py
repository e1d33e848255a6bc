"""sidecar_token_provider and sidecar_key_provider without Spark: the ABFS settings each gives the
JVM (provider classes and names, no secret), their misconfigurations, and what they do elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from akv_client import AzureADLS, SidecarClient, spark_submit_conf
from akv_client._providers import PROVIDER_MODES, PROVIDERS, elsewhere

HOST = "mystorage.dfs.core.windows.net"


def connection(tmp_path: Path, mode: str, **kwargs: Any) -> AzureADLS:
    token = tmp_path / "token"
    token.write_text("caller-token", encoding="utf-8")
    sidecar = SidecarClient("http://127.0.0.1:9", token_file=str(token))
    return AzureADLS("mystorage", "lake", auth_mode=mode, sidecar=sidecar, **kwargs)


def test_token_provider_names_sidecar_token_provider(tmp_path: Path) -> None:
    """Custom auth (ABFS's type for a CustomTokenProviderAdaptee) with SidecarTokenProvider."""
    conf = connection(tmp_path, "sidecar_token_provider").spark_conf()
    assert conf == {
        f"fs.azure.account.auth.type.{HOST}": "Custom",
        f"fs.azure.account.oauth.provider.type.{HOST}": PROVIDERS["sidecar_token_provider"],
        f"fs.azure.akv-sidecar.url.{HOST}": "http://127.0.0.1:9",
        f"fs.azure.akv-sidecar.token.file.{HOST}": str(tmp_path / "token"),
        f"fs.azure.account.hns.enabled.{HOST}": "false",
        "fs.azure.fns.account.service.type": "BLOB",
    }


def test_key_provider_names_the_secret_not_the_key(tmp_path: Path) -> None:
    """SharedKey with SidecarKeyProvider and the vault and secret's names, never a key."""
    conn = connection(
        tmp_path, "sidecar_key_provider", key_vault_name="kv1", secret_name="mystorage-key"
    )
    conf = conn.spark_conf()
    assert conf[f"fs.azure.account.auth.type.{HOST}"] == "SharedKey"
    assert conf[f"fs.azure.account.keyprovider.{HOST}"] == PROVIDERS["sidecar_key_provider"]
    assert conf[f"fs.azure.akv-sidecar.key.vault.{HOST}"] == "kv1"
    assert conf[f"fs.azure.akv-sidecar.key.secret.{HOST}"] == "mystorage-key"
    assert not [key for key in conf if "account.key." in key]


def test_https_loopback_is_path_style_over_tls(tmp_path: Path) -> None:
    """An https:// loopback endpoint (Azurite with a certificate) keeps abfss:// and HTTPS."""
    for mode in PROVIDER_MODES:
        extra = {"key_vault_name": "kv1", "secret_name": "k"} if "key" in mode else {}
        conn = connection(tmp_path, mode, endpoint="https://127.0.0.1:10000/mystorage", **extra)
        conf = conn.spark_conf()
        assert conf["fs.azure.abfs.endpoint"] == "127.0.0.1:10000"
        assert "fs.azure.always.use.https" not in conf
        assert conn.uri("t") == f"abfss://lake@{HOST}/t"


def test_misconfigurations_are_named(tmp_path: Path) -> None:
    """Bearer tokens over plain HTTP, and a key provider naming no secret, are refused."""
    plain = connection(tmp_path, "sidecar_token_provider", endpoint="http://127.0.0.1:1/mystorage")
    with pytest.raises(ValueError, match=r"bearer tokens.*HTTPS only"):
        plain.spark_conf()
    with pytest.raises(ValueError, match="requires 'key_vault_name'"):
        connection(tmp_path, "sidecar_key_provider")


def test_spark_submit_conf_carries_every_mode(tmp_path: Path) -> None:
    """One helper gives the settings of connections in different provider modes together."""
    conns = [
        connection(tmp_path, "sidecar_sas_provider"),
        connection(tmp_path, "sidecar_token_provider"),
        connection(tmp_path, "sidecar_key_provider", key_vault_name="kv1", secret_name="k"),
    ]
    conf = spark_submit_conf(*conns)
    named = {value for value in conf.values() if value.startswith("org.akvsidecar.")}
    assert named == set(PROVIDERS.values())
    assert "caller-token" not in "".join(conf.values())


def test_elsewhere_the_modes_vend_or_read_through_the_sidecar() -> None:
    """Outside Spark (delta-rs, adlfs) each provider mode acts as the mode it stands for."""
    assert [elsewhere(mode) for mode in PROVIDER_MODES] == [
        "sidecar_sas",
        "sidecar_token",
        "key_vault",
    ]
    assert elsewhere("direct_key") == "direct_key"


def test_hadoop_jar_copy_replaces_a_jar_in_use_without_rewriting_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-run copies beside and renames over, so a JVM that mapped the old jar keeps its bytes."""
    from akv_client.__main__ import main

    source = tmp_path / "akv-sidecar-hadoop-next.jar"
    source.write_bytes(b"new jar")
    target_dir = tmp_path / "jars"
    target_dir.mkdir()
    target = target_dir / source.name
    target.write_bytes(b"old jar, mapped by a running JVM")
    monkeypatch.setenv("AKV_SIDECAR_HADOOP_JAR", str(source))
    with target.open("rb") as in_use:
        assert main(["hadoop-jar", str(target_dir)]) == 0
        assert in_use.read() == b"old jar, mapped by a running JVM"
    assert target.read_bytes() == b"new jar"
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in target_dir.iterdir()) == [source.name]


class _NoJarJvm:
    """What provider_loadable and the warning ask of a driver JVM without the akv jar."""

    def __init__(self) -> None:
        self.conf: dict[str, str] = {}

    def hadoopConfiguration(self) -> Any:
        return self

    def getClassByNameOrNull(self, name: str) -> None:
        return None

    def set(self, key: str, value: str) -> None:
        self.conf[key] = value

    def sc(self) -> Any:
        return self

    def applicationId(self) -> str:
        return "app-1"


def test_the_fallback_warning_points_at_the_callers_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ProviderFallbackWarning is attributed to the code that called configure_spark."""
    import warnings
    from types import SimpleNamespace

    conn = connection(
        tmp_path, "sidecar_key_provider", key_vault_name="kv1", secret_name="mystorage-key"
    )
    monkeypatch.setattr(conn, "get_storage_key", lambda timeout=30.0: "a-key")
    jvm = _NoJarJvm()
    spark = SimpleNamespace(_jsc=jvm, conf=SimpleNamespace(set=jvm.set))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        conn.configure_spark(spark)
    assert [Path(w.filename).name for w in record] == [Path(__file__).name]
    assert jvm.conf[f"fs.azure.account.key.{HOST}"] == "a-key"
