"""Listeners against the running service: TLS (with SIGHUP reload), Unix socket, exposure rule."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from akv_client import SidecarClient
from akv_emulator._tls import write_certificates
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.testing import emulator_config, free_port

from .conftest import SEEDED, Output, StartSidecar, bearer

if TYPE_CHECKING:
    from akv_emulator import Emulator


def _https_get(url: str, ca_file: Path, token: str | None = None) -> httpx.Response:
    """GET over TLS trusting only ca_file (a fresh connection, so a fresh handshake)."""
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file))) as client:
        return client.get(url, headers=bearer(token) if token else None)


def _wait_ready(process: subprocess.Popen[str], url: str, ca_file: Path) -> None:
    """Poll /readyz over TLS until 200, failing fast if the process died (bounded)."""
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, f"the sidecar exited with {process.returncode}"
        try:
            if _https_get(f"{url}/readyz", ca_file).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the sidecar was not ready in time"
        time.sleep(0.1)


def test_tls_listener_with_a_test_ca_and_sighup_reload(
    kv: Emulator, tmp_path: Path, output: Output
) -> None:
    """`akv-sidecar serve` with listen.tls serves HTTPS trusted through the test CA; after the
    files are replaced, SIGHUP makes new handshakes present the new certificate."""
    first, second = (
        write_certificates(tmp_path / "pki-first"),
        write_certificates(tmp_path / "pki-second"),
    )
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(first.cert_file, cert)
    shutil.copy(first.key_file, key)
    port = free_port()
    config = emulator_config(
        kv,
        tmp_path,
        secrets={"kv1": ["bronze"]},
        listen={"port": port, "tls": {"cert_file": str(cert), "key_file": str(key)}},
        log_format="text",
    )
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    token = (tmp_path / "token").read_text()
    process = subprocess.Popen(
        [sys.executable, "-m", "akv_sidecar", "serve", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait_ready(process, f"https://localhost:{port}", first.ca_file)
        url = f"https://localhost:{port}/v1/vaults/kv1/secrets/bronze"
        response = _https_get(url, first.ca_file, token)
        assert response.status_code == 200
        assert response.json()["value"] == SEEDED["bronze"]
        with pytest.raises(httpx.ConnectError):
            _https_get(url, second.ca_file, token)
        shutil.copy(second.cert_file, cert)
        shutil.copy(second.key_file, key)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            try:
                assert _https_get(url, second.ca_file, token).status_code == 200
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the new certificate was not picked up"
                time.sleep(0.05)
        with pytest.raises(httpx.ConnectError):
            _https_get(url, first.ca_file, token)
    finally:
        process.terminate()
        log, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "TLS certificate reloaded" in log
    assert SEEDED["bronze"] not in log


def test_unix_socket_listener_with_the_client(start: StartSidecar, tmp_path: Path) -> None:
    """With listen.uds the socket file has mode 0660 and SidecarClient(uds=...) reads through it,
    while the TCP listener keeps working."""
    path = tmp_path / "sidecar.sock"
    listen = {"host": "127.0.0.1", "port": 0, "uds": str(path)}
    with start(listen=listen) as sidecar:
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        with SidecarClient("http://sidecar", sidecar.token, uds=str(path)) as client:
            assert client.get_secret("kv1", "bronze").value == SEEDED["bronze"]
            assert client.get_secret("kv1", "gold").value == SEEDED["gold"]
        tcp = httpx.get(
            f"{sidecar.url}/v1/vaults/kv1/secrets/silver", headers=bearer(sidecar.token)
        )
        assert tcp.json()["value"] == SEEDED["silver"]
    assert not path.exists()


def test_non_loopback_plaintext_is_refused_unless_allowed(
    start: StartSidecar, caplog: pytest.LogCaptureFixture
) -> None:
    """0.0.0.0 without TLS is a config error; allow_plaintext_remote starts, with a warning."""
    any_address = "0.0.0.0"  # noqa: S104 - the point of the test
    with (
        pytest.raises(ConfigError, match="allow_plaintext_remote"),
        start(listen={"host": any_address, "port": 0}),
    ):
        pass
    with start(listen={"host": any_address, "port": 0, "allow_plaintext_remote": True}) as sidecar:
        assert httpx.get(f"http://127.0.0.1:{sidecar.port}/healthz").status_code == 200
    assert any("non-loopback" in record.getMessage() for record in caplog.records)
