"""Spark in local-cluster mode (two executor JVMs) reads and writes Delta on abfss:// through the
akv-sidecar-hadoop providers, against Azurite over HTTPS (which checks every SAS signature, Shared
Key signature and bearer token), the real sidecar and the Key Vault emulator.

One session for the module; one Azurite account per auth mode: `sasacct` (the default, vended SAS,
a 20 s max_ttl), `tokacct` (Entra token), `keyacct` (key provider), `rawacct` (the legacy raw key,
configured last: it is the one mode that puts a secret into Spark).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from akv_client import AzureADLS, SidecarClient, hadoop_jar, spark_submit_conf
from akv_client._providers import PROVIDERS
from tests._leaks import credential_forms
from tests.client.conftest import PRIVATE_VALUES
from tests.client.spark_cluster import (
    TlsAzurite,
    calls,
    executor_pids,
    leases,
    log_config,
    new_key,
    per_jvm,
    spark_home,
    trust_store,
)
from tests.client.spark_setup import cached_jars, new_jvm, session_builder

pytestmark = [pytest.mark.spark, pytest.mark.azurite]
JARS = re.compile(r"_(hadoop-azure-|delta-spark_|delta-storage-)[^/]*\.jar$")
STORAGE_SCOPE = "https://storage.azure.com/.default"
ACCOUNTS = {"sasacct": (new_key(), new_key()), "tokacct": (new_key(),), "keyacct": (new_key(),)}
ACCOUNTS["rawacct"] = (new_key(),)
MODES = {"sidecar_sas_provider": "sasacct", "sidecar_token_provider": "tokacct"}
MODES |= {"sidecar_key_provider": "keyacct", "key_vault": "rawacct"}
ROUTES = {"sasacct": "sas", "tokacct": "tokens", "keyacct": "secrets"}
SAS_TTL = 20.0
KEYS = [key for keys in ACCOUNTS.values() for key in keys]
PRIVATE_VALUES.extend(KEYS)  # the client suite's output scan looks for these too
SIG = re.compile(r"sig=[A-Za-z0-9%+/=]{16,}")
AUTHORIZED = {"sasacct": "sas key1", "tokacct": "bearer", "keyacct": "shared key"}
ROTATION_RUN, ROTATE_AFTER = 45.0, 10.0
# Where the legacy mode's key shows with spark_submit_conf's redaction regex. With Spark's default
# regex, measured once: also in SET, the SQL pages, the Environment endpoint and the event log.
LEGACY_EXPOSED = ["Hadoop conf", "spark.conf.getAll"]


@dataclass
class Cluster:
    """The running parts, and what the tests share."""

    spark: Any
    azurite: TlsAzurite
    emulator: Any
    sidecar: SidecarClient
    conns: dict[str, AzureADLS]
    calls_log: Path
    events: Path
    caller_token: str
    driver_pid: int = 0
    ui: str = ""
    app: str = ""
    rotation: dict[str, float] = field(default_factory=dict)

    def rest(self, path: str) -> Any:
        answer = httpx.get(f"{self.ui}/api/v1/applications/{self.app}/{path}", timeout=10)
        answer.raise_for_status()
        return answer.json()

    def executor_tasks(self) -> dict[str, int]:
        return {e["id"]: e["totalTasks"] for e in self.rest("executors") if e["id"] != "driver"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from akv_emulator import Emulator
    from akv_sidecar.testing import emulator_config, free_port, run_sidecar

    tmp = tmp_path_factory.mktemp("cluster")
    jars = [jar for jar in cached_jars() if JARS.search(jar)]
    provider = hadoop_jar()
    if len(jars) != 3 or provider is None:
        pytest.fail(f"Spark jars ({jars}) or the provider jar ({provider}) missing: `make test`.")
    with ExitStack() as stack:
        azurite = stack.enter_context(TlsAzurite(ACCOUNTS, tmp))
        for account in ACCOUNTS:
            azurite.create_container(account, "lake")
        emulator = stack.enter_context(Emulator(vaults=("kv1",), random_seed=1234))
        env = stack.enter_context(pytest.MonkeyPatch.context())
        for name, value in emulator.identity_env().items():
            env.setenv(name, value)
        for account, keys in ACCOUNTS.items():
            emulator.set_secret("kv1", f"{account}-key", keys[0])
        sas_account = {"name": "sasacct", "key": {"vault": "kv1", "secret": "sasacct-key"}}
        sas_account |= {"endpoint": azurite.endpoint("sasacct"), "max_ttl": f"{SAS_TTL:g}s"}
        config = emulator_config(
            emulator, tmp, {"kv1": [f"{account}-key" for account in ACCOUNTS]},
            storage={"accounts": [sas_account]}, tokens={"scopes": [STORAGE_SCOPE]},
            cache={"refresh_interval": "2s"},  # the rotated key is signed with within seconds
        )  # fmt: skip
        running = stack.enter_context(run_sidecar(config, audit_stream=io.StringIO()))
        sidecar = stack.enter_context(SidecarClient(running.url, token_file=str(tmp / "token")))
        conns = {
            mode: AzureADLS(
                account,
                "lake",
                "tables",
                auth_mode=mode,
                endpoint=azurite.endpoint(account),
                key_vault_name="kv1",
                secret_name=f"{account}-key",
                sidecar=sidecar,
            )
            for mode, account in MODES.items()
        }
        calls_log, events = tmp / "sidecar-calls.log", tmp / "events"
        events.mkdir()
        settings = spark_submit_conf(*(c for m, c in conns.items() if m != "key_vault"))
        settings["spark.jars"] = ",".join([*jars, settings["spark.jars"]])
        java = f"-Djavax.net.ssl.trustStore={trust_store(azurite.tls.ca_file, tmp)}"
        java += " -Djavax.net.ssl.trustStorePassword=changeit -Dlog4j2.configurationFile="
        java += str(log_config(tmp, calls_log))
        env.setenv("SPARK_HOME", str(spark_home(tmp)))
        new_jvm()
        builder = session_builder([]).master("local-cluster[2,1,1024]")
        for key, value in {
            **settings,
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.extraJavaOptions": f"{java} -Dderby.system.home={tmp}",
            "spark.executor.extraJavaOptions": java,
            "spark.ui.enabled": "true",
            "spark.ui.port": str(free_port()),
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": events.as_uri(),
            "spark.eventLog.compress": "false",  # the scan reads the event log as text
            # The legacy account: flat namespace, as the providers' accounts (no secret).
            "spark.hadoop.fs.azure.account.hns.enabled": "false",
        }.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        stack.callback(new_jvm)
        spark.sparkContext.setLogLevel("ERROR")
        cluster = Cluster(
            spark, azurite, emulator, sidecar, conns, calls_log, events,
            (tmp / "token").read_text(encoding="utf-8").strip(),
        )  # fmt: skip
        cluster.driver_pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())
        cluster.ui = spark.sparkContext.uiWebUrl.rstrip("/")
        cluster.app = spark.sparkContext.applicationId
        yield cluster


def test_the_provider_classes_load_in_the_session(cluster: Cluster) -> None:
    """Every class the Hadoop settings name loads from spark.jars in the driver's JVM."""
    jvm = cluster.spark._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    hadoop = cluster.spark._jsc.hadoopConfiguration()
    for conn in cluster.conns.values():
        for key, value in conn.spark_conf().items():
            if value.startswith("org."):
                assert jvm.java.lang.Class.forName(value, True, loader).getName() == value
                assert hadoop.get(key) == value, key
    assert set(PROVIDERS.values()) <= {
        v for c in cluster.conns.values() for v in c.spark_conf().values()
    }


