"""The running emulator: vaults, identity endpoint and admin API, living on one event loop."""

from __future__ import annotations

import random
import secrets
from pathlib import Path
from typing import Any

from ._admin import admin_app
from ._config import EmulatorConfig
from ._counters import Counters
from ._exceptions import UnknownVaultError
from ._faults import Fault, FaultBook
from ._identity import TOKEN_PATH, VAULT_RESOURCE, IdentitySwitch, TokenBook, identity_app
from ._seed import SeedSecret, load_seed
from ._server import Listener
from ._store import SecretVersion, VaultStore
from ._tls import write_certificates
from ._vault_api import VaultContext, vault_app


class Core:
    """State and operations of a running emulator; touch it only from its loop."""

    def __init__(self, config: EmulatorConfig, cert_dir: Path) -> None:
        seeded = load_seed(config.seed, config.vaults)
        self.config = config
        self._cert_dir = cert_dir
        self.tls = write_certificates(cert_dir)
        self.identity_header = secrets.token_urlsafe(24)
        self.counters = Counters()
        self.tokens = TokenBook()
        self.identity_switch = IdentitySwitch()
        # Faults need repeatable draws (random_seed), not unpredictable ones.
        self.faults = FaultBook(random.Random(config.random_seed))  # noqa: S311
        self.stores = {name: VaultStore() for name in config.vaults}
        for vault, secret_specs in seeded.items():
            for spec in secret_specs:
                self.set_secret(vault, spec)
        challenge = (
            f'Bearer authorization="https://login.microsoftonline.com/{config.tenant_id}", '
            f'resource="{VAULT_RESOURCE}"'
        )
        server_context = self._server_context = self.tls.server_context()
        self.contexts: dict[str, VaultContext] = {}
        self.vault_listeners: dict[str, Listener] = {}
        for index, name in enumerate(config.vaults):
            vault_context = VaultContext(
                name, self.stores[name], self.faults, self.counters, self.tokens, challenge,
                api_versions=config.api_versions,
            )  # fmt: skip
            port = config.port + index if config.port else 0
            self.contexts[name] = vault_context
            self.vault_listeners[name] = Listener(
                vault_app(vault_context), config.host, port, server_context
            )
        self.identity_listener = Listener(
            identity_app(self.identity_header, self.tokens, self.identity_switch, self.counters),
            config.host,
            config.identity_port,
            None,
        )
        self.admin_listener = Listener(admin_app(self), config.host, config.admin_port, None)

    def _listeners(self) -> list[Listener]:
        return [*self.vault_listeners.values(), self.identity_listener, self.admin_listener]

    async def start(self) -> None:
        for listener in self._listeners():
            await listener.start()
        for name, listener in self.vault_listeners.items():
            self.contexts[name].base_url = listener.url

    async def stop(self) -> None:
        self.faults.release_all()
        for listener in self._listeners():
            await listener.close()

    @property
    def identity_endpoint(self) -> str:
        return self.identity_listener.url + TOKEN_PATH

    @property
    def info(self) -> dict[str, Any]:
        """What the CLI prints: vault URLs, CA file, admin URL, identity endpoint and header."""
        return {
            "vaults": {name: listener.url for name, listener in self.vault_listeners.items()},
            "ca_file": str(self.tls.ca_file),
            "admin_url": self.admin_listener.url,
            "identity_endpoint": self.identity_endpoint,
            "identity_header": self.identity_header,
        }

    def store(self, vault: str) -> VaultStore:
        try:
            return self.stores[vault]
        except KeyError:
            raise UnknownVaultError(vault) from None

    def set_secret(self, vault: str, spec: SeedSecret) -> SecretVersion:
        return self.store(vault).set(
            spec.name,
            spec.value,
            content_type=spec.content_type,
            enabled=spec.enabled,
            tags=spec.tags,
            exp=spec.exp,
            nbf=spec.nbf,
        )

    async def inject(self, vault: str, secret: str | None, fault: Fault) -> None:
        self.store(vault)
        merged = self.faults.inject(vault, secret, fault)
        if merged.outage == "refuse" and secret is None:
            await self.vault_listeners[vault].pause()

    async def clear_faults(self, vault: str | None = None) -> None:
        if vault is not None:
            self.store(vault)
        self.faults.clear(vault)
        for name, listener in self.vault_listeners.items():
            if vault in (None, name):
                await listener.resume()

    def rotate_certificates(self) -> None:
        """New CA and server certificate files; new handshakes on every vault port present the
        new certificate (the same server context, reloaded), open connections are dropped."""
        self.tls = write_certificates(self._cert_dir)
        self._server_context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        for listener in self.vault_listeners.values():
            listener.drop_connections()

    async def fail_identity(self, status: int | None, refuse: bool) -> None:
        self.identity_switch.fail_status = status
        if refuse:
            await self.identity_listener.pause()
        else:
            await self.identity_listener.resume()
