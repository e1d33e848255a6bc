"""`import akv_client` needs httpx alone: checked in a throwaway venv holding nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"

CHECK = """
import sys
import akv_client
from akv_client import AzureADLS, SidecarClient, LocalConnection
conn = AzureADLS("acct1", "bronze", auth_mode="direct_key", account_key="k")
assert conn.uri("t") == "abfss://bronze@acct1.dfs.core.windows.net/t"
with SidecarClient("http://127.0.0.1:9", "t"):
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in
               {"fastapi", "azure", "pyspark", "delta", "deltalake", "pandas", "starlette"})
assert not heavy, heavy
print("ok")
"""


@pytest.mark.slow
def test_import_with_only_httpx(tmp_path: Path) -> None:
    """In a venv with only httpx (and its deps), akv_client imports and pulls in no heavy module."""
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "--quiet", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", str(python), "httpx>=0.27,<1"],
        check=True,
        timeout=300,
    )
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([str(python), "-c", "import fastapi"], check=True, capture_output=True)
    result = subprocess.run(
        [str(python), "-c", CHECK],
        env={"PYTHONPATH": str(REPO / "client"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
