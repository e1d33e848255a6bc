"""examples/databricks_setup.ipynb runs top to bottom (nbclient, a real kernel) against the demo
sidecar: `akv-sidecar serve --demo`, the process `make run` starts, found through its demo.env."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "databricks_setup.ipynb"


def _read_env_file(path: Path) -> dict[str, str]:
    """The `export NAME=value` lines the demo writes, as a mapping."""
    variables: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, quoted = line.removeprefix("export ").partition("=")
        variables[name] = shlex.split(quoted)[0]
    return variables


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The demo sidecar running as its own process; yields the variables of its demo.env."""
    demo_dir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKV_", "IDENTITY_", "MSI_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "akv_sidecar", "serve", "--demo", "--port", "0"],
        env={**env, "AKV_SIDECAR_DEMO_DIR": str(demo_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (demo_dir / "demo.env").exists():
            assert process.poll() is None, "the demo sidecar exited"
            assert time.monotonic() < deadline, "the demo sidecar wrote no demo.env within 30 s"
            time.sleep(0.1)
        variables = _read_env_file(demo_dir / "demo.env")
        readyz = f"{variables['AKV_SIDECAR_URL']}/readyz"
        while httpx.get(readyz, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the demo sidecar was not ready within 30 s"
            time.sleep(0.1)
        yield variables
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_against_the_demo_sidecar(
    demo_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cell runs, the table round-trips, direct reads reach the vault, the provider section
    prints its settings, and no value (secret or caller token) is printed."""
    import nbclient
    import nbformat

    from akv_client import SidecarClient
    from akv_sidecar.cli.demo import DEMO_SECRETS, DEMO_VAULT

    for name, value in demo_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AKV_SIDECAR_TOKEN", raising=False)
    with SidecarClient() as client:
        values = [client.get_secret(DEMO_VAULT, name).value for name in DEMO_SECRETS]
    admin = demo_env["AKV_DEMO_ADMIN_URL"]
    query = {"vault": DEMO_VAULT, "op": "get", "secret": DEMO_SECRETS[0]}
    before = httpx.get(f"{admin}/admin/counters", params=query).json()["count"]

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()

    direct_gets = httpx.get(f"{admin}/admin/counters", params=query).json()["count"] - before
    output = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    for value in values:
        assert value not in output
    assert "(3/3 successful)" in output
    assert "rows read back: 10" in output
    assert "same value: True" in output
    assert "SecretNotFound" in output
    # The abfss:// section: the provider settings, printed whole since none is secret.
    assert "org.akvsidecar.hadoop.SidecarSasTokenProvider" in output
    assert "table: abfss://lake@lakeacct.dfs.core.windows.net/notebook_abfs" in output
    assert "spark.redaction.regex" in output
    token = Path(demo_env["AKV_SIDECAR_TOKEN_FILE"]).read_text().strip()
    assert token not in output
    assert direct_gets >= 20  # the notebook's direct Key Vault reads; the sidecar's were before
