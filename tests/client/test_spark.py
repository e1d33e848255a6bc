"""SparkEngine on a real local SparkSession with delta-spark and hadoop-azure (Java 17).

Azurite has no hierarchical namespace, so ABFS cannot reach it: the ADLS connections are checked
in the session's Hadoop configuration, read back by hadoop-azure's own `AbfsConfiguration` (the
object its file system builds from them), and tables live on local disk (LocalConnection). Every
setting that names a class is checked by loading that class, never by its spelling.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from akv_client import AzureADLS, LocalConnection, SidecarClient, SparkEngine
from tests.client.conftest import SEEDED, CountingClient
from tests.client.scripted_server import Reply, ScriptedServer
from tests.client.spark_setup import cached_jars, session_builder

pytestmark = [
    pytest.mark.spark,
    # pyspark 4.2 warns that pandas 3 is not fully supported; the tests use no pandas conversion.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="module")  # its own JVM may follow (tests/client/spark_setup.new_jvm)
def spark() -> Iterator[Any]:
    """One local[2] SparkSession with Delta, jars from .cache/ivy (fetched by `make test`)."""
    jars = cached_jars()
    if not jars:
        pytest.fail("No Spark jars in .cache/ivy/jars: run `make test` (it fetches them).")
    session = session_builder(jars).getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


ABFS = "org.apache.hadoop.fs.azurebfs"
# The settings whose value is a class hadoop-azure loads, and what that class must implement.
CLASS_SETTINGS = {
    "fs.azure.account.oauth.provider.type": f"{ABFS}.oauth2.AccessTokenProvider",
    "fs.azure.sas.token.provider.type": f"{ABFS}.extensions.SASTokenProvider",
}
WORKLOAD_ENV = ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")


@pytest.fixture
def no_workload_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own AKS variables, if any, do not steer managed_identity."""
    for name in (*WORKLOAD_ENV, "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)


def loaded_classes(spark: Any, settings: dict[str, str]) -> list[Any]:
    """Load every class a setting names, through the Hadoop configuration as ABFS does, and check
    it implements what hadoop-azure needs; a missing class raises ClassNotFoundException."""
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    loaded = []
    for key, value in settings.items():
        for prefix, interface in CLASS_SETTINGS.items():
            if key.startswith(prefix + "."):
                cls = hadoop.getClassByName(value)
                assert hadoop.getClassByName(interface).isAssignableFrom(cls), key
                loaded.append(cls)
    return loaded


def abfs_configuration(spark: Any, conn: AzureADLS) -> Any:
    """hadoop-azure's reading of the connection's settings, for the host its URI names."""
    jvm = spark._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(spark.sparkContext._jsc.hadoopConfiguration())
    for key, value in conn.spark_conf().items():
        conf.set(key, value)
    host = jvm.java.net.URI(conn.uri("t")).getHost()
    return jvm.org.apache.hadoop.fs.azurebfs.AbfsConfiguration(conf, host)


def java_class(spark: Any, name: str) -> Any:
    return spark.sparkContext._jsc.hadoopConfiguration().getClassByName(name)


@pytest.mark.usefixtures("no_workload_env")
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
    (msi,) = loaded_classes(spark, conns["mi"].spark_conf())
    assert msi.equals(java_class(spark, f"{ABFS}.oauth2.MsiTokenProvider"))
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


@pytest.mark.usefixtures("no_workload_env")
@pytest.mark.parametrize(
    ("kwargs", "provider"),
    [
        (
            {"auth_mode": "service_principal", "tenant_id": "t1", "client_id": "c1",
             "client_secret": "sp-" + secrets.token_hex(8)},
            "oauth2.ClientCredsTokenProvider",
        ),
        ({"auth_mode": "managed_identity"}, "oauth2.MsiTokenProvider"),
        (
            {"auth_mode": "managed_identity", "identity": "msi", "client_id": "c1",
             "tenant_id": "t1"},
            "oauth2.MsiTokenProvider",
        ),
        (
            {"auth_mode": "managed_identity", "identity": "workload", "client_id": "c1",
             "tenant_id": "t1", "endpoint_suffix": "core.usgovcloudapi.net"},
            "oauth2.WorkloadIdentityTokenProvider",
        ),
        ({"auth_mode": "sas_token", "sas_token": "?sv=1&sig=" + secrets.token_hex(8)}, None),
        (
            {"auth_mode": "sas_token", "sas_token": "sv=1&sig=" + secrets.token_hex(8),
             "endpoint_suffix": "core.chinacloudapi.cn"},
            None,
        ),
    ],
)  # fmt: skip
def test_abfs_loads_every_class_the_settings_name(
    spark: Any, kwargs: dict[str, Any], provider: str | None
) -> None:
    """Each auth mode's settings name only classes hadoop-azure loads and implements, and its own
    AbfsConfiguration builds exactly that provider (SAS: its built-in fixed-token one, which
    hands back the SAS), for the host the connection's URI names in every cloud."""
    conn = AzureADLS("acct1", "bronze", **kwargs)
    loaded = loaded_classes(spark, conn.spark_conf())
    abfs = abfs_configuration(spark, conn)
    if provider is None:
        assert loaded == []  # no provider type: one set would override the fixed token
        sas = abfs.getSASTokenProvider()
        assert java_class(spark, CLASS_SETTINGS["fs.azure.sas.token.provider.type"]).isInstance(sas)
        assert sas.getSASToken("acct1", "bronze", "/t", "read") == kwargs["sas_token"].lstrip("?")
        return
    (cls,) = loaded
    assert cls.equals(java_class(spark, f"{ABFS}.{provider}"))
    assert abfs.getTokenProvider().getClass().equals(cls)


def test_workload_identity_gets_a_token_through_hadoop_azure(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With AKS's variables set, managed_identity's settings make hadoop-azure's own provider send
    the federated token to <authority>/<tenant>/oauth2/v2.0/token and use the token it gets."""
    token_file = tmp_path / "azure-identity-token"
    federated = "federated-" + secrets.token_hex(8)
    token_file.write_text(federated)
    issued = "aad-" + secrets.token_hex(8)
    answer = Reply(200, {"access_token": issued, "expires_in": "3600", "token_type": "Bearer"})
    with ScriptedServer([answer]) as login:
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("AZURE_CLIENT_ID", "wi-client")
        monkeypatch.setenv("AZURE_TENANT_ID", "wi-tenant")
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", login.url)  # no trailing slash: added
        conn = AzureADLS("acct1", "bronze", auth_mode="managed_identity")
        token = abfs_configuration(spark, conn).getTokenProvider().getToken()
        assert token.getAccessToken() == issued
    (seen,) = login.seen
    assert (seen.method, seen.path) == ("POST", "/wi-tenant/oauth2/v2.0/token")
    form = dict(item.split("=", 1) for item in seen.body.split("&"))
    assert form["client_id"] == "wi-client"
    assert form["client_assertion"] == federated


def test_engine_configures_a_vended_sas(spark: Any) -> None:
    """A sidecar_sas connection's SAS reaches ABFS through SparkEngine; a refused one becomes an
    engine error and leaves the others working."""
    sas = "sv=2024-05-04&sr=c&sp=rl&sig=" + secrets.token_hex(12)
    expires = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    body = {"account": "vendacct", "container": "data", "path": None, "permissions": "rl"}
    vended = Reply(200, body | {"sas_token": sas, "expires_on": expires})
    refused = Reply(403, {"error": {"code": "Forbidden", "message": "not for this caller"}})
    with ScriptedServer([vended, refused]) as server, SidecarClient(server.url) as sidecar:
        conns = {
            name: AzureADLS(account, "data", auth_mode="sidecar_sas", sidecar=sidecar)
            for name, account in (("vended", "vendacct"), ("refused", "refusedacct"))
        }
        engine = SparkEngine(conns, spark)
    provider = abfs_configuration(spark, conns["vended"]).getSASTokenProvider()
    assert provider.getSASToken("vendacct", "data", "/t", "read") == sas
    assert len(engine.errors) == 1
    assert "'refused'" in engine.errors[0]
    assert "storage container 'refusedacct/data'" in engine.errors[0]
    assert sas not in " ".join(engine.errors)


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