def round_trip(cluster: Cluster, conn: AzureADLS, table: str) -> dict[str, int]:
    """Delta write, append, read and history on `table`; the tasks each executor ran for it."""
    spark, uri = cluster.spark, conn.uri(table)
    assert uri.startswith(f"abfss://lake@{conn.account}.dfs.core.windows.net/")
    before = cluster.executor_tasks()
    spark.range(0, 40, numPartitions=4).write.format("delta").save(uri)
    spark.range(40, 60, numPartitions=4).write.format("delta").mode("append").save(uri)
    # A sum reads every data file (a count may be answered from the log's statistics).
    assert spark.read.format("delta").load(uri).selectExpr("sum(id)").first()[0] == sum(range(60))
    history = spark.sql(f"DESCRIBE HISTORY delta.`{uri}`").select("version", "operation")
    assert [tuple(row) for row in history.collect()] == [(1, "WRITE"), (0, "WRITE")]
    deadline = time.monotonic() + 10  # the status store follows the listener bus
    while True:
        ran = {e: n - before.get(e, 0) for e, n in cluster.executor_tasks().items()}
        if (len(ran) == 2 and min(ran.values()) > 0) or time.monotonic() > deadline:
            return ran


@pytest.mark.parametrize("mode", ["sidecar_sas_provider", "sidecar_token_provider",
                                  "sidecar_key_provider"])  # fmt: skip
