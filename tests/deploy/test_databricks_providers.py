"""deploy/databricks and the akv-sidecar-hadoop providers, without an install: the init script runs
on workers too, reads its storage accounts strictly, and writes a sidecar config that signs SAS for
them (the slow tests in test_databricks.py start it, on a driver and on a worker)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from akv_client import AzureADLS, SidecarClient, spark_submit_conf
from akv_sidecar import load_config

from ._databricks import DRIVER_CONF, HOME, SNIPPET, files_under, run_script, spark_conf_file
from ._hadoop import problems

BASE = {"AKV_SIDECAR_VAULT": "kv1", "AKV_SIDECAR_PYTHON": "false"}  # stops after the config


@pytest.mark.parametrize("driver", [True, False])
def test_both_drivers_and_workers_run_the_script(tmp_path: Path, driver: bool) -> None:
    """Workers run it as drivers do (their executors need a sidecar too): a missing setting fails
    either with the same message, writing nothing."""
    env = {"ROOT": str(tmp_path), "AKV_SIDECAR_VAULT": "kv1"}
    env |= {"DB_IS_DRIVER": "TRUE"} if driver else {}
    result = run_script(env)
    assert result.returncode != 0
    assert "AKV_SIDECAR_SECRETS" in result.stderr
    assert "AKV_SIDECAR_STORAGE_ACCOUNTS" in result.stderr
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    ("accounts", "hns", "message"),
    [
        ("Lake=lake-key", "true", "'Lake=lake-key' is not ACCOUNT=SECRET"),
        ("lakeacct", "true", "'lakeacct' is not ACCOUNT=SECRET"),
        ("lakeacct=lake/key", "true", "'lakeacct=lake/key' is not ACCOUNT=SECRET"),
        ('lakeacct=k"}', "true", "is not ACCOUNT=SECRET"),
        ("lakeacct=lake-key", "yes", "AKV_SIDECAR_STORAGE_HNS is 'yes'; allowed: true, false"),
    ],
)
def test_a_malformed_storage_setting_fails_before_anything_is_written(
    tmp_path: Path, accounts: str, hns: str, message: str
) -> None:
    """A storage account or key name outside Azure's rules (which keep YAML and the Spark conf
    free of quoting), or a wrong HNS flag, stops the script with a message naming it."""
    env = BASE | {"ROOT": str(tmp_path), "DB_IS_DRIVER": "TRUE"}
    env |= {"AKV_SIDECAR_STORAGE_ACCOUNTS": accounts, "AKV_SIDECAR_STORAGE_HNS": hns}
    result = run_script(env)
    assert result.returncode != 0
    assert message in result.stderr
    assert files_under(tmp_path) == []


def test_storage_accounts_alone_make_a_config_that_signs_for_them(tmp_path: Path) -> None:
    """With storage accounts and no other secret, the config the sidecar loads lists each account,
    its key secret in the vault, the HNS flag and the SAS lifetime; nothing else is prefetched."""
    env = BASE | {"ROOT": str(tmp_path), "DB_IS_DRIVER": "TRUE"}
    env |= {
        "AKV_SIDECAR_STORAGE_ACCOUNTS": " lakeacct=lake-key, rawacct=raw-key ,",
        "AKV_SIDECAR_STORAGE_HNS": "false",
        "AKV_SIDECAR_SAS_MAX_TTL": "30m",
    }
    result = run_script(env)
    assert result.returncode != 0  # AKV_SIDECAR_PYTHON=false: no venv, after the config
    config = load_config(tmp_path / HOME / "config.yaml", environ={})
    accounts = [
        (a.name, a.key.vault, a.key.secret, a.hns, a.max_ttl) for a in config.storage.accounts
    ]
    assert accounts == [
        ("lakeacct", "kv1", "lake-key", False, 1800.0),
        ("rawacct", "kv1", "raw-key", False, 1800.0),
    ]
    assert config.vaults[0].secrets == ()


def test_a_flat_namespace_driver_conf_is_what_the_client_sets(tmp_path: Path) -> None:
    """For accounts without hierarchical namespace the driver's conf is spark_submit_conf() for
    them (the Blob service type included) less spark.jars, and a worker writes none."""
    env = BASE | {"ROOT": str(tmp_path), "DB_IS_DRIVER": "TRUE", "AKV_SIDECAR_PORT": "8899"}
    env |= {"AKV_SIDECAR_STORAGE_ACCOUNTS": "lakeacct=lake-key", "AKV_SIDECAR_STORAGE_HNS": "false"}
    run_script(env)
    token_file = tmp_path / HOME / "token"
    token_file.write_text("only-for-the-client's-check\n")
    with SidecarClient("http://127.0.0.1:8899", token_file=str(token_file)) as sidecar:
        conn = AzureADLS("lakeacct", "any", auth_mode="sidecar_sas_provider", sidecar=sidecar)
        expected = spark_submit_conf(conn)
    del expected["spark.jars"]
    assert spark_conf_file(tmp_path / DRIVER_CONF) == expected
    assert expected["spark.hadoop.fs.azure.fns.account.service.type"] == "BLOB"

    worker = tmp_path / "worker"
    run_script(BASE | {"ROOT": str(worker), "AKV_SIDECAR_STORAGE_ACCOUNTS": "lakeacct=lake-key"})
    assert (worker / HOME / "config.yaml").is_file()
    assert not (worker / DRIVER_CONF).exists()


def test_the_notebook_snippet_reads_and_writes_abfss_through_a_provider(tmp_path: Path) -> None:
    """The snippet's Spark cell builds an AzureADLS in a provider mode whose settings name keys
    and classes the jars hold and no secret, and writes, appends, reads and lists the history of
    an abfss:// Delta table with it."""
    cells = SNIPPET.read_text().split("# COMMAND ----------")
    (cell,) = [cell for cell in cells if "auth_mode=" in cell]
    tree = ast.parse(cell)
    (call,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "AzureADLS"
    ]
    kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    assert kwargs["auth_mode"] == "sidecar_sas_provider"
    token_file = tmp_path / "token"
    token_file.write_text("only-for-the-client's-check\n")
    with SidecarClient(token_file=str(token_file)) as sidecar:
        lake = AzureADLS(**kwargs, sidecar=sidecar)
        assert problems(lake.spark_conf()) == []
    assert lake.uri("t").startswith(f"abfss://{kwargs['container']}@{kwargs['account']}.dfs.")
    for step in ('.mode("overwrite").save(table)', '.mode("append").save(table)', ".load(table)"):
        assert step in cell
    assert "DeltaTable.forPath(spark, table).history()" in cell
    assert "table = lake.uri(" in cell
