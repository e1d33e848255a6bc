"""A provider mode on a Spark without the akv-sidecar-hadoop jar: a real local[1] SparkSession
(hadoop-azure and Delta, no akv jar) and the real sidecar. The SAS and key provider modes fall back
to the legacy settings with one warning naming the risk and the fix; the token provider mode, which
has no legacy form for Spark, refuses."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from akv_client import AzureADLS, ProviderFallbackWarning, SidecarClient, SparkEngine
from tests.client.conftest import SEEDED, seed, sidecar_config
from tests.client.spark_setup import cached_jars, new_jvm, session_builder

if TYPE_CHECKING:
    from akv_emulator import Emulator

pytestmark = pytest.mark.spark
ABFS = "org.apache.hadoop.fs.azurebfs"
AKV = "org.akvsidecar.hadoop"
ACCOUNT = "fallbackacct"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """local[1] in a JVM of its own, with the cached jars only: hadoop-azure yes, akv-sidecar no."""
    jars = cached_jars()
    if not jars:
        pytest.fail("No Spark jars in .cache/ivy/jars: run `make test` (it fetches them).")
    assert not any("akv-sidecar" in jar for jar in jars)
    new_jvm()  # a JVM started earlier with the akv jar would load the provider
    session = session_builder(jars).master("local[1]").getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def sidecar(emulator: Emulator, identity_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """The real sidecar: kv1 seeded, and the account ACCOUNT it signs SAS for (a base64 key)."""
    from akv_sidecar.testing import run_sidecar

    seed(emulator)
    key = {"vault": "kv1", "secret": "azurite-key"}
    config = sidecar_config(
        emulator, tmp_path, storage={"accounts": [{"name": ACCOUNT, "key": key}]}
    )
    with (
        run_sidecar(config, audit_stream=io.StringIO()) as running,
        SidecarClient(running.url, running.token, timeout=5.0) as client,
    ):
        yield client


def hadoop(spark: Any, key: str) -> str | None:
    value = spark.sparkContext._jsc.hadoopConfiguration().get(key)
    return None if value is None else str(value)


def only_warning(record: list[warnings.WarningMessage]) -> str:
    fallbacks = [w for w in record if issubclass(w.category, ProviderFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in record]
    return str(fallbacks[0].message)


def test_the_check_loads_what_is_there_and_not_what_is_missing(spark: Any) -> None:
    """The class check answers through the Hadoop class loader: a class of hadoop-azure, which
    spark.jars brought as it would the akv jar, yes; the akv provider, no."""
    from akv_client._classpath import provider_loadable

    assert provider_loadable(spark, f"{ABFS}.services.FixedSASTokenProvider") is True
    assert provider_loadable(spark, f"{AKV}.SidecarSasTokenProvider") is False


def test_sas_provider_falls_back_to_a_fixed_vended_sas_once(
    spark: Any, sidecar: SidecarClient
) -> None:
    """sidecar_sas_provider without the jar sets a fixed vended SAS, no provider class, and warns
    once (risk and fix named, no SAS in the message), however often it is configured."""
    conn = AzureADLS(ACCOUNT, "sasfallback", auth_mode="sidecar_sas_provider", sidecar=sidecar)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        conn.configure_spark(spark)
        conn.configure_spark(spark)
    message = only_warning(record)
    host = conn.host
    sas = (conn.get_storage_key() or "").lstrip("?")
    assert "sig=" in sas
    assert hadoop(spark, f"fs.azure.account.auth.type.{host}") == "SAS"
    assert hadoop(spark, f"fs.azure.sas.fixed.token.{host}") == sas
    assert hadoop(spark, f"fs.azure.sas.token.provider.type.{host}") is None
    assert spark.conf.get(f"fs.azure.sas.fixed.token.{host}") == sas
    for words in (
        f"'{ACCOUNT}/sasfallback'",
        f"{AKV}.SidecarSasTokenProvider",
        "falling back to 'sidecar_sas'",
        "fs.azure.sas.fixed.token",
        "until it expires",
        "akv_client.hadoop_jar()",
        "spark.jars",
    ):
        assert words in message
    assert sas not in message
    assert "sig=" not in message


def test_key_provider_falls_back_to_the_key_and_says_where_it_shows(
    spark: Any, sidecar: SidecarClient
) -> None:
    """sidecar_key_provider without the jar sets SharedKey with the key from Key Vault, no key
    provider class, and one warning naming the Spark UI, event log and SET, not the key."""
    conn = AzureADLS(
        "keyfallbackacct", "bronze", auth_mode="sidecar_key_provider", key_vault_name="kv1",
        secret_name="bronze-key", sidecar=sidecar,
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        engine = SparkEngine({"bronze": conn}, spark, client=sidecar)
        engine._uri("bronze", "t")  # a table path: configured again, no second warning
        conn.configure_spark(spark)
    assert engine.errors == []
    message = only_warning(record)
    host = conn.host
    assert hadoop(spark, f"fs.azure.account.auth.type.{host}") == "SharedKey"
    assert hadoop(spark, f"fs.azure.account.key.{host}") == SEEDED["bronze-key"]
    assert hadoop(spark, f"fs.azure.account.keyprovider.{host}") is None
    for words in (
        f"{AKV}.SidecarKeyProvider",
        "falling back to 'key_vault'",
        "fs.azure.account.key",
        "in clear in SET, the Spark UI",
        "event log",
        "spark.redaction.regex",
        "akv_client.hadoop_jar()",
    ):
        assert words in message
    assert SEEDED["bronze-key"] not in message


def test_token_provider_has_no_fallback_and_sets_nothing(
    spark: Any, sidecar: SidecarClient
) -> None:
    """sidecar_token_provider without the jar raises a ValueError naming the fix; no setting of
    its account reaches the conf, and no token is asked for."""
    conn = AzureADLS("tokfallbackacct", "data", auth_mode="sidecar_token_provider", sidecar=sidecar)
    with pytest.raises(ValueError, match="has no fallback") as raised:
        conn.configure_spark(spark)
    assert "akv_client.hadoop_jar()" in str(raised.value)
    assert f"{AKV}.SidecarTokenProvider" in str(raised.value)
    assert hadoop(spark, f"fs.azure.account.auth.type.{conn.host}") is None
    assert hadoop(spark, f"fs.azure.account.oauth.provider.type.{conn.host}") is None