def test_delta_on_abfss_from_two_executors(cluster: Cluster, mode: str) -> None:
    """Delta write, read, history run on both executors, each asking the sidecar itself."""
    conn = cluster.conns[mode]
    started = time.time()
    ran = round_trip(cluster, conn, "orders")
    assert sorted(ran) == ["0", "1"], ran
    assert min(ran.values()) > 0, ran
    executors = executor_pids()
    assert sorted(executors.values()) == ["0", "1"], executors
    asked = per_jvm([c for c in calls(cluster.calls_log) if c.time >= started - 1],
                    conn.account, ROUTES[conn.account])  # fmt: skip
    assert set(executors) <= set(asked), (asked, executors)
    failed = [c for c in calls(cluster.calls_log) if c.account == conn.account and c.status != 200]
    assert failed == []
    seen = cluster.azurite.authorizations()
    how = {a.how for a in seen if a.account == conn.account and a.time >= started - 1}
    assert how == {AUTHORIZED[conn.account]}


def exposure(cluster: Cluster) -> dict[str, str]:
    """The text of every place Spark shows configuration: the session's and SparkContext's conf,
    the driver's fs.azure.* Hadoop settings, `SET`, every SQL execution page of the UI, the
    Environment REST endpoint and the event log files."""
    spark = cluster.spark
    hadoop = spark._jsc.hadoopConfiguration().getPropsWithPrefix("fs.azure.")
    executions = cluster.rest("sql?length=1000")
    pages = [httpx.get(f"{cluster.ui}/SQL/execution/?id={e['id']}", timeout=10) for e in executions]
    assert len(pages) >= 6
    assert [page.status_code for page in pages] == [200] * len(pages)
    return {
        "spark.conf.getAll": json.dumps(spark.conf.getAll),
        "SparkConf": json.dumps(spark.sparkContext.getConf().getAll()),
        "Hadoop conf": json.dumps({key: hadoop[key] for key in hadoop.keySet()}),
        "SET": json.dumps([tuple(row) for row in spark.sql("SET").collect()]),
        "SQL pages": "\n".join(page.text for page in pages),
        "environment": json.dumps(cluster.rest("environment")),
        "event log": "\n".join(
            f.read_text(encoding="utf-8", errors="replace")
            for f in cluster.events.rglob("*")
            if f.is_file()
        ),
    }


def added_file(cluster: Cluster, path: Path) -> None:
    """addFile, then wait until the Environment endpoint shows it (the update is asynchronous)."""
    path.write_text("id\n1\n", encoding="utf-8")
    cluster.spark.sparkContext.addFile(str(path))
    deadline = time.monotonic() + 10
    while path.name not in json.dumps(cluster.rest("environment")):
        assert time.monotonic() < deadline, "the environment update never showed the added file"
        time.sleep(0.2)


def test_no_secret_anywhere_spark_shows_configuration(cluster: Cluster, tmp_path: Path) -> None:
    """No key, SAS or token in any place Spark shows configuration, after an addFile."""
    added_file(cluster, tmp_path / "lookup.csv")
    places = exposure(cluster)
    sidecar = cluster.sidecar
    canaries = [*KEYS, cluster.caller_token, sidecar.get_token().token]
    for permissions in ("rl", "racwdl"):
        canaries += credential_forms(
            sidecar.get_sas("sasacct", "lake", None, permissions).sas_token
        )
    leaked = {place: sum(value in text for value in canaries) for place, text in places.items()}
    assert leaked == dict.fromkeys(places, 0)
    assert [place for place, text in places.items() if SIG.search(text)] == []
    # The scan sees what it should: a setting the redaction regex leaves alone (it hides a key or
    # value that matches, such as the provider classes), the queries' pages and their events.
    assert all(sidecar.config.url in places[p] for p in ("environment", "event log", "SparkConf"))
    assert "SparkListenerSQLExecutionStart" in places["event log"]
    assert places["SQL pages"].count("Details for Query") >= 6


