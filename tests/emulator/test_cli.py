"""`python -m akv_emulator` prints one JSON line, serves the SDK, and exits 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

_START_TIMEOUT_S = 20.0


def _read_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(_START_TIMEOUT_S):
            raise AssertionError("the emulator printed nothing in time")
    return process.stdout.readline()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """The emulator CLI running as a subprocess with a two-secret seed file, and its JSON line."""
    seed = tmp_path / "seed.yaml"
    seed.write_text("secrets:\n  storage-key: abc123\n  sas-token: xyz\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "akv_emulator", "--port", "0", "--seed", str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, json.loads(_read_line(process))
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_cli_serves_the_sdk_and_exits_cleanly(
    cli: tuple[subprocess.Popen[str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The printed URLs, CA and identity settings let the unmodified SDK read seeded secrets."""
    process, info = cli
    assert set(info) == {"vaults", "ca_file", "admin_url", "identity_endpoint", "identity_header"}
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
        assert client.get_secret("storage-key").value == "abc123"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert stdout == ""
    assert stderr == ""
    assert not os.path.exists(info["ca_file"])


def test_cli_bad_seed_exits_2_naming_key_and_file(tmp_path: Path) -> None:
    """A bad seed file makes the CLI exit 2 with an error naming the key and the file."""
    seed = tmp_path / "bad.yaml"
    seed.write_text("secrets:\n  a:\n    vaule: typo\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "akv_emulator", "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert str(seed) in done.stderr
    assert "'secrets.a.vaule'" in done.stderr


def test_cli_main_in_process_rejects_bad_port() -> None:
    """main() returns 2 for an out-of-range port instead of starting."""
    from akv_emulator import main

    assert main(["--port", "70000"]) == 2
