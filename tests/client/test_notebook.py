"""examples/databricks_setup.ipynb runs top to bottom (nbclient, a real kernel) against the demo
set-up: the sidecar in front of an emulated vault "demo" holding the demo's secrets."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from akv_emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "databricks_setup.ipynb"


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(
    identity_env: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every cell runs without error, the table round-trips, and no secret value is printed."""
    import nbclient
    import nbformat

    from akv_emulator import Emulator
    from akv_sidecar._demo import DEMO_SECRETS, DEMO_VAULT
    from akv_sidecar.testing import emulator_config, run_sidecar

    values = {name: secrets.token_urlsafe(24) for name in DEMO_SECRETS}
    with Emulator(vaults=(DEMO_VAULT,)) as demo:
        for name, value in values.items():
            demo.set_secret(DEMO_VAULT, name, value)
        for name, value in demo.identity_env().items():
            monkeypatch.setenv(name, value)
        config = emulator_config(demo, tmp_path, {DEMO_VAULT: list(DEMO_SECRETS)})
        with run_sidecar(config) as sidecar:
            monkeypatch.setenv("AKV_SIDECAR_URL", sidecar.url)
            monkeypatch.setenv("AKV_SIDECAR_TOKEN_FILE", str(tmp_path / "token"))
            monkeypatch.delenv("AKV_SIDECAR_TOKEN", raising=False)
            monkeypatch.setenv("AKV_DEMO_VAULT", DEMO_VAULT)
            monkeypatch.setenv("AKV_DEMO_VAULT_URL", demo.vault_url(DEMO_VAULT))
            monkeypatch.setenv("AKV_DEMO_CA_FILE", demo.ca_file)
            notebook = nbformat.read(NOTEBOOK, as_version=4)
            nbclient.NotebookClient(
                notebook,
                timeout=120,
                kernel_name="python3",
                resources={"metadata": {"path": tmp_path}},
            ).execute()
            direct_gets = demo.calls(vault=DEMO_VAULT, op="get", secret="bronze-storage-key")
    output = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    for value in values.values():
        assert value not in output
    assert "(3/3 successful)" in output
    assert "rows read back: 10" in output
    assert "same value: True" in output
    assert "SecretNotFound" in output
    assert direct_gets >= 20  # the prefetch plus the notebook's 20 direct reads
