"""The sidecar when trust breaks: a TLS failure on the way to Key Vault, and a failing
managed-identity token endpoint. Both are real: the TLS failure is a proxy presenting a
certificate from a CA the sidecar does not trust; the token endpoint is the emulator's.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from akv_emulator import Emulator
from akv_sidecar.testing import RunningSidecar
from tests.reliability._checks import (
    assert_reported,
    assert_serves_last_good,
    recover_with_new_version,
    wait_degraded,
)
from tests.reliability._tls_proxy import TlsFailureProxy
from tests.reliability.conftest import SECRETS, Api, wait_until

StartSidecar = Callable[..., AbstractContextManager[RunningSidecar]]


def test_tls_failure_serves_cached_and_recovers(
    start_sidecar: StartSidecar, emulator: Emulator, seeded: dict[str, str], tmp_path: Path
) -> None:
    """Vault certificate untrusted: cached reads serve stale, errors blame the certificate."""
    vault = urlsplit(emulator.vault_url("kv1"))
    assert vault.hostname is not None
    assert vault.port is not None
    with (
        TlsFailureProxy((vault.hostname, vault.port), tmp_path / "untrusted") as proxy,
        start_sidecar(vault_url=proxy.url) as sidecar,
    ):
        api = Api(sidecar)
        try:
            proxy.fail_tls(True)
            _assert_certificate_refused(proxy.url, emulator.ca_file)
            for name in seeded:  # each one: their refreshes fall due a few ms apart
                wait_degraded(api, name)
            for name, value in seeded.items():
                assert_serves_last_good(api, name, value)
            assert_reported(api, "alpha")
            _assert_blames_the_certificate(api)
            proxy.fail_tls(False)
            recover_with_new_version(api, emulator, "alpha")
        finally:
            api.close()


def _assert_blames_the_certificate(api: Api) -> None:
    """/v1/status and an uncached read name the untrusted certificate, not an outage."""
    last_error = api.status("alpha")["last_error"]
    assert last_error.startswith("untrusted: Key Vault's TLS certificate is not trusted (")
    assert "ca_file" in last_error
    assert "could not be reached" not in last_error
    uncached = api.read("not-cached")
    assert uncached.status_code == 502
    assert uncached.json()["error"]["code"] == "UpstreamError"
    assert "TLS certificate is not trusted" in uncached.json()["error"]["message"]


def _assert_certificate_refused(url: str, ca_file: str) -> None:
    """The fault is the one intended: a client trusting the vault's CA rejects the certificate."""
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, verify=ssl.create_default_context(cafile=ca_file), timeout=5)


def test_token_endpoint_failure_at_start_then_recovers(
    start_sidecar: StartSidecar, emulator: Emulator, seeded: dict[str, str]
) -> None:
    """Token endpoint down at start: failed secrets listed, fast JSON errors, then self-recovery."""
    emulator.fail_identity(500)
    with start_sidecar() as sidecar:
        api = Api(sidecar)
        try:
            ready = api.readyz()
            assert ready.status_code == 200
            assert {item["name"] for item in ready.json()["failed"]} >= set(SECRETS)
            response = api.read("alpha")
            assert 500 <= response.status_code < 600
            assert response.json()["error"]["code"]
            assert emulator.calls(op="get", status=200) == 0
            emulator.fail_identity(None)

            def served() -> bool:
                """every secret is served after the token endpoint recovers"""
                return all(api.read(name).status_code == 200 for name in SECRETS)

            wait_until(served)
            assert api.read("beta").json()["value"] == seeded["beta"]
        finally:
            api.close()


def test_token_endpoint_failure_does_not_touch_cached_reads(
    start_sidecar: StartSidecar, emulator: Emulator, seeded: dict[str, str]
) -> None:
    """Token endpoint down after start: the held token keeps refreshes and reads going."""
    with (
        start_sidecar() as sidecar,
        httpx.Client(base_url=sidecar.url, headers=sidecar.headers) as http,
    ):
        emulator.fail_identity(500)
        gets = emulator.calls(op="get", status=200)
        wait_until(lambda: emulator.calls(op="get", status=200) >= gets + 2)
        for name, value in seeded.items():
            response = http.get(f"/v1/vaults/kv1/secrets/{name}")
            assert response.status_code == 200
            assert response.json()["value"] == value
        emulator.fail_identity(None)
