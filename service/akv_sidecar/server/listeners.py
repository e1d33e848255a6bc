"""The sockets the sidecar listens on: TCP (loopback by default, optionally TLS) and a Unix socket.

The sockets are created here rather than by uvicorn so that one process can serve the same app on
several of them at once, and so the Unix socket gets its mode (0660 by default) before anyone can
connect. Binding TCP to an address other than loopback exposes secrets to the network: it needs TLS
or an explicit `listen.allow_plaintext_remote: true`, and logs a warning either way.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import stat
from collections.abc import Iterator

from akv_sidecar.core.errors import ConfigError

__all__ = ["check_exposure", "is_loopback", "tcp_socket", "unix_socket"]

logger = logging.getLogger("akv_sidecar.listeners")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def check_exposure(host: str, *, tls: bool, allow_plaintext_remote: bool) -> None:
    """Refuse plaintext on a non-loopback address unless explicitly allowed; warn when exposed."""
    if is_loopback(host):
        return
    if not tls and not allow_plaintext_remote:
        raise ConfigError(
            f"'listen.host' is {host}, which is not a loopback address: secrets would cross the"
            " network in plaintext. Configure listen.tls (cert_file, key_file), or set"
            " listen.allow_plaintext_remote: true if the network is trusted."
        )
    logger.warning(
        "listening on a non-loopback address; callers on the network can reach the sidecar",
        extra={"host": host, "tls": tls},
    )


def tcp_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one (read it from getsockname())."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port} ('listen.host', 'listen.port'): {error.strerror}."
        ) from None
    return sock


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _remove_stale(path: str) -> None:
    """Remove a socket file left by a previous run; refuse if a live server still answers on it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ConfigError(
            f"'listen.uds' ({path}) exists and is not a socket; remove it or pick another path."
        )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(path) == 0:
            raise ConfigError(f"'listen.uds' ({path}) is in use by another running server.")
    os.unlink(path)


def unix_socket(path: str, mode: int, backlog: int) -> socket.socket:
    """A listening Unix socket created with `mode` (no window with looser permissions)."""
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _umask(0o777 & ~mode):
            sock.bind(path)
        os.chmod(path, mode)
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"Cannot listen on the Unix socket 'listen.uds' ({path}): {error.strerror}."
        ) from None
    return sock
