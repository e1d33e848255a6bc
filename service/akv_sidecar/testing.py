"""Helpers for tests and benchmarks: the real sidecar on a free loopback port, in this process.

    with Emulator(vaults=("kv1",)) as emu:           # and IDENTITY_* set to emu.identity_env()
        config = emulator_config(emu, tmp_path, secrets={"kv1": ["a", "b"]},
                                 cache={"refresh_interval": "10s"})
        with run_sidecar(config) as sidecar:
            httpx.get(f"{sidecar.url}/v1/vaults/kv1/secrets/a",
                      headers={"Authorization": f"Bearer {sidecar.token}"})

``run_sidecar`` serves the app under uvicorn (the same settings as ``akv-sidecar serve``) in a
background thread, returns once /readyz answers 200 (or once the server is up, with
``wait_ready=False``) and stops it cleanly. Pass a ``FakeClock`` to drive refresh, backoff and
max_stale by hand, and ``rand`` to fix the jitter.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from akv_sidecar.config.loading import load_config
from akv_sidecar.config.schema import Config
from akv_sidecar.core.clock import Clock, FakeClock
from akv_sidecar.http.auth import read_token
from akv_sidecar.server.server import Server, build_server
from akv_sidecar.server.sidecar import Sidecar

__all__ = ["FakeClock", "RunningSidecar", "emulator_config", "free_port", "run_sidecar"]


class _EmulatorLike(Protocol):
    @property
    def ca_file(self) -> str: ...

    def vault_url(self, vault: str) -> str: ...


@dataclass(frozen=True)
class RunningSidecar:
    """A sidecar serving in a background thread."""

    url: str  # http://127.0.0.1:<port> (https:// with listen.tls)
    port: int
    token: str = field(repr=False)  # the first caller's token
    sidecar: Sidecar = field(repr=False)  # the live object (cache, records) for assertions
    server: Server = field(repr=False)  # .hangup() does what SIGHUP does
    metrics_url: str | None = None  # with metrics.port: http://<metrics.host>:<port>
    uds: str | None = None  # listen.uds

    @property
    def headers(self) -> dict[str, str]:
        """The first caller's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


def emulator_config(
    emulator: _EmulatorLike,
    tmp_path: str | os.PathLike[str],
    secrets: Mapping[str, Sequence[str]] | None = None,
    *,
    token: str | None = None,
    caller: str = "tests",
    **sections: Any,
) -> dict[str, Any]:
    """A config dict for an emulator's vaults, with a caller token written to ``tmp_path/token``.

    ``secrets`` maps vault names to the secrets to prefetch (default: {"kv1": []}); ``sections``
    override whole config sections, e.g. ``cache={"refresh_interval": "10s"}``. The credential is
    managed_identity: set IDENTITY_ENDPOINT/IDENTITY_HEADER from ``emulator.identity_env()``.
    """
    token_file = Path(tmp_path) / "token"
    token_file.write_text(token or _new_token(), encoding="utf-8")
    token_file.chmod(0o600)
    vaults = [
        {
            "name": vault,
            "url": emulator.vault_url(vault),
            "ca_file": emulator.ca_file,
            "secrets": list(names),
        }
        for vault, names in (secrets if secrets is not None else {"kv1": []}).items()
    ]
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "auth": {"tokens": [{"name": caller, "token_file": str(token_file), "allow": ["*"]}]},
        "vaults": vaults,
        "credential": {"kind": "managed_identity"},
    }
    config.update(sections)
    return config


def free_port() -> int:
    """A loopback port free right now (a server started a moment later binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _new_token() -> str:
    return secrets.token_urlsafe(32)


@contextmanager
def run_sidecar(
    config: Mapping[str, Any] | Config,
    *,
    clock: Clock | None = None,
    rand: Callable[[], float] | None = None,
    wait_ready: bool = True,
    port: int = 0,
    timeout: float = 15.0,
    audit_stream: TextIO | None = None,
) -> Iterator[RunningSidecar]:
    """Start the sidecar for ``config`` (a Config, or a dict read without env overrides); audit
    lines go to ``audit_stream`` (default stdout)."""
    loaded = config if isinstance(config, Config) else load_config(data=config, environ={})
    sidecar = Sidecar(loaded, clock=clock, rand=rand, audit_stream=audit_stream)
    served = build_server(sidecar, port=port)
    server = served.server
    thread = threading.Thread(target=served.run, name="akv-sidecar", daemon=True)
    listen = loaded.listen
    host = listen.host if ":" not in listen.host else f"[{listen.host}]"
    scheme = "https" if listen.tls.enabled else "http"
    metrics_url = None
    if served.metrics_port is not None:
        metrics_url = f"http://{loaded.metrics.host}:{served.metrics_port}"
    running = RunningSidecar(
        f"{scheme}://{host}:{served.port}",
        served.port,
        read_token(loaded.auth.tokens[0], "auth.tokens[0]", loaded.source),
        sidecar,
        server,
        metrics_url,
        served.uds,
    )
    thread.start()
    try:
        _wait_started(server, thread, timeout)
        if wait_ready:
            _wait_ready(sidecar, timeout)
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout)
        served.close()


def _wait_started(server: Server, thread: threading.Thread, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the sidecar failed to start; see its log")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sidecar did not start within {timeout:g} s")
        time.sleep(0.01)


def _wait_ready(sidecar: Sidecar, timeout: float) -> None:
    """Until the prefetch finished: what /readyz answers 200 on (works with TLS too)."""
    deadline = time.monotonic() + timeout
    while not sidecar.cache.ready:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sidecar was not ready within {timeout:g} s")
        time.sleep(0.02)
