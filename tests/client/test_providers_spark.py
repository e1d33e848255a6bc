"""auth_mode sidecar_sas_provider: Spark's ABFS asks the real sidecar for each SAS itself, through
the akv-sidecar-hadoop jar, against Azurite (which checks every SAS signature with its development
key); the Spark and Hadoop configuration hold no key and no SAS."""

from __future__ import annotations

import importlib.metadata
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from akv_client import AzureADLS, SidecarClient, hadoop_jar, spark_submit_conf
from tests.client.azurite import ACCOUNT, DEV_KEY, AzuriteBlob
from tests.client.spark_setup import cached_jars, new_jvm, session_builder

pytestmark = [
    pytest.mark.spark,
    pytest.mark.azurite,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]
SAS_PROVIDER = "org.akvsidecar.hadoop.SidecarSasTokenProvider"
JARS = re.compile(r"_(hadoop-azure-|delta-spark_|delta-storage-)[^/]*\.jar$")


def provider_jar() -> str:
    jar = hadoop_jar()
    if jar is None:
        pytest.fail(
            "No jvm/target/akv-sidecar-hadoop-<version>.jar: run `make jvm` (make test does)."
        )
    return jar


class Stack:
    """Azurite, the Key Vault emulator holding Azurite's key, and the sidecar signing with it."""

    def __init__(self, azurite: AzuriteBlob, sidecar: SidecarClient, audit: io.StringIO) -> None:
        self.azurite, self.sidecar, self.audit = azurite, sidecar, audit

    def issued(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.audit.getvalue().splitlines() if line[:1] == "{"]
        return [line for line in lines if line.get("message") == "sas issued"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from akv_emulator import Emulator
    from akv_sidecar.testing import emulator_config, run_sidecar

    tmp = tmp_path_factory.mktemp("provider")
    audit = io.StringIO()
    with (
        AzuriteBlob() as azurite,
        Emulator(vaults=("kv1",), random_seed=1234) as emulator,
        pytest.MonkeyPatch.context() as env,
    ):
        assert azurite.create_container("lake") == 201
        for name, value in emulator.identity_env().items():
            env.setenv(name, value)
        emulator.set_secret("kv1", "azurite-key", DEV_KEY)
        key = {"vault": "kv1", "secret": "azurite-key"}
        accounts = [{"name": ACCOUNT, "key": key, "endpoint": azurite.endpoint}]
        config = emulator_config(emulator, tmp, storage={"accounts": accounts})
        with (
            run_sidecar(config, audit_stream=audit) as running,
            SidecarClient(running.url, token_file=str(tmp / "token")) as sidecar,
        ):
            yield Stack(azurite, sidecar, audit)


@pytest.fixture(scope="module")
def conn(stack: Stack) -> AzureADLS:
    return AzureADLS(
        ACCOUNT, "lake", "tables", auth_mode="sidecar_sas_provider",
        endpoint=stack.azurite.endpoint, sidecar=stack.sidecar,
    )  # fmt: skip


@pytest.fixture(scope="module")
def spark(conn: AzureADLS) -> Iterator[Any]:
    """A local[2] session in a JVM of its own, with only the jars ABFS, Delta and the provider
    need, configured by spark_submit_conf() alone."""
    jars = [jar for jar in cached_jars() if JARS.search(jar)]
    if len(jars) != 3:
        pytest.fail(f"Spark jars missing in .cache/ivy/jars ({jars}): run `make test`.")
    provider_jar()
    settings = spark_submit_conf(conn)
    settings["spark.jars"] = ",".join([*jars, settings["spark.jars"]])
    new_jvm()
    builder = session_builder([]).config("spark.driver.bindAddress", "127.0.0.1")
    builder = builder.config("spark.driver.host", "127.0.0.1")
    builder = builder.config("spark.hadoop.fs.azure.io.retry.max.retries", "1")  # fail fast
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    new_jvm()


def test_hadoop_jar_loads_in_the_session(spark: Any) -> None:
    """hadoop_jar() is the build output, and the driver's JVM loads the provider from it."""
    jar = Path(provider_jar())
    assert jar.is_file()
    assert jar.name == f"akv-sidecar-hadoop-{importlib.metadata.version('akv-sidecar')}.jar"
    jvm = spark._jvm  # py4j's own Class.forName sees the JVM's classpath only, not spark.jars
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    assert jvm.java.lang.Class.forName(SAS_PROVIDER, True, loader).getName() == SAS_PROVIDER


def test_delta_round_trip_asks_the_sidecar(spark: Any, conn: AzureADLS, stack: Stack) -> None:
    """Write, append, read and history through ABFS, every SAS vended by the sidecar."""
    uri = conn.uri("orders")
    assert uri == f"abfs://lake@{ACCOUNT}.dfs.core.windows.net/tables/orders"
    spark.range(0, 5).write.format("delta").save(uri)
    spark.range(5, 8).write.format("delta").mode("append").save(uri)
    assert spark.read.format("delta").load(uri).count() == 8
    history = spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").select("version", "operation")
    assert [tuple(row) for row in history.collect()] == [(1, "WRITE"), (0, "WRITE")]
    issued = stack.issued()
    assert issued, "the provider asked the sidecar for no SAS"
    assert {line.get("permissions") for line in issued} >= {"racwdl"}


def test_no_secret_in_spark_or_hadoop_conf(spark: Any, conn: AzureADLS) -> None:
    """Neither the Spark conf nor the fs.azure.* Hadoop settings hold Azurite's key or a SAS."""
    spark.range(1).write.format("delta").mode("overwrite").save(conn.uri("leak-check"))
    hadoop = spark._jsc.hadoopConfiguration().getPropsWithPrefix("fs.azure.")
    values = [value for _, value in spark.sparkContext.getConf().getAll()]
    values += [hadoop[key] for key in hadoop.keySet()]
    assert [value for value in values if DEV_KEY in value or "sig=" in value] == []
    host = conn.host
    assert hadoop[f"sas.token.provider.type.{host}"] == SAS_PROVIDER
    assert hadoop[f"account.auth.type.{host}"] == "SAS"
    assert not [key for key in hadoop.keySet() if "account.key" in key or "fixed.token" in key]


def test_spark_submit_conf_redacts_keys_and_sas(conn: AzureADLS) -> None:
    """The redaction regex covers ABFS's account keys and fixed SAS besides Spark's defaults."""
    regex = re.compile(spark_submit_conf(conn)["spark.redaction.regex"])
    for key in ("fs.azure.account.key.x", "fs.azure.sas.fixed.token.x", "spark.x.password"):
        assert regex.search(key), key
