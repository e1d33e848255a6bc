"""The configuration: small frozen dataclasses, every default and allowed range in one place.

Each field carries its parser (``fields``) in its metadata; ``loading`` walks these dataclasses to
turn YAML and environment variables into a ``Config`` with errors that name the key and where it
came from.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from akv_sidecar.config.fields import (
    SECRET_NAME,
    STORAGE_ACCOUNT,
    VAULT_NAME,
    api_version,
    boolean,
    duration,
    file_mode,
    fraction,
    integer,
    nested,
    required,
    sas_permissions,
    secret_pattern,
    setting,
    strings,
    text,
)

__all__ = [
    "AuthConfig",
    "CacheConfig",
    "Config",
    "CredentialConfig",
    "EventsConfig",
    "LimitsConfig",
    "ListenConfig",
    "MetricsConfig",
    "SecretRef",
    "StorageAccountConfig",
    "StorageConfig",
    "TlsConfig",
    "TokenConfig",
    "TokensConfig",
    "UpstreamConfig",
    "VaultConfig",
]

CREDENTIAL_KINDS = (
    "default",
    "managed_identity",
    "workload_identity",
    "client_secret",
    "azure_cli",
)
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
FORWARDED_FOR = ("reject", "allow")


@dataclass(frozen=True)
class TlsConfig:
    cert_file: str | None = setting(None, text())
    key_file: str | None = setting(None, text())

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


@dataclass(frozen=True)
class ListenConfig:
    host: str = setting("127.0.0.1", text())
    port: int = setting(8787, integer(0, 65535))
    backlog: int = setting(2048, integer(1, 65535))
    shutdown_timeout: float = setting(10.0, duration(0, 3600))
    tls: TlsConfig = field(default_factory=TlsConfig, metadata=nested(TlsConfig))
    uds: str | None = setting(None, text())
    uds_mode: int = setting(0o660, file_mode)
    allow_plaintext_remote: bool = setting(False, boolean)


@dataclass(frozen=True)
class TokenConfig:
    name: str = required(text())
    token_file: str | None = setting(None, text())
    token_env: str | None = setting(None, text())
    allow: tuple[str, ...] = setting(("*",), strings(text()))
    # An operator's token: /v1/status shows it every secret, not only those its allow covers.
    admin: bool = setting(False, boolean)
    # The most a SAS from /v1/storage/sas may grant this caller ("rl": read-only); None: any.
    allow_permissions: str | None = setting(None, sas_permissions)


@dataclass(frozen=True)
class AuthConfig:
    tokens: tuple[TokenConfig, ...] = field(default=(), metadata=nested(TokenConfig, many=True))
    reload_interval: float = setting(5.0, duration(0.05, 3600))


@dataclass(frozen=True)
class VaultConfig:
    name: str = required(text(VAULT_NAME))
    url: str | None = setting(None, text())
    ca_file: str | None = setting(None, text())
    secrets: tuple[str, ...] = setting((), strings(secret_pattern))
    # None: the SDK's newest; Key Vaults that lag (Azure Stack Hub, sovereign clouds) need older.
    api_version: str | None = setting(None, api_version)

    @property
    def vault_url(self) -> str:
        return (self.url or f"https://{self.name}.vault.azure.net").rstrip("/")

    @property
    def lists_all(self) -> bool:
        """Whether ``secrets`` holds "*": every enabled secret the vault lists."""
        return "*" in self.secrets

    def names_with(self, listed: Iterable[str] = ()) -> list[str]:
        """The named secrets, then each listed one not among them (names ignore case)."""
        named = [name for name in self.secrets if name != "*"]
        known = {name.lower() for name in named}
        return named + [name for name in listed if name.lower() not in known]


@dataclass(frozen=True)
class CredentialConfig:
    kind: str = setting("default", text(choices=CREDENTIAL_KINDS))
    client_id: str | None = setting(None, text())
    tenant_id: str | None = setting(None, text())
    client_secret_file: str | None = setting(None, text())
    client_secret_env: str | None = setting(None, text())
    token_file: str | None = setting(None, text())


@dataclass(frozen=True)
class CacheConfig:
    refresh_interval: float = setting(300.0, duration(1, 7 * 86400))
    refresh_jitter: float = setting(0.1, fraction)
    max_stale: float = setting(86400.0, duration(0, 30 * 86400))
    on_demand: bool = setting(True, boolean)
    negative_ttl: float = setting(30.0, duration(0, 3600))
    backoff_base: float = setting(1.0, duration(0.001, 3600))
    backoff_max: float = setting(60.0, duration(0.001, 86400))
    manual_refresh_interval: float = setting(10.0, duration(0, 3600))
    max_versions: int = setting(1024, integer(0, 1_000_000))


@dataclass(frozen=True)
class UpstreamConfig:
    concurrency: int = setting(16, integer(1, 1024))
    timeout: float = setting(10.0, duration(0.01, 600))
    # How often each vault's ca_file is looked at for replacement (SIGHUP looks at once).
    ca_reload_interval: float = setting(5.0, duration(0.05, 3600))


@dataclass(frozen=True)
class LimitsConfig:
    max_body_bytes: int = setting(65536, integer(256, 16 * 1024 * 1024))
    max_batch: int = setting(100, integer(1, 10_000))
    max_header_bytes: int = setting(16384, integer(1024, 1024 * 1024))
    max_headers: int = setting(64, integer(8, 1024))
    max_concurrency: int = setting(512, integer(1, 100_000))
    max_connections: int = setting(1024, integer(1, 100_000))
    forwarded_for: str = setting("reject", text(choices=FORWARDED_FOR))
    # A connection must send a request's line and headers within header_timeout (from connecting,
    # or from the request's first byte), and may sit idle between requests for idle_timeout.
    header_timeout: float = setting(5.0, duration(0.05, 600))
    idle_timeout: float = setting(30.0, duration(0.05, 3600))
    # Key Vault calls a caller's reads may start, per second and in a burst (0: no budget). Well
    # under Key Vault's ~400/s per vault, so one caller cannot throttle the vault for everyone.
    upstream_rate: int = setting(20, integer(0, 10_000))
    upstream_burst: int = setting(50, integer(1, 100_000))


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = setting(True, boolean)
    require_token: bool = setting(False, boolean)
    host: str = setting("127.0.0.1", text())
    port: int | None = setting(None, integer(0, 65535))


@dataclass(frozen=True)
class EventsConfig:
    webhook_secret_file: str | None = setting(None, text())
    webhook_secret_env: str | None = setting(None, text())

    @property
    def enabled(self) -> bool:
        return self.webhook_secret_file is not None or self.webhook_secret_env is not None


@dataclass(frozen=True)
class SecretRef:
    vault: str = required(text(VAULT_NAME))
    secret: str = required(text(SECRET_NAME))


@dataclass(frozen=True)
class StorageAccountConfig:  # /v1/storage/sas signs for it with its key, a Key Vault secret
    key: SecretRef = field(metadata=nested(SecretRef))  # first: mypy takes required() as a default
    name: str = required(text(STORAGE_ACCOUNT))
    endpoint: str | None = setting(None, text())  # default https://<name>.blob.core.windows.net
    hns: bool = setting(False, boolean)  # ADLS Gen2 (hierarchical namespace): directory SAS
    max_ttl: float = setting(3600.0, duration(1, 7 * 86400))


@dataclass(frozen=True)
class StorageConfig:
    accounts: tuple[StorageAccountConfig, ...] = field(
        default=(), metadata=nested(StorageAccountConfig, many=True)
    )


@dataclass(frozen=True)
class TokensConfig:
    scopes: tuple[str, ...] = setting((), strings(text()))  # what /v1/tokens may mint


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``source`` says where it was read from (for error messages)."""

    auth: AuthConfig = field(default_factory=AuthConfig, metadata=nested(AuthConfig))
    vaults: tuple[VaultConfig, ...] = field(default=(), metadata=nested(VaultConfig, many=True))
    listen: ListenConfig = field(default_factory=ListenConfig, metadata=nested(ListenConfig))
    credential: CredentialConfig = field(
        default_factory=CredentialConfig, metadata=nested(CredentialConfig)
    )
    cache: CacheConfig = field(default_factory=CacheConfig, metadata=nested(CacheConfig))
    upstream: UpstreamConfig = field(
        default_factory=UpstreamConfig, metadata=nested(UpstreamConfig)
    )
    limits: LimitsConfig = field(default_factory=LimitsConfig, metadata=nested(LimitsConfig))
    metrics: MetricsConfig = field(default_factory=MetricsConfig, metadata=nested(MetricsConfig))
    events: EventsConfig = field(default_factory=EventsConfig, metadata=nested(EventsConfig))
    storage: StorageConfig = field(default_factory=StorageConfig, metadata=nested(StorageConfig))
    tokens: TokensConfig = field(default_factory=TokensConfig, metadata=nested(TokensConfig))
    log_level: str = setting("info", text(choices=LOG_LEVELS))
    log_format: str = setting("json", text(choices=LOG_FORMATS))
    source: str = field(default="<dict>", metadata={"internal": True})
