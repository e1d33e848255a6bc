"""Unit tests of listener sockets, the exposure check and TLS certificate reload."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import ssl
import stat
from pathlib import Path

import pytest

from akv_emulator._tls import write_certificates
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.server.listeners import check_exposure, is_loopback, tcp_socket, unix_socket
from akv_sidecar.server.tls import ReloadableTLS

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - only checked, never bound


def test_unix_socket_gets_mode_0660_and_replaces_a_stale_file(tmp_path: Path) -> None:
    """The socket file is created 0660; a dead socket file from a previous run is replaced."""
    path = str(tmp_path / "sidecar.sock")
    first = unix_socket(path, 0o660, 16)
    first.close()  # leaves the file behind, like a crashed process
    second = unix_socket(path, 0o660, 16)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        with pytest.raises(ConfigError, match="in use"):
            unix_socket(path, 0o660, 16)
    finally:
        second.close()


def test_unix_socket_refuses_to_replace_a_regular_file(tmp_path: Path) -> None:
    """A path holding a regular file is never deleted."""
    path = tmp_path / "data.txt"
    path.write_text("keep me")
    with pytest.raises(ConfigError, match="not a socket"):
        unix_socket(str(path), 0o660, 16)
    assert path.read_text() == "keep me"


def test_tcp_socket_error_names_the_keys() -> None:
    """A port already taken is a ConfigError naming listen.host and listen.port."""
    taken = tcp_socket("127.0.0.1", 0, 16)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=r"listen\.port"):
            tcp_socket("127.0.0.1", port, 16)
    finally:
        taken.close()


def test_exposure_rules(caplog: pytest.LogCaptureFixture) -> None:
    """Loopback is silent; remote plaintext is refused unless allowed; remote warns."""
    assert all(map(is_loopback, ["127.0.0.1", "::1", "localhost", "127.0.0.2"]))
    assert not is_loopback(ANY_ADDRESS)
    with caplog.at_level(logging.WARNING):
        check_exposure("127.0.0.1", tls=False, allow_plaintext_remote=False)
        assert not caplog.records
        with pytest.raises(ConfigError, match="allow_plaintext_remote"):
            check_exposure(ANY_ADDRESS, tls=False, allow_plaintext_remote=False)
        check_exposure(ANY_ADDRESS, tls=True, allow_plaintext_remote=False)
        check_exposure(ANY_ADDRESS, tls=False, allow_plaintext_remote=True)
    assert len([r for r in caplog.records if "non-loopback" in r.getMessage()]) == 2


def test_bad_certificate_files_are_a_config_error(tmp_path: Path) -> None:
    """A missing or mismatched key names both config keys."""
    pki_a, pki_b = write_certificates(tmp_path / "pki-a"), write_certificates(tmp_path / "pki-b")
    with pytest.raises(ConfigError, match=r"listen\.tls\.key_file"):
        ReloadableTLS(str(pki_a.cert_file), str(pki_b.key_file))
    with pytest.raises(ConfigError, match=r"listen\.tls\.cert_file"):
        ReloadableTLS(str(tmp_path / "missing.pem"), str(pki_a.key_file))


async def _handshake(port: int, ca_file: Path) -> bool:
    """True when a TLS handshake trusting only ca_file succeeds."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    except ssl.SSLCertVerificationError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def test_reload_swaps_the_certificate_for_new_handshakes(tmp_path: Path) -> None:
    """After the files are replaced and reload() runs, new handshakes present the new cert."""
    pki_a, pki_b = write_certificates(tmp_path / "pki-a"), write_certificates(tmp_path / "pki-b")
    live_cert, live_key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(pki_a.cert_file, live_cert)
    shutil.copy(pki_a.key_file, live_key)
    tls = ReloadableTLS(str(live_cert), str(live_key))

    async def close_at_once(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0, ssl=tls.context)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await _handshake(port, pki_a.ca_file)
        assert not await _handshake(port, pki_b.ca_file)
        shutil.copy(pki_b.cert_file, live_cert)
        shutil.copy(pki_b.key_file, live_key)
        assert tls.reload()
        assert await _handshake(port, pki_b.ca_file)
        assert not await _handshake(port, pki_a.ca_file)
        live_key.write_text("half-written")
        assert not tls.reload()  # keeps serving the last good certificate
        assert await _handshake(port, pki_b.ca_file)
    finally:
        server.close()
        await server.wait_closed()
