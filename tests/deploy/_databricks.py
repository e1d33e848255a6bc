"""The Databricks init script's paths, and running it in a temporary root (tests/deploy)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ._processes import clean_environ

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "databricks" / "akv-sidecar-init.sh"
SNIPPET = REPO / "deploy" / "databricks" / "notebook_snippet.py"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
HOME = "local_disk0/akv-sidecar"
SPARK_ENV = "databricks/spark/conf/spark-env.sh"
SECRET_NAMES = ("bronze-storage-key", "silver-storage-key")
LAKE = ("lakeacct", "lakeacct-key")  # a storage account the sidecars sign SAS for, and its key
DRIVER_CONF = "databricks/driver/conf/00-akv-sidecar-spark.conf"


def run_script(env: Mapping[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env=clean_environ(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def spark_conf_file(path: Path) -> dict[str, str]:
    """The settings of a Databricks driver conf file (`[driver] { "key" = "value" ... }`)."""
    text = path.read_text()
    assert text.count("[driver] {") == 1, text
    return dict(re.findall(r'^\s*"([^"]+)" = "([^"]*)"$', text, re.M))
