"""Starting and stopping is quick, leaks nothing, and several emulators coexist."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from akv_emulator import Emulator, EmulatorError

from .conftest import request_token


def test_start_stop_is_quick_and_joins_the_thread() -> None:
    """An emulator starts and stops well under a second and leaves no thread or temp dir."""
    threads_before = threading.active_count()
    started = time.monotonic()
    with Emulator() as emu:
        ca_file = Path(emu.ca_file)
        assert ca_file.is_file()
        assert threading.active_count() == threads_before + 1
    assert time.monotonic() - started < 1.0
    assert threading.active_count() == threads_before
    assert not ca_file.parent.exists()


def test_stopped_ports_refuse(tmp_path: Path) -> None:
    """After stop, the vault port no longer accepts connections; cert_dir files are kept."""
    with Emulator(cert_dir=str(tmp_path)) as emu:
        port = int(emu.vault_url().rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    assert (tmp_path / "ca.pem").is_file()


def test_two_emulators_in_one_process() -> None:
    """Two emulators run side by side with separate CAs, ports and secrets."""
    with Emulator(vaults=("a",)) as first, Emulator(vaults=("a",)) as second:
        first.set_secret("a", "x", "1")
        second.set_secret("a", "x", "2")
        assert first.vault_url("a") != second.vault_url("a")
        assert first.ca_file != second.ca_file
        assert first.get_value("a", "x") == "1"
        assert second.get_value("a", "x") == "2"


def test_restart_after_stop() -> None:
    """An emulator can be started again after a stop."""
    emu = Emulator()
    with emu:
        pass
    with emu:
        assert emu.vault_url().startswith("https://")


def test_fixed_ports_are_consecutive() -> None:
    """port > 0 gives the first vault that port and the next vault port + 1."""
    base = _two_free_ports()
    with Emulator(vaults=("one", "two"), port=base) as emu:
        assert emu.vault_url("one") == f"https://127.0.0.1:{base}"
        assert emu.vault_url("two") == f"https://127.0.0.1:{base + 1}"


def test_ipv6_loopback() -> None:
    """Serving on ::1 gives bracketed URLs that TLS clients verify against the emulator CA."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        emu = Emulator(host="::1").start()
    except OSError:
        pytest.skip("::1 is not configured")
    try:
        assert emu.vault_url().startswith("https://[::1]:")
        url = f"{emu.vault_url()}/secrets?api-version=7.4"
        assert httpx.get(url, verify=emu.client_ssl_context()).status_code == 401
    finally:
        emu.stop()


def test_not_running_is_a_clear_error() -> None:
    """Using an emulator that is not started raises EmulatorError."""
    with pytest.raises(EmulatorError, match="not running"):
        Emulator().set_secret("demo", "a", "v")


def _two_free_ports() -> int:
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base >= 65535:
            continue
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", base))
                second.bind(("127.0.0.1", base + 1))
        except OSError:
            continue
        return base
    raise AssertionError("no two consecutive free ports")


def test_stop_with_a_hung_request_and_a_refused_port() -> None:
    """Stopping releases hung requests and closes paused ports quickly, leaking nothing."""
    emu = Emulator(vaults=("hung", "down")).start()
    try:
        emu.inject("hung", hang=True)
        emu.inject("down", outage="refuse")
        token = request_token(emu).json()["access_token"]
        outcome: list[BaseException] = []

        def call() -> None:
            try:
                httpx.get(
                    f"{emu.vault_url('hung')}/secrets/x?api-version=7.4",
                    headers={"Authorization": f"Bearer {token}"},
                    verify=emu.client_ssl_context(),
                    timeout=10,
                )
            except httpx.HTTPError as error:
                outcome.append(error)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.3)  # lets the request reach the hung vault; the outcome below checks it did
    finally:
        started = time.monotonic()
        emu.stop()
        assert time.monotonic() - started < 1.0
    caller.join(5)
    assert not caller.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], (httpx.RemoteProtocolError, httpx.ReadError))
