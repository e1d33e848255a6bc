"""`AzureADLS`: an ADLS Gen2 container, its credentials from Key Vault through the sidecar."""

from __future__ import annotations

import posixpath
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._client import SidecarClient, shared_client
from ._deadline import Deadline
from ._exceptions import RateLimited, SidecarTimeout

__all__ = ["AUTH_MODES", "AzureADLS"]

AUTH_MODES = ("key_vault", "direct_key", "sas_token", "service_principal", "managed_identity")
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_ABFS = "org.apache.hadoop.fs.azurebfs"


class AzureADLS:
    """An ADLS Gen2 connection. Auth modes:

    key_vault          the storage account key, from Key Vault `key_vault_name`/`secret_name`
    direct_key         `account_key` as given
    sas_token          `sas_token` as given, or from Key Vault
    service_principal  `tenant_id` + `client_id`, client secret given or from Key Vault
    managed_identity   the compute's identity (`client_id` picks a user-assigned one)

    Values from Key Vault are fetched once, cached per connection and shared by every thread.
    `endpoint` overrides the storage endpoint for delta-rs, e.g. Azurite's
    http://127.0.0.1:10000/devstoreaccount1.
    """

    def __init__(
        self,
        account: str,
        container: str,
        path_prefix: str = "",
        auth_mode: str = "key_vault",
        key_vault_name: str | None = None,
        secret_name: str | None = None,
        account_key: str | None = None,
        sas_token: str | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        validate: bool = True,
        *,
        name: str | None = None,
        endpoint: str | None = None,
        sidecar: SidecarClient | None = None,
    ) -> None:
        self.account = account
        self.container = container
        self.path_prefix = path_prefix.strip("/")
        self.auth_mode = auth_mode
        self.key_vault_name = key_vault_name
        self.secret_name = secret_name
        self.account_key = account_key
        self.sas_token = sas_token
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.name = name or f"{account}/{container}"
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self._sidecar = sidecar
        self._lock = threading.Lock()
        self._cached: str | None = None
        if validate:
            self.validate()

    def __repr__(self) -> str:
        return (
            f"AzureADLS(name={self.name!r}, account={self.account!r}, "
            f"container={self.container!r}, auth_mode={self.auth_mode!r})"
        )

    def validate(self) -> None:
        """Raise ValueError naming the connection and the field that is missing or malformed."""
        if not _ACCOUNT.fullmatch(self.account or ""):
            self._invalid("account", "must be 3-24 lowercase letters and digits", self.account)
        if not _CONTAINER.fullmatch(self.container or ""):
            self._invalid(
                "container",
                "must be 3-63 lowercase letters, digits and single hyphens",
                self.container,
            )
        if self.auth_mode not in AUTH_MODES:
            self._invalid("auth_mode", f"must be one of {', '.join(AUTH_MODES)}", self.auth_mode)
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            self._invalid("endpoint", "must start with http:// or https://", self.endpoint)
        from_vault = bool(self.key_vault_name and self.secret_name)
        if self.auth_mode == "key_vault":
            self._require("key_vault_name", "secret_name")
        elif self.auth_mode == "direct_key":
            self._require("account_key")
        elif self.auth_mode == "sas_token" and not from_vault:
            self._require("sas_token")
        elif self.auth_mode == "service_principal":
            self._require("tenant_id", "client_id")
            if not from_vault:
                self._require("client_secret")

    def _require(self, *fields: str) -> None:
        for field in fields:
            if not getattr(self, field):
                raise ValueError(
                    f"ADLS connection '{self.name}': auth_mode '{self.auth_mode}' requires "
                    f"'{field}'."
                )

    def _invalid(self, field: str, rule: str, value: object) -> None:
        raise ValueError(f"ADLS connection '{self.name}': '{field}' {rule}, got {value!r}.")

    @property
    def secret_ref(self) -> tuple[str, str] | None:
        """The Key Vault `(vault, secret)` this connection reads, or None."""
        if not (self.key_vault_name and self.secret_name):
            return None
        needs_vault = (
            self.auth_mode == "key_vault"
            or (self.auth_mode == "sas_token" and not self.sas_token)
            or (self.auth_mode == "service_principal" and not self.client_secret)
        )
        return (self.key_vault_name, self.secret_name) if needs_vault else None

    @property
    def sidecar(self) -> SidecarClient:
        return self._sidecar or shared_client()

    def prime(self, value: str) -> None:
        """Cache a value fetched elsewhere (e.g. one batch request for many connections)."""
        with self._lock:
            self._cached = value

    def get_storage_key(self, timeout: float = 30.0) -> str | None:
        """The account key (key_vault, direct_key) or SAS token (sas_token); None for other modes.

        Returns or raises within `timeout` (a TimeoutError naming the vault and secret), even when
        the sidecar or Key Vault hangs. Concurrent callers share one fetch.
        """
        if self.auth_mode == "direct_key":
            return self.account_key
        if self.auth_mode == "sas_token":
            return self._vault_value(timeout) if self.secret_ref else self.sas_token
        return self._vault_value(timeout) if self.auth_mode == "key_vault" else None

    def get_client_secret(self, timeout: float = 30.0) -> str | None:
        """The service principal's client secret, given or from Key Vault; None for other modes."""
        if self.auth_mode != "service_principal":
            return None
        return self.client_secret or self._vault_value(timeout)

    def invalidate(self, timeout: float = 30.0) -> None:
        """Refetch the Key Vault value through the sidecar's refresh endpoint (e.g. after a 403).

        When the secret was refreshed moments ago (the sidecar allows one refresh per 10 s), the
        value it now serves is used.
        """
        ref = self.secret_ref
        if ref is None:
            return
        deadline = Deadline(timeout)
        with self._locked(ref, deadline):
            self._cached = None
            try:
                secret = self.sidecar.refresh_secret(*ref, timeout=deadline.remaining())
            except RateLimited:
                secret = self.sidecar.get_secret(*ref, timeout=deadline.remaining())
            self._cached = secret.value

    def _vault_value(self, timeout: float) -> str:
        cached = self._cached
        if cached is not None:
            return cached
        ref = self.secret_ref
        assert ref is not None, "validate() guarantees a Key Vault reference for this mode"
        deadline = Deadline(timeout)
        with self._locked(ref, deadline):
            if self._cached is None:
                secret = self.sidecar.get_secret(*ref, timeout=deadline.remaining())
                self._cached = secret.value
            return self._cached

    @contextmanager
    def _locked(self, ref: tuple[str, str], deadline: Deadline) -> Iterator[None]:
        """Hold the fetch lock, waiting no longer than the deadline (`with lock` cannot)."""
        if not self._lock.acquire(timeout=deadline.remaining()):
            raise SidecarTimeout(
                *ref, detail=f"another thread's fetch did not finish within {deadline.timeout:g}s"
            )
        try:
            yield
        finally:
            self._lock.release()

    def uri(self, path: str = "") -> str:
        """abfss://<container>@<account>.dfs.core.windows.net/<prefix>/<path>"""
        full = posixpath.join(self.path_prefix, path.lstrip("/")) if self.path_prefix else path
        return f"abfss://{self.container}@{self.account}.dfs.core.windows.net/{full.lstrip('/')}"

    def spark_conf(self) -> dict[str, str]:
        """The account-scoped fs.azure.* settings of the ABFS driver for this auth mode."""
        host = f"{self.account}.dfs.core.windows.net"
        if self.auth_mode in ("key_vault", "direct_key"):
            return {
                f"fs.azure.account.auth.type.{host}": "SharedKey",
                f"fs.azure.account.key.{host}": _str(self.get_storage_key()),
            }
        if self.auth_mode == "sas_token":
            return {
                f"fs.azure.account.auth.type.{host}": "SAS",
                f"fs.azure.sas.token.provider.type.{host}": f"{_ABFS}.sas.FixedSASTokenProvider",
                f"fs.azure.sas.fixed.token.{host}": _str(self.get_storage_key()).lstrip("?"),
            }
        conf = {f"fs.azure.account.auth.type.{host}": "OAuth"}
        if self.auth_mode == "service_principal":
            return conf | {
                f"fs.azure.account.oauth.provider.type.{host}": (
                    f"{_ABFS}.oauth2.ClientCredsTokenProvider"
                ),
                f"fs.azure.account.oauth2.client.id.{host}": _str(self.client_id),
                f"fs.azure.account.oauth2.client.secret.{host}": _str(self.get_client_secret()),
                f"fs.azure.account.oauth2.client.endpoint.{host}": (
                    f"https://login.microsoftonline.com/{self.tenant_id}/oauth2/token"
                ),
            }
        conf[f"fs.azure.account.oauth.provider.type.{host}"] = f"{_ABFS}.oauth2.MsiTokenProvider"
        if self.client_id:
            conf[f"fs.azure.account.oauth2.client.id.{host}"] = self.client_id
        if self.tenant_id:
            conf[f"fs.azure.account.oauth2.msi.tenant.{host}"] = self.tenant_id
        return conf

    def configure_spark(self, spark: Any) -> None:
        """Apply spark_conf() to the session and to its Hadoop configuration (where ABFS reads)."""
        settings = self.spark_conf()
        jsc = getattr(spark, "_jsc", None)  # absent on Spark Connect, where the session conf is all
        for key, value in settings.items():
            spark.conf.set(key, value)
            if jsc is not None:
                jsc.hadoopConfiguration().set(key, value)

    def storage_options(self) -> dict[str, str]:
        """delta-rs / object_store options for this auth mode."""
        options = {"account_name": self.account}
        if self.endpoint:
            options["endpoint"] = self.endpoint
            if self.endpoint.startswith("http://"):
                options["allow_http"] = "true"
        if self.auth_mode in ("key_vault", "direct_key"):
            options["account_key"] = _str(self.get_storage_key())
        elif self.auth_mode == "sas_token":
            options["sas_token"] = _str(self.get_storage_key()).lstrip("?")
        elif self.auth_mode == "service_principal":
            options["tenant_id"] = _str(self.tenant_id)
            options["client_id"] = _str(self.client_id)
            options["client_secret"] = _str(self.get_client_secret())
        elif self.client_id:  # managed identity: object_store's default credential
            options["client_id"] = self.client_id
        return options

    def pandas_storage_options(self) -> dict[str, Any]:
        """adlfs/fsspec options, as odibi gave them."""
        options: dict[str, Any] = {"account_name": self.account}
        if self.auth_mode in ("key_vault", "direct_key"):
            return options | {"account_key": self.get_storage_key()}
        if self.auth_mode == "sas_token":
            return options | {"sas_token": _str(self.get_storage_key()).lstrip("?")}
        if self.auth_mode == "service_principal":
            return options | {
                "tenant_id": self.tenant_id,
                "client_id": self.client_id,
                "client_secret": self.get_client_secret(),
            }
        return options | {"anon": False}


def _str(value: str | None) -> str:
    return value or ""
