"""A vault's CA rotated while the sidecar runs: the replaced ca_file is trusted without a restart.

Real TLS: the emulator rotates its CA and server certificate (open connections dropped, new
handshakes present the new certificate) and the sidecar's copy of the CA file is replaced the way
an operator or a mounted Kubernetes secret does it, by renaming a new file over the old one.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from akv_sidecar.testing import run_sidecar

from .conftest import Vault, client, wait_for

UNCACHED = "/v1/vaults/kv1/secrets/silver"
# Not in the vault, and with cache.negative_ttl 0 never remembered: every read asks Key Vault.
PROBE = "/v1/vaults/kv1/secrets/absent"


def _replace(target: Path, content: bytes) -> None:
    """Write ``content`` beside ``target`` and rename it over: never a half-written file."""
    fresh = target.with_suffix(".new")
    fresh.write_bytes(content)
    os.replace(fresh, target)


def _sidecar_config(
    kv: Vault, make_config: Callable[..., dict[str, Any]], ca: Path, interval: str
) -> dict[str, Any]:
    shutil.copy(kv.emulator.ca_file, ca)
    config = make_config(
        "bronze", upstream={"ca_reload_interval": interval}, cache={"negative_ttl": 0}
    )
    config["vaults"][0]["ca_file"] = str(ca)
    return config


def _untrusted(http: httpx.Client) -> bool:
    """A read that asks Key Vault fails because the vault's new certificate is not trusted."""
    response = http.get(PROBE)
    return response.status_code == 502 and "not trusted" in response.json()["error"]["message"]


def _reached(http: httpx.Client) -> bool:
    """A read that asks Key Vault gets Key Vault's answer (the secret does not exist)."""
    return http.get(PROBE).status_code == 404


def test_a_replaced_ca_file_is_picked_up_by_the_watcher(
    kv: Vault, make_config: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    """After the vault's CA rotates, replacing ca_file makes reads work again within the
    watcher's interval, with no SIGHUP and no restart."""
    values = kv.seed("bronze", "silver")
    ca = tmp_path / "vault-ca.pem"
    config = _sidecar_config(kv, make_config, ca, "0.1s")
    with run_sidecar(config) as sidecar, client(sidecar) as http:
        kv.emulator.rotate_certificates()
        wait_for(lambda: _untrusted(http), what="the rotated certificate to be refused")
        _replace(ca, Path(kv.emulator.ca_file).read_bytes())
        wait_for(lambda: http.get(UNCACHED).status_code == 200, what="the new CA to be trusted")
        assert http.get(UNCACHED).json()["value"] == values["silver"]


def test_sighup_reloads_the_ca_file_and_a_broken_one_keeps_the_last(
    kv: Vault,
    make_config: Callable[..., dict[str, Any]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGHUP with a ca_file that is not PEM keeps the CA in use (and says so, once per version
    of the file); SIGHUP after the CA rotated and the file was replaced trusts the new one."""
    caplog.set_level(logging.INFO, logger="akv_sidecar")
    kv.seed("bronze", "silver")
    ca = tmp_path / "vault-ca.pem"
    config = _sidecar_config(kv, make_config, ca, "1h")
    with run_sidecar(config) as sidecar, client(sidecar) as http:
        _replace(ca, b"not a certificate\n")
        sidecar.server.hangup()
        assert _reached(http)  # still trusting the CA it had
        sidecar.server.hangup()  # the same broken file again: nothing new to say
        assert sum("did not load" in record.getMessage() for record in caplog.records) == 1
        kv.emulator.rotate_certificates()
        _replace(ca, Path(kv.emulator.ca_file).read_bytes())
        assert _untrusted(http), "the watcher runs hourly: nothing reloaded the CA yet"
        sidecar.server.hangup()
        assert _reached(http)
        assert http.get(UNCACHED).status_code == 200
    assert any("ca_file reloaded" in record.getMessage() for record in caplog.records)
