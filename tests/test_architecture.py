"""The architecture holds in the code: the import contracts of `.importlinter` and module size."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
MAX_MODULE_LINES = 400


def _lint_imports(python_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if python_path is not None:  # earlier on sys.path than the installed (editable) packages
        env["PYTHONPATH"] = str(python_path)
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(REPO / ".importlinter"), "--no-cache"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_are_kept() -> None:
    """Every layer imports only those below it; client, emulator and service stay apart."""
    result = _lint_imports()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward_import", "broken"),
    [
        ("cache/store.py", "import akv_sidecar.http.errors", "service's layers"),
        ("keyvault/client.py", "import akv_sidecar.cache.store", "service's layers"),
        ("cache/policy.py", "import starlette.responses", "know HTTP frameworks"),
        ("http/auth.py", "import azure.core.exceptions", "Azure's SDK"),
        ("server/sidecar.py", "import akv_client", "no client or emulator"),
    ],
)
def test_a_deliberate_break_fails_the_contracts(
    tmp_path: Path, module: str, upward_import: str, broken: str
) -> None:
    """A copy of the service with one forbidden import added is reported as broken."""
    copy = tmp_path / "akv_sidecar"
    shutil.copytree(REPO / "service" / "akv_sidecar", copy)
    target = copy / module
    target.write_text(target.read_text() + f"\n{upward_import}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout[-2000:]
    broken_lines = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken_lines) == 1, result.stdout[-2000:]
    assert broken in broken_lines[0]


def test_no_module_is_over_the_size_limit() -> None:
    """No Python module of the service, client or emulator is longer than 400 lines."""
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text().splitlines())
        for part in ("service", "client", "emulator")
        for path in (REPO / part).rglob("*.py")
    }
    too_long = {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_long, too_long