def test_live_rotation_keeps_every_operation_working(cluster: Cluster) -> None:
    """Appends and reads on executors go on through a key rotation and SAS expiry: 0 fail."""
    spark, uri = cluster.spark, cluster.conns["sidecar_sas_provider"].uri("stream")
    spark.range(0, 4, numPartitions=2).write.format("delta").save(uri)
    rows, ops, failed = 4, 0, []
    start = time.time()
    rotated = 0.0
    while time.time() - start < ROTATION_RUN:
        if not rotated and time.time() - start >= ROTATE_AFTER:
            cluster.emulator.set_secret("kv1", "sasacct-key", ACCOUNTS["sasacct"][1])
            rotated = time.time()
        for op in ("append", "read"):
            ops += 1
            try:
                if op == "append":
                    more = spark.range(rows, rows + 2, numPartitions=2)
                    more.write.format("delta").mode("append").save(uri)
                    rows += 2
                else:
                    total = spark.read.format("delta").load(uri).selectExpr("sum(id)").first()[0]
                    assert total == sum(range(rows))
            except Exception as error:  # each failure is counted and reported
                failed.append(f"{op} at {time.time() - start:.0f}s: {type(error).__name__}")
    cluster.rotation = {"start": start, "rotated": rotated, "end": time.time()}
    print(f"live rotation: {len(failed)} failed of {ops} operations in {time.time() - start:.0f} s")
    assert failed == []
    seen = [a for a in cluster.azurite.authorizations() if a.account == "sasacct"]
    seen = [a for a in seen if a.time >= start]
    assert {a.how for a in seen if a.time < rotated} == {"sas key1"}
    # The sidecar holds the new key within its 2 s refresh; a SAS signed just before lives 20 s.
    assert {a.how for a in seen if a.time > rotated + 2 + SAS_TTL + 2} == {"sas key2"}


def test_one_sas_request_per_scope_per_lifetime_per_jvm(cluster: Cluster) -> None:
    """Each JVM asks for a scope's SAS once per SAS lifetime, at its renewal point."""
    window = cluster.rotation
    assert window, "runs after the rotation test"
    inside = [x for x in leases(cluster.calls_log) if window["start"] <= x.time <= window["end"]]
    held: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for lease in inside:
        if "account=sasacct" in lease.scope:
            held[(lease.pid, lease.scope)].append(lease)
    early = [
        (key, b.time - a.renew_from)
        for key, got in held.items()
        for a, b in itertools.pairwise(got)
        if b.time < a.renew_from
    ]
    assert early == []
    asked: dict[tuple[int, str], int] = defaultdict(int)
    for call in calls(cluster.calls_log):
        if call.route == "sas" and window["start"] <= call.time <= window["end"]:
            perms = call.what.rsplit("permissions ", 1)[1].rstrip(")")
            asked[(call.pid, f"Scope[account=sasacct, container=lake, permissions={perms}]")] += 1
    assert asked == {key: len(got) for key, got in held.items()}
    executors = executor_pids()
    assert set(executors) | {cluster.driver_pid} == {pid for pid, _ in held}
    seconds = window["end"] - window["start"]
    summary = {
        f"{executors.get(pid, 'driver')} {scope[-7:-1]}": n for (pid, scope), n in asked.items()
    }
    print(f"SAS requests in {seconds:.0f} s (SAS life {SAS_TTL:g} s): {sorted(summary.items())}")


def test_legacy_raw_key_mode_puts_the_key_in_spark(cluster: Cluster, tmp_path: Path) -> None:
    """Legacy raw key: in the session and Hadoop conf, and redacted everywhere else."""
    conn = cluster.conns["key_vault"]
    conn.configure_spark(cluster.spark)
    started = time.time()
    ran = round_trip(cluster, conn, "orders")
    assert sorted(ran) == ["0", "1"], ran
    assert min(ran.values()) > 0, ran
    seen = cluster.azurite.authorizations()
    assert {a.how for a in seen if a.account == conn.account and a.time >= started} == {
        "shared key"
    }
    added_file(cluster, tmp_path / "legacy.csv")
    places = exposure(cluster)
    key = ACCOUNTS["rawacct"][0]
    shown = sorted(place for place, text in places.items() if key in text)
    print(f"legacy mode: the key is in {shown}")
    assert shown == LEGACY_EXPOSED
