"""The configuration: small frozen dataclasses, every default and allowed range in one place.

Each field carries its parser in its metadata; ``_loading`` walks these dataclasses to turn YAML
and environment variables into a ``Config`` with errors that name the key and where it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AuthConfig",
    "CacheConfig",
    "Config",
    "CredentialConfig",
    "EventsConfig",
    "LimitsConfig",
    "ListenConfig",
    "MetricsConfig",
    "TlsConfig",
    "TokenConfig",
    "UpstreamConfig",
    "VaultConfig",
]

# \Z, not $: "$" also matches before a final newline, which a %0A in a path would be.
VAULT_NAME = re.compile(r"^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]\Z")
SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}\Z")
VERSION = re.compile(r"^[0-9a-fA-F]{32}\Z")
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

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class Invalid(ValueError):
    """A value is not allowed; the message says what is (``_loading`` adds key and source)."""


Parser = Callable[[Any], Any]


def duration(low: float, high: float) -> Parser:
    """Seconds given as 30s, 5m, 24h, 100ms, 1d or a plain number, within [low, high]."""
    wanted = f"a duration such as 30s, 5m, 24h or a number of seconds, from {low:g} s to {high:g} s"

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise Invalid(f"Expected {wanted}.")
        if isinstance(value, int | float):
            seconds = float(value)
        else:
            match = _DURATION.match(str(value))
            if match is None:
                raise Invalid(f"Expected {wanted}.")
            seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
        if not low <= seconds <= high:
            raise Invalid(f"Expected {wanted}.")
        return seconds

    return parse


def integer(low: int, high: int) -> Parser:
    """A whole number within [low, high]."""

    def parse(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid(f"Expected a whole number from {low} to {high}.")
        return value

    return parse


def fraction(value: Any) -> float:
    """A number from 0 to 1."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise Invalid("Expected a number from 0 to 1.")
    return number


def boolean(value: Any) -> bool:
    """true/false (yes/no, on/off and 1/0 are accepted from environment variables)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid("Expected true or false.")


def text(pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> Parser:
    """A non-empty string, optionally one of ``choices`` or matching ``pattern``."""

    def parse(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
            raise Invalid(_text_expectation(pattern, choices))
        result = str(value)
        if choices and result.lower() not in choices:
            raise Invalid(_text_expectation(pattern, choices))
        if pattern is not None and not pattern.match(result):
            raise Invalid(_text_expectation(pattern, choices))
        return result.lower() if choices else result

    return parse


def _text_expectation(pattern: re.Pattern[str] | None, choices: tuple[str, ...]) -> str:
    if choices:
        return f"Expected one of: {', '.join(choices)}."
    if pattern is VAULT_NAME:
        return (
            "Expected a Key Vault name: 3-24 letters, digits and single hyphens, "
            "starting with a letter."
        )
    if pattern is SECRET_NAME:
        return "Expected a secret name: 1-127 letters, digits and hyphens (or '*')."
    return "Expected a non-empty string."


def strings(item: Parser) -> Parser:
    """A list of strings (a comma-separated string is accepted from environment variables)."""

    def parse(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise Invalid("Expected a list of strings.")
        return tuple(item(element) for element in value)

    return parse


def secret_pattern(value: Any) -> str:
    """A secret name or ``*`` (every enabled secret of the vault)."""
    return "*" if value == "*" else text(SECRET_NAME)(value)


def setting(default: Any, parse: Parser) -> Any:
    """A field with a default and its parser (the single place defaults live)."""
    return field(default=default, metadata={"parse": parse})


def required(parse: Parser) -> Any:
    """A field that must be given."""
    return field(metadata={"parse": parse})


def nested(cls: type, *, many: bool = False) -> dict[str, Any]:
    """Field metadata for a nested mapping (or, with ``many``, a list of mappings) of ``cls``."""
    return {"section": cls, "many": many}


def file_mode(value: Any) -> int:
    """Unix permissions as an octal string ("0660") or a number."""
    try:
        mode = int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        mode = -1
    if isinstance(value, bool) or not 0 <= mode <= 0o777:
        raise Invalid('Expected octal permissions such as "0660".')
    return mode


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


@dataclass(frozen=True)
class LimitsConfig:
    max_body_bytes: int = setting(65536, integer(256, 16 * 1024 * 1024))
    max_batch: int = setting(100, integer(1, 10_000))
    max_header_bytes: int = setting(16384, integer(1024, 1024 * 1024))
    max_headers: int = setting(64, integer(8, 1024))
    max_concurrency: int = setting(512, integer(1, 100_000))
    max_connections: int = setting(1024, integer(1, 100_000))
    forwarded_for: str = setting("reject", text(choices=FORWARDED_FOR))
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
    log_level: str = setting("info", text(choices=LOG_LEVELS))
    log_format: str = setting("json", text(choices=LOG_FORMATS))
    source: str = field(default="<dict>", metadata={"internal": True})
