"""The command line: check (the config doctor), config errors, serve with SIGTERM, make run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from akv_sidecar.cli.main import main

from .conftest import SEEDED, Vault, wait_for

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_check_prints_a_table_without_values(
    kv: Vault,
    make_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check fetches every configured secret once, prints the table, exits 0 when all work."""
    values = kv.seed("bronze", "silver")
    path = write_config(tmp_path, make_config("bronze", "silver"))
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["VAULT", "SECRET", "VERSION", "LATENCY", "RESULT"]
    assert re.search(r"kv1\s+bronze\s+[0-9a-f]{32}\s+\d+ ms\s+ok", out)
    assert "(credential: managed_identity)" in out
    assert "3 ok, 0 failed" in out
    assert not any(value in out for value in values.values())
    assert kv.gets() == 2


def test_check_exits_non_zero_on_any_failure(
    kv: Vault,
    make_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A missing secret is a FAILED row and exit status 1."""
    kv.seed("bronze")
    path = write_config(tmp_path, make_config("bronze", "absent"))
    assert main(["check", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"kv1\s+absent\s+-\s+\d+ ms\s+FAILED not_found", out)


def test_check_fetches_storage_account_keys_as_serve_does(
    kv: Vault,
    make_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An account's key secret is a row of check's table; an account naming an unconfigured
    vault is the config error serve gives (exit 2)."""
    kv.seed("bronze", "acct-key")
    account = {"name": "acct1", "key": {"vault": "kv1", "secret": "acct-key"}}
    path = write_config(tmp_path, make_config("bronze", storage={"accounts": [account]}))
    assert main(["check", "--config", str(path)]) == 0
    assert re.search(r"kv1\s+acct-key\s+[0-9a-f]{32}\s+\d+ ms\s+ok", capsys.readouterr().out)
    account["key"] = {"vault": "elsewhere", "secret": "acct-key"}
    path = write_config(tmp_path, make_config("bronze", storage={"accounts": [account]}))
    assert main(["check", "--config", str(path)]) == 2
    assert "elsewhere" in capsys.readouterr().err


def test_config_errors_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config error is printed as one clear line and exits 2, for serve and check alike."""
    path = tmp_path / "bad.yaml"
    path.write_text("cache: {refesh_interval: 5m}\n")
    for command in ("serve", "check"):
        assert main([command, "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"Unknown key 'cache.refesh_interval' in {path}" in err
        assert "Traceback" not in err
    path.write_text("vaults: []\n")
    assert main(["serve", "--config", str(path)]) == 2
    assert "No caller token" in capsys.readouterr().err


Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Starts a command in its own session, output piped as text; stops what still runs after."""
    started: list[subprocess.Popen[str]] = []

    def start(command: list[str], **options: Any) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **options,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_serve_answers_and_stops_gracefully_on_sigterm(
    kv: Vault,
    make_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
    spawn: Spawn,
) -> None:
    """serve --config: ready, serves a secret, and on SIGTERM shuts down cleanly with status 0."""
    value = kv.seed("bronze")["bronze"]
    config = make_config("bronze")
    token = (tmp_path / "token").read_text()
    path = write_config(tmp_path, config)
    process = spawn(
        [sys.executable, "-m", "akv_sidecar", "serve", "--config", str(path), "--port", "0"]
    )
    assert process.stdout is not None
    port = None
    for line in process.stdout:
        if match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
            port = int(match[1])
            break
    assert port, "the server did not report its port"
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, what="ready")
    read = httpx.get(
        f"{url}/v1/vaults/kv1/secrets/bronze", headers={"Authorization": f"Bearer {token}"}
    )
    assert read.json()["value"] == value
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    lines = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    assert "Application shutdown complete." in [line["message"] for line in lines]
    assert value not in rest


def test_make_run_starts_the_demo_and_its_curl_line_returns_a_secret(
    tmp_path: Path, spawn: Spawn
) -> None:
    """`make run` serves the demo; the curl line it prints returns a secret; values never logged."""
    env = {
        **os.environ,
        "AKV_SIDECAR_LISTEN__PORT": "0",  # a free port: other tests may hold 8787
        "AKV_SIDECAR_DEMO_DIR": str(tmp_path / "demo"),
    }
    process = spawn(["make", "--no-print-directory", "run"], cwd=REPO, env=env)
    assert process.stdout is not None
    printed: list[str] = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith("curl "):
            break
    curl = printed[-1].strip()
    assert curl.startswith('curl -H "Authorization: Bearer $(cat ')
    assert "/v1/vaults/demo/secrets/" in curl
    assert (tmp_path / "demo" / "token").stat().st_mode & 0o777 == 0o600
    url = re.search(r"(http://127\.0\.0\.1:\d+)", curl)[1]  # type: ignore[index]
    wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=10, what="demo ready")
    answer = subprocess.run(
        ["bash", "-c", curl + " --silent"], capture_output=True, text=True, timeout=10, check=True
    )
    secret = json.loads(answer.stdout)
    assert secret["vault"] == "demo"
    assert secret["name"] == "bronze-storage-key"
    assert secret["value"]
    SEEDED.add(secret["value"])
    os.killpg(process.pid, signal.SIGTERM)
    rest, _ = process.communicate(timeout=15)
    assert secret["value"] not in "".join(printed) + rest
