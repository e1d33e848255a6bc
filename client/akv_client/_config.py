"""Client settings: small frozen dataclasses, every default here, environment read in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ClientConfig", "FallbackConfig", "WorkloadIdentity"]

DEFAULT_URL = "http://127.0.0.1:8787"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
ENV_URL = "AKV_SIDECAR_URL"
ENV_TOKEN = "AKV_SIDECAR_TOKEN"  # noqa: S105 - the variable's name, not a token
ENV_TOKEN_FILE = "AKV_SIDECAR_TOKEN_FILE"  # noqa: S105
ENV_FALLBACK = "AKV_SIDECAR_FALLBACK"
ENV_FALLBACK_VAULT_URLS = "AKV_SIDECAR_FALLBACK_VAULT_URLS"
ENV_FALLBACK_CA_FILE = "AKV_SIDECAR_FALLBACK_CA_FILE"
# What AKS's workload identity webhook sets in a pod, and where it mounts the token by default.
ENV_WORKLOAD = ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID")
AKS_TOKEN_FILE = "/var/run/secrets/azure/tokens/azure-identity-token"  # noqa: S105 - a path


@dataclass(frozen=True)
class FallbackConfig:
    """Reading Key Vault directly when the sidecar is unreachable (AKV_SIDECAR_FALLBACK=direct).

    `vault_urls` maps a vault name to its URL when it is not https://<name>.vault.azure.net
    (AKV_SIDECAR_FALLBACK_VAULT_URLS="kv1=https://127.0.0.1:8443,kv2=..."); `ca_file` is an extra
    CA to trust (AKV_SIDECAR_FALLBACK_CA_FILE).
    """

    enabled: bool = False
    vault_urls: Mapping[str, str] = field(default_factory=dict)
    ca_file: str | None = None

    def vault_url(self, vault: str) -> str:
        return self.vault_urls.get(vault, f"https://{vault}.vault.azure.net")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FallbackConfig:
        env = os.environ if env is None else env
        mode = env.get(ENV_FALLBACK, "").strip().lower()
        if mode not in ("", "off", "direct"):
            raise ValueError(
                f"{ENV_FALLBACK}={mode!r} is not allowed: use 'direct' or leave it unset."
            )
        urls: dict[str, str] = {}
        for item in filter(None, env.get(ENV_FALLBACK_VAULT_URLS, "").split(",")):
            vault, sep, url = item.partition("=")
            if not sep or not vault.strip() or not url.strip():
                raise ValueError(
                    f"{ENV_FALLBACK_VAULT_URLS} has {item!r}: expected '<vault>=<https url>' items "
                    "separated by commas."
                )
            urls[vault.strip()] = url.strip()
        return cls(
            enabled=mode == "direct", vault_urls=urls, ca_file=env.get(ENV_FALLBACK_CA_FILE) or None
        )


@dataclass(frozen=True)
class WorkloadIdentity:
    """AKS workload identity: the federated token file in the pod, and the app it stands for.

    `authority` is AZURE_AUTHORITY_HOST (another cloud's login host), or "" for Azure's public one.
    """

    tenant_id: str
    client_id: str
    token_file: str = AKS_TOKEN_FILE
    authority: str = ""

    @classmethod
    def resolve(
        cls,
        identity: str | None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> WorkloadIdentity | None:
        """For identity "workload", these settings (the ids given first, then AZURE_TENANT_ID and
        AZURE_CLIENT_ID); "msi": None; None: workload when the webhook's three variables are set.
        """
        env = os.environ if env is None else env
        if identity == "msi" or (identity is None and not all(map(env.get, ENV_WORKLOAD))):
            return None
        return cls(
            tenant_id=tenant_id or env.get("AZURE_TENANT_ID", ""),
            client_id=client_id or env.get("AZURE_CLIENT_ID", ""),
            token_file=env.get("AZURE_FEDERATED_TOKEN_FILE") or AKS_TOKEN_FILE,
            authority=env.get("AZURE_AUTHORITY_HOST", ""),
        )


@dataclass(frozen=True)
class ClientConfig:
    """Where the sidecar is and how patient to be with it.

    `timeout` is the overall deadline of one call, retries and backoff included; `retries` is how
    many more attempts a connection error or a 502/503/504 gets; backoff is exponential with full
    jitter from `backoff_base` up to `backoff_max` seconds.
    """

    url: str = DEFAULT_URL
    token: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff_base: float = 0.05
    backoff_max: float = 2.0
    uds: str | None = None
    token_file: str | None = None  # where the token was read, for the JVM providers that reread it
    fallback: FallbackConfig = field(default_factory=FallbackConfig)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"Sidecar url {self.url!r} must start with http:// or https://.")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {self.timeout!r}.")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries!r}.")

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        uds: str | None = None,
        token_file: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Explicit arguments first, then AKV_SIDECAR_* environment variables, then defaults."""
        env = os.environ if env is None else env
        if not token and token_file:  # an explicit file beats the variables
            token = _read_token(token_file, "token_file")
        return cls(
            url=(url or env.get(ENV_URL) or DEFAULT_URL).rstrip("/"),
            token=token or _token_from_env(env),
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            retries=DEFAULT_RETRIES if retries is None else retries,
            uds=uds,
            token_file=token_file or env.get(ENV_TOKEN_FILE) or None,
            fallback=FallbackConfig.from_env(env),
        )


def _token_from_env(env: Mapping[str, str]) -> str | None:
    if env.get(ENV_TOKEN):
        return env[ENV_TOKEN].strip()
    path = env.get(ENV_TOKEN_FILE)
    return _read_token(path, ENV_TOKEN_FILE) if path else None


def _read_token(path: str, where: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"{where}={path!r} cannot be read ({exc.strerror}); check the path and its permissions."
        ) from None
