"""The newcomer's path works as written: the demo's printed lines, README's snippet and seed."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests._waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
# Variables through which the Azure SDK could pick up a credential other than the one under test.
FOREIGN = ("AKV_", "AZURE_", "IDENTITY_", "MSI_", "IMDS_")


def clean_env(**extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)},
        **extra,
    }


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[list[str], Path]]:
    """`akv-sidecar serve --demo` as its own process, from the repo; its printed lines, its dir."""
    demo_dir = tmp_path / "demo"
    process = subprocess.Popen(
        [sys.executable, "-m", "akv_sidecar", "serve", "--demo", "--port", "0"],
        cwd=REPO,
        env=clean_env(AKV_SIDECAR_DEMO_DIR=str(demo_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    try:
        printed: list[str] = []
        for line in process.stdout:
            printed.append(line.rstrip("\n"))
            if "akv_sidecar check" in line:
                break
        assert process.poll() is None, "the demo exited"
        yield printed, demo_dir
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=15)


def run_as_printed(line: str) -> subprocess.CompletedProcess[str]:
    """A printed line pasted into a new bash in the repo: nothing of the test's environment."""
    return subprocess.run(
        ["bash", "-c", line],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_python_and_check_lines_work_as_printed(demo: tuple[list[str], Path]) -> None:
    """The Python line reads a masked secret, the check line passes; files that unlock are 0600."""
    printed, demo_dir = demo
    python_line = next(line for line in printed if " -c " in line)
    check_line = next(line for line in printed if "akv_sidecar check" in line)
    url = re.search(r"AKV_SIDECAR_URL=(\S+)", python_line)[1]  # type: ignore[index]
    wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=15, what="ready")
    token = (demo_dir / "token").read_text()
    value = httpx.get(
        f"{url}/v1/vaults/demo/secrets/bronze-storage-key",
        headers={"Authorization": f"Bearer {token}"},
    ).json()["value"]

    read = run_as_printed(python_line)
    assert read.returncode == 0, read.stderr[-2000:]
    assert read.stdout.startswith("Secret(vault='demo', name='bronze-storage-key'")
    assert "value='***'" in read.stdout

    check = run_as_printed(check_line)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    assert check.stdout.strip().endswith("4 ok, 0 failed")

    assert value not in "\n".join(printed) + read.stdout + read.stderr + check.stdout
    for name in ("token", "config.yaml", "demo.env"):
        assert stat.S_IMODE((demo_dir / name).stat().st_mode) == 0o600, name


def readme_block_after(marker: str) -> str:
    """The first fenced block after the README line containing `marker`."""
    rest = README[README.index(marker) :]
    match = re.search(r"```[a-z]*\n(.*?)```", rest, re.S)
    assert match, f"no code block after {marker!r}"
    return match[1]


def test_readme_testing_snippet_runs_as_written(tmp_path: Path) -> None:
    """README's akv_sidecar.testing block, run unchanged in a new interpreter, reads the secret."""
    snippet = readme_block_after("`akv_sidecar.testing` runs the real app in-process")
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "200 bronze" in result.stdout.splitlines()  # among the sidecar's JSON log lines


def test_readme_sample_seed_command_serves_the_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """README's emulator command, run with the seed file it names, serves that file's secrets."""
    from azure.core.exceptions import HttpResponseError
    from azure.identity import ManagedIdentityCredential
    from azure.keyvault.secrets import SecretClient

    block = readme_block_after("## Key Vault emulator")
    command = block.splitlines()[0].split("#")[0].split()
    assert command[:3] == [".venv/bin/python", "-m", "akv_emulator"]
    seed = yaml.safe_load((REPO / command[command.index("--seed") + 1]).read_text())
    process = subprocess.Popen(
        [sys.executable, *command[1:]],
        cwd=REPO,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        for name in list(os.environ):
            if name.startswith(FOREIGN):
                monkeypatch.delenv(name)
        monkeypatch.setenv("IDENTITY_ENDPOINT", info["identity_endpoint"])
        monkeypatch.setenv("IDENTITY_HEADER", info["identity_header"])
        with (
            ManagedIdentityCredential() as credential,
            SecretClient(
                info["vaults"]["demo"],
                credential,
                verify_challenge_resource=False,
                connection_verify=info["ca_file"],
            ) as client,
        ):
            listed = {item.name: item.enabled for item in client.list_properties_of_secrets()}
            assert listed == {
                name: spec.get("enabled", True) if isinstance(spec, dict) else True
                for name, spec in seed["secrets"].items()
            }
            sp = client.get_secret("sp-client-secret")
            assert sp.value == seed["secrets"]["sp-client-secret"]["value"]
            assert sp.properties.tags == seed["secrets"]["sp-client-secret"]["tags"]
            with pytest.raises(HttpResponseError, match="SecretDisabled"):
                client.get_secret("retired-key")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
