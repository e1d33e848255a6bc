"""deploy/databricks: the init script, shellchecked and run in a temporary root, and the snippet."""

from __future__ import annotations

import base64
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from akv_client import AzureADLS, SidecarClient, spark_submit_conf
from akv_sidecar import load_config
from akv_sidecar.testing import free_port

from ._databricks import (
    DRIVER_CONF,
    HOME,
    LAKE,
    REPO,
    SCRIPT,
    SECRET_NAMES,
    SHELLCHECK,
    SNIPPET,
    SPARK_ENV,
    files_under,
    run_script,
    spark_conf_file,
)
from ._hadoop import problems, provider_jar
from ._processes import (
    clean_environ,
    fingerprint,
    http_status,
    pid_alive,
    terminate_pid,
)

if TYPE_CHECKING:
    from akv_emulator import Emulator


def test_shellcheck_reports_nothing() -> None:
    """shellcheck at style severity finds nothing in the deployment shell scripts."""
    scripts = [SCRIPT, REPO / "deploy" / "docker" / "install.sh"]
    result = subprocess.run(
        [str(SHELLCHECK), "--severity=style", "--format=gcc", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "")


def test_shellcheck_is_really_checking(tmp_path: Path) -> None:
    """The same shellcheck call flags an unquoted expansion."""
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $1/cache\n")
    result = subprocess.run(
        [str(SHELLCHECK), "--severity=style", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "SC2086" in result.stdout


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"AKV_SIDECAR_SECRETS": "a"}, "AKV_SIDECAR_VAULT"),
        ({"AKV_SIDECAR_VAULT": "kv1"}, "AKV_SIDECAR_SECRETS"),
        (
            {"AKV_SIDECAR_VAULT": "kv1", "AKV_SIDECAR_SECRETS": "a", "AKV_SIDECAR_CREDENTIAL": "x"},
            "allowed: auto, client_secret, managed_identity, default",
        ),
        (
            {"AKV_SIDECAR_VAULT": "kv1", "AKV_SIDECAR_SECRETS": "a", "AZURE_CLIENT_SECRET": "s"},
            "client_secret needs AZURE_TENANT_ID",
        ),
    ],
)
def test_bad_settings_fail_early_and_clearly(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    """A missing or wrong setting fails the script with a message naming it, writing nothing."""
    result = run_script({"DB_IS_DRIVER": "TRUE", "ROOT": str(tmp_path), **settings})
    assert result.returncode != 0
    assert message in result.stderr
    assert files_under(tmp_path) == []


def test_service_principal_config_names_the_secret_variable_only(tmp_path: Path) -> None:
    """With a service principal, the config refers to AZURE_CLIENT_SECRET and never holds it."""
    client_secret = secrets.token_urlsafe(24)
    result = run_script(
        {
            "DB_IS_DRIVER": "TRUE",
            "ROOT": str(tmp_path),
            "AKV_SIDECAR_VAULT": "kv1",
            "AKV_SIDECAR_SECRETS": " bronze-storage-key ,silver-storage-key,",
            "AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111",
            "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
            "AZURE_CLIENT_SECRET": client_secret,
            # An interpreter that cannot make a venv stops the run just after writing the config.
            "AKV_SIDECAR_PYTHON": "false",
        }
    )
    assert result.returncode != 0
    config_file = tmp_path / HOME / "config.yaml"
    assert client_secret not in config_file.read_text()
    config = load_config(config_file, environ={})
    assert config.credential.kind == "client_secret"
    assert config.credential.client_secret_env == "AZURE_CLIENT_SECRET"
    assert config.credential.tenant_id == "11111111-1111-1111-1111-111111111111"
    assert config.vaults[0].secrets == SECRET_NAMES
    assert config.listen.host == "127.0.0.1"


def python310() -> str:
    """A Python 3.10 interpreter: Databricks Runtime 13/14's (the Makefile finds the same one)."""
    found = sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python3.10"))
    found += [Path(p) for p in ("/usr/bin/python3.10",) if Path(p).exists()]
    assert found, "no Python 3.10 found (make test needs one too: PYTHON310=...)"
    return str(found[0])


def test_python_310_is_refused_before_installing(tmp_path: Path) -> None:
    """A driver Python older than 3.11 stops the script with a message saying so; no venv made."""
    result = run_script(
        {
            "DB_IS_DRIVER": "TRUE",
            "ROOT": str(tmp_path),
            "AKV_SIDECAR_VAULT": "kv1",
            "AKV_SIDECAR_SECRETS": "a",
            "AKV_SIDECAR_PYTHON": python310(),
        }
    )
    assert result.returncode != 0
    assert "the sidecar needs Python 3.11+" in result.stderr
    assert "AKV_SIDECAR_PYTHON" in result.stderr
    assert not (tmp_path / HOME / "venv").exists()


@pytest.fixture(scope="module")
def vault() -> Iterator[Emulator]:
    """One emulator for the module's init-script runs (the install is what takes time)."""
    from akv_emulator import Emulator

    with Emulator(vaults=("kv1",)) as emulator:
        for name in SECRET_NAMES:
            emulator.set_secret("kv1", name, secrets.token_urlsafe(32))
        emulator.set_secret("kv1", LAKE[1], base64.b64encode(secrets.token_bytes(64)).decode())
        yield emulator


@pytest.fixture(scope="module")
def started(
    tmp_path_factory: pytest.TempPathFactory, vault: Emulator
) -> Iterator[tuple[Path, dict[str, str], int]]:
    """The init script run once on a "driver" in a temp root; its sidecar stopped at the end.

    Module-scoped so that one pip install serves the tests below, which run in file order.
    """
    root = tmp_path_factory.mktemp("databricks") / "root"
    env = {
        **vault.identity_env(),
        "DB_IS_DRIVER": "TRUE",
        "ROOT": str(root),
        "AKV_SIDECAR_VAULT": "kv1",
        "AKV_SIDECAR_SECRETS": ",".join(SECRET_NAMES),
        "AKV_SIDECAR_STORAGE_ACCOUNTS": "=".join(LAKE),
        "AKV_SIDECAR_VAULT_URL": vault.vault_url("kv1"),
        "AKV_SIDECAR_CA_FILE": vault.ca_file,
        "AKV_SIDECAR_PORT": str(free_port()),
        "AKV_SIDECAR_PIP_SPEC": f"{REPO}[service]",
        "AKV_SIDECAR_PYTHON": sys.executable,
        "AKV_SIDECAR_READY_TIMEOUT": "60",
    }
    result = run_script(env, timeout=240)
    pid_file = root / HOME / "sidecar.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else 0
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        yield root, env, pid
    finally:
        if pid:
            terminate_pid(pid)


@pytest.mark.slow
def test_init_script_starts_a_ready_sidecar_for_notebooks(
    started: tuple[Path, dict[str, str], int], vault: Emulator
) -> None:
    """Installed, ready on 127.0.0.1, a 0600 token, env exported; a notebook gets the secret."""
    root, env, pid = started
    port = env["AKV_SIDECAR_PORT"]
    assert pid_alive(pid)
    assert http_status(f"http://127.0.0.1:{port}/readyz") == 200
    assert vault.calls(vault="kv1", op="get") == len(SECRET_NAMES) + 1  # and the account key

    token_file = root / HOME / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert len(token_file.read_text().strip()) >= 32

    spark_env = (root / SPARK_ENV).read_text()
    assert f"export AKV_SIDECAR_TOKEN_FILE={token_file}\n" in spark_env
    assert f"export AKV_SIDECAR_URL=http://127.0.0.1:{port}\n" in spark_env

    # The notebook side: the snippet's sidecar cell, in a shell that sourced spark-env.sh.
    cells = SNIPPET.read_text().split("# COMMAND ----------")
    sidecar_cell = next(cell for cell in cells if "SidecarClient()" in cell)
    check = "\nimport hashlib; print(hashlib.sha256(bronze_key.value.encode()).hexdigest())"
    notebook = subprocess.run(
        [
            "bash",
            "-c",
            f'source "{root / SPARK_ENV}" && exec "$0" -c "$1"',
            sys.executable,
            sidecar_cell + check,
        ],
        env=clean_environ({"AKV_SIDECAR_VAULT": "kv1"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert notebook.returncode == 0, notebook.stderr[-2000:]
    printed_repr, digest = notebook.stdout.strip().splitlines()[-2:]
    assert digest == fingerprint(vault.get_value("kv1", "bronze-storage-key"))
    assert vault.get_value("kv1", "bronze-storage-key") not in printed_repr

    log = (root / HOME / "sidecar.log").read_text()
    for name in (*SECRET_NAMES, LAKE[1]):
        assert vault.get_value("kv1", name) not in log


@pytest.mark.slow
def test_init_script_rerun_keeps_the_running_sidecar(
    started: tuple[Path, dict[str, str], int],
) -> None:
    """A second run reuses the sidecar, the venv and the token, and exports the env once."""
    root, env, pid = started
    token = (root / HOME / "token").read_text()
    result = run_script(env, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "installing" not in result.stderr
    assert int((root / HOME / "sidecar.pid").read_text()) == pid
    assert (root / HOME / "token").read_text() == token
    spark_env = (root / SPARK_ENV).read_text()
    assert len(re.findall(r"export AKV_SIDECAR_TOKEN_FILE=", spark_env)) == 1


@pytest.mark.slow
def test_driver_conf_sets_the_providers_and_the_node_sidecar_vends(
    started: tuple[Path, dict[str, str], int], vault: Emulator
) -> None:
    """The driver's Spark conf is spark_submit_conf() for the account less spark.jars, every key
    and class one the jars hold, no secret anywhere under /databricks; the jar is in
    /databricks/jars; the conf's URL and token file get a SAS from the node's sidecar."""
    root, env, _pid = started
    settings = spark_conf_file(root / DRIVER_CONF)
    url = f"http://127.0.0.1:{env['AKV_SIDECAR_PORT']}"
    with SidecarClient(url, token_file=str(root / HOME / "token"), timeout=10) as sidecar:
        conn = AzureADLS(
            LAKE[0], "data", auth_mode="sidecar_sas_provider", hns=True, sidecar=sidecar
        )
        expected = spark_submit_conf(conn)
        sas = sidecar.get_sas(LAKE[0], "data", permissions="rl")
    del expected["spark.jars"]
    assert settings == expected
    hadoop = {k.removeprefix("spark.hadoop."): v for k, v in settings.items() if "hadoop" in k}
    assert problems(hadoop) == []
    assert settings["spark.redaction.regex"].endswith("|account[.]key|sas")
    assert "sig=" in sas.sas_token
    jar = root / "databricks" / "jars" / provider_jar().name
    assert jar.read_bytes() == (REPO / "client" / "akv_client" / "jars" / jar.name).read_bytes()
    written = "".join(path.read_text(errors="replace") for path in files_under(root / "databricks"))
    for value in (*map(vault.get_value, ["kv1"] * 3, [*SECRET_NAMES, LAKE[1]]), sas.sas_token):
        assert value not in written
    assert (root / HOME / "token").read_text().strip() not in written


@pytest.mark.slow
def test_a_worker_runs_its_own_sidecar_and_gets_the_jar_but_no_conf(
    started: tuple[Path, dict[str, str], int], tmp_path: Path
) -> None:
    """On a worker (DB_IS_DRIVER unset) the script starts a ready sidecar of the node's own, with
    its own token, and installs the jar; the driver's Spark conf is not written there."""
    driver_root, env, _pid = started
    root = tmp_path / "worker"
    (root / HOME).mkdir(parents=True)
    (root / HOME / "venv").symlink_to(driver_root / HOME / "venv")  # the install, done once
    worker = {k: v for k, v in env.items() if k != "DB_IS_DRIVER"}
    worker |= {"ROOT": str(root), "AKV_SIDECAR_PORT": str(free_port())}
    result = run_script(worker, timeout=90)
    pid_file = root / HOME / "sidecar.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else 0
    try:
        assert result.returncode == 0, result.stderr[-2000:]
        assert http_status(f"http://127.0.0.1:{worker['AKV_SIDECAR_PORT']}/readyz") == 200
        assert (root / "databricks" / "jars" / provider_jar().name).is_file()
        assert not (root / DRIVER_CONF).exists()
        assert (root / HOME / "token").read_text() != (driver_root / HOME / "token").read_text()
    finally:
        if pid:
            terminate_pid(pid)


@pytest.mark.slow
def test_sidecar_stops_on_sigterm_from_its_pid_file(
    started: tuple[Path, dict[str, str], int],
) -> None:
    """The pid file names the sidecar itself: SIGTERM through it stops the server promptly."""
    _root, env, pid = started
    assert terminate_pid(pid) < 11  # the sidecar's 10 s graceful shutdown, plus 1 s
    assert http_status(f"http://127.0.0.1:{env['AKV_SIDECAR_PORT']}/healthz") is None
