"""SparkEngine on a real local SparkSession with delta-spark and hadoop-azure (Java 17).

Azurite has no hierarchical namespace, so ABFS cannot reach it: the ADLS connections are checked
in the session's Hadoop configuration, and tables live on local disk (LocalConnection).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from akv_client import AzureADLS, LocalConnection, SparkEngine
from tests.client.conftest import SEEDED, CountingClient
from tests.client.spark_setup import cached_jars, session_builder

pytestmark = [
    pytest.mark.spark,
    # pyspark 4.2 warns that pandas 3 is not fully supported; the tests use no pandas conversion.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession with Delta, jars from .cache/ivy (fetched by `make test`)."""
    jars = cached_jars()
    if not jars:
        pytest.fail("No Spark jars in .cache/ivy/jars: run `make test` (it fetches them).")
    session = session_builder(jars).getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_engine_configures_abfs_in_one_batch(spark: Any, client: CountingClient) -> None:
    """Every connection's ABFS settings reach the Hadoop configuration; keys in one batch."""
    conns = {
        "bronze": AzureADLS(
            "bronzeacct", "data", key_vault_name="kv1", secret_name="bronze-key", sidecar=client
        ),
        "sp": AzureADLS(
            "spacct",
            "data",
            auth_mode="service_principal",
            tenant_id="t1",
            client_id="c1",
            key_vault_name="kv1",
            secret_name="sp-secret",
            sidecar=client,
        ),
        "sas": AzureADLS(
            "sasacct",
            "data",
            auth_mode="sas_token",
            key_vault_name="kv1",
            secret_name="sas-token",
            sidecar=client,
        ),
        "mi": AzureADLS("miacct", "data", auth_mode="managed_identity"),
        "gold": AzureADLS(
            "goldacct", "data", key_vault_name="kv1", secret_name="missing-key", sidecar=client
        ),
    }
    engine = SparkEngine(conns, spark)
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    suffix = "dfs.core.windows.net"
    assert hadoop.get(f"fs.azure.account.key.bronzeacct.{suffix}") == SEEDED["bronze-key"]
    assert hadoop.get(f"fs.azure.account.auth.type.bronzeacct.{suffix}") == "SharedKey"
    assert (
        hadoop.get(f"fs.azure.account.oauth2.client.secret.spacct.{suffix}") == SEEDED["sp-secret"]
    )
    assert hadoop.get(f"fs.azure.sas.fixed.token.sasacct.{suffix}") == SEEDED["sas-token"]
    assert hadoop.get(f"fs.azure.account.oauth.provider.type.miacct.{suffix}").endswith(
        "MsiTokenProvider"
    )
    assert spark.conf.get(f"fs.azure.account.key.bronzeacct.{suffix}") == SEEDED["bronze-key"]
    assert hadoop.get(f"fs.azure.account.key.goldacct.{suffix}") is None
    assert client.calls == {"get_secrets": 1}
    assert len(engine.errors) == 1
    assert "'gold'" in engine.errors[0]
    with pytest.raises(ValueError, match="'gold'"):
        engine.read("gold", "t")
    with pytest.raises(ValueError, match="Unknown connection 'nope'"):
        engine.read("nope", "t")
    assert engine.connections["bronze"].uri("t") == f"abfss://data@bronzeacct.{suffix}/t"
    # Throwaway connection objects, each freed before the next (CPython reuses their ids):
    # every one still gets its account configured.
    for index in range(5):
        engine._uri(AzureADLS(f"tmpacct{index}", "data", auth_mode="managed_identity"), "t")
        provider = hadoop.get(f"fs.azure.account.oauth.provider.type.tmpacct{index}.{suffix}")
        assert provider is not None, index


def test_delta_write_read_history_restore_vacuum(spark: Any, tmp_path: Path) -> None:
    """Write two versions, read, list history, restore version 0, vacuum the unused files."""
    engine = SparkEngine({"local": LocalConnection(tmp_path)}, spark)
    engine.write(spark.range(5), "local", "events")
    engine.write(spark.range(3), "local", "events", mode="overwrite")
    assert engine.read("local", "events").count() == 3
    history = engine.history("local", "events").collect()
    assert [row["version"] for row in history] == [1, 0]
    assert [row["version"] for row in engine.history("local", "events", limit=1).collect()] == [1]
    engine.restore("local", "events", version=0)
    assert engine.read("local", "events").count() == 5
    data_files = lambda: set((tmp_path / "events").glob("*.parquet"))  # noqa: E731
    before = data_files()
    engine.vacuum("local", "events", retention_hours=0)
    after = data_files()
    assert after < before
    assert engine.read("local", "events").count() == 5
    with pytest.raises(ValueError, match="exactly one"):
        engine.restore("local", "events")


def test_partitioned_write_and_object_connection(spark: Any, tmp_path: Path) -> None:
    """partition_by lays out folders; a connection passed as an object works unregistered."""
    engine = SparkEngine(spark_session=spark)
    local = LocalConnection(tmp_path)
    df = spark.createDataFrame([(1, "a"), (2, "b"), (3, "a")], ["id", "kind"])
    engine.write(df, local, "by_kind", partition_by=["kind"])
    assert {p.name for p in (tmp_path / "by_kind").glob("kind=*")} == {"kind=a", "kind=b"}
    assert engine.read(local, "by_kind").where("kind = 'a'").count() == 2
    engine.write(df, local, "as_parquet", format="parquet")
    assert (
        engine.read(local, "as_parquet", format="parquet", options={"mergeSchema": "true"}).count()
        == 3
    )
