"""The public Emulator: runs the emulator's loop on a background thread and drives it."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ._config import DEFAULTS, EmulatorConfig
from ._core import Core
from ._exceptions import EmulatorError, UnknownVaultError
from ._faults import Fault, Outage
from ._seed import SeedSecret, SeedSource

_T = TypeVar("_T")
_CALL_TIMEOUT_S = 30.0


class Emulator:
    """A local Key Vault (secrets API) with a managed-identity endpoint and an admin API.

    ``with Emulator() as emu:`` starts it on a background thread and returns once every port
    listens; leaving the block stops it and joins the thread. Methods are thread-safe.
    """

    def __init__(
        self,
        vaults: Sequence[str] = DEFAULTS.vaults,
        seed: SeedSource = DEFAULTS.seed,
        cert_dir: str | None = DEFAULTS.cert_dir,
        host: str = DEFAULTS.host,
        port: int = DEFAULTS.port,
        admin_port: int = DEFAULTS.admin_port,
        tenant_id: str = DEFAULTS.tenant_id,
        *,
        identity_port: int = DEFAULTS.identity_port,
        random_seed: int | None = DEFAULTS.random_seed,
        api_versions: Sequence[str] | None = DEFAULTS.api_versions,
    ) -> None:
        self.config = EmulatorConfig(
            tuple(vaults), seed, cert_dir, host, port, admin_port, identity_port, tenant_id,
            random_seed, tuple(api_versions) if api_versions is not None else None,
        )  # fmt: skip
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._core: Core | None = None
        self._temp_dir: Path | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Start serving; returns when ready, raises what went wrong otherwise."""
        if self._thread is not None:
            raise EmulatorError("the emulator is already running")
        if self.config.cert_dir is None:
            self._temp_dir = cert_dir = Path(tempfile.mkdtemp(prefix="akv-emulator-"))
        else:
            cert_dir = Path(self.config.cert_dir)
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(cert_dir, ready), name="akv-emulator", daemon=True
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._join()
            raise
        return self

    def _run(self, cert_dir: Path, ready: Future[None]) -> None:
        asyncio.run(self._serve(cert_dir, ready))

    async def _serve(self, cert_dir: Path, ready: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            core = Core(self.config, cert_dir)
        except BaseException as exc:
            ready.set_exception(exc)
            return
        try:
            await core.start()
        except BaseException as exc:
            await core.stop()
            ready.set_exception(exc)
            return
        self._core = core
        ready.set_result(None)
        await self._stopping.wait()
        await core.stop()

    def stop(self) -> None:
        """Stop serving, close every socket and join the thread; safe to call twice."""
        if self._loop is not None and self._stopping is not None and self._core is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread = self._loop = self._stopping = self._core = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- running on the emulator's loop --------------------------------------------------------
    def _running(self) -> tuple[asyncio.AbstractEventLoop, Core]:
        if self._loop is None or self._core is None:
            raise EmulatorError("the emulator is not running; use `with Emulator() as emu:`")
        return self._loop, self._core

    def _await(self, make: Callable[[Core], Coroutine[Any, Any, _T]]) -> _T:
        loop, core = self._running()
        return asyncio.run_coroutine_threadsafe(make(core), loop).result(_CALL_TIMEOUT_S)

    def _call(self, action: Callable[[Core], _T]) -> _T:
        async def run(core: Core) -> _T:
            return action(core)

        return self._await(run)

    # -- addresses ---------------------------------------------------------------------------
    @property
    def info(self) -> dict[str, Any]:
        """The JSON the CLI prints: vaults, ca_file, admin_url, identity_endpoint/_header."""
        return self._running()[1].info

    def vault_url(self, vault: str | None = None) -> str:
        """https://host:port of a vault (the first one by default)."""
        urls: dict[str, str] = self.info["vaults"]
        name = vault or self.config.vaults[0]
        if name not in urls:
            raise UnknownVaultError(name)
        return urls[name]

    @property
    def ca_file(self) -> str:
        return str(self.info["ca_file"])

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting only the emulator's CA (for httpx, aiohttp, ...)."""
        return ssl.create_default_context(cafile=self.ca_file)

    @property
    def admin_url(self) -> str:
        return str(self.info["admin_url"])

    @property
    def identity_endpoint(self) -> str:
        return str(self.info["identity_endpoint"])

    @property
    def identity_header(self) -> str:
        return str(self.info["identity_header"])

    def identity_env(self) -> dict[str, str]:
        """Environment variables that point azure-identity's managed identity here."""
        info = self.info
        return {
            "IDENTITY_ENDPOINT": info["identity_endpoint"],
            "IDENTITY_HEADER": info["identity_header"],
        }

    # -- secrets -----------------------------------------------------------------------------
    def set_secret(
        self,
        vault: str,
        name: str,
        value: str,
        content_type: str | None = None,
        enabled: bool = True,
        tags: Mapping[str, str] | None = None,
        exp: int | None = None,
        nbf: int | None = None,
    ) -> str:
        """Add a version without going through HTTP; returns the new version id."""
        spec = SeedSecret(name, value, content_type, enabled, tags, exp, nbf)
        return self._call(lambda core: core.set_secret(vault, spec).version)

    def get_value(self, vault: str, name: str, version: str | None = None) -> str:
        """The value of the latest (or given) version, enabled or not, for assertions."""
        return self._call(lambda core: core.store(vault).peek(name, version).value)

    def set_enabled(self, vault: str, name: str, enabled: bool, version: str | None = None) -> None:
        """Enable or disable the latest (or given) version."""
        self._call(lambda core: core.store(vault).update(name, version, {"enabled": enabled}))

    def delete_secret(self, vault: str, name: str, *, purge: bool = False) -> None:
        """Soft-delete a secret; purge=True also forgets it so the name can be reused."""

        def delete(core: Core) -> None:
            core.store(vault).delete(name)
            if purge:
                core.store(vault).purge(name)

        self._call(delete)

    # -- faults and counters -------------------------------------------------------------------
    def inject(
        self,
        vault: str | None = None,
        secret: str | None = None,
        latency: float | tuple[float, float] | None = None,
        outage: Outage | None = None,
        error_rate: float | None = None,
        throttle: tuple[int, float] | None = None,
        retry_after: int | str | None = None,
        hang: bool = False,
        status: int | None = None,
        malformed: bool = False,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Add or override faults for a vault (the first by default) or one of its secrets."""
        fault = Fault(
            latency, outage, error_rate, throttle, retry_after, hang, status, code, malformed,
            message,
        )  # fmt: skip
        target = vault or self.config.vaults[0]
        self._await(lambda core: core.inject(target, secret, fault))

    def rotate_certificates(self) -> None:
        """A new CA and server certificate, as when a private endpoint's certificate is rotated:
        ``ca_file`` then holds the new CA, open connections are dropped and new handshakes
        present the new certificate."""
        self._call(lambda core: core.rotate_certificates())

    def clear_faults(self, vault: str | None = None) -> None:
        """Remove the faults of one vault (or all), reopen refused ports, release hangs."""
        self._await(lambda core: core.clear_faults(vault))

    def fail_identity(self, status: int | None = 500, *, refuse: bool = False) -> None:
        """Make the token endpoint answer status (None: work again) or refuse connections."""
        self._await(lambda core: core.fail_identity(status, refuse))

    def calls(
        self,
        vault: str | None = None,
        op: str | None = None,
        secret: str | None = None,
        status: int | None = None,
    ) -> int:
        """Requests matching every filter. ops: get, set, list, list_versions, update, delete,
        get_deleted, list_deleted, purge, recover, challenge (unauthenticated, 401) and, for
        vault "identity", token."""
        return self._call(lambda core: core.counters.count(vault, op, secret, status))

    def reset_counters(self) -> None:
        self._call(lambda core: core.counters.reset())
