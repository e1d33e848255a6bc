"""`AzureADLS`: an ADLS Gen2 container, its credentials from Key Vault or vended by the sidecar."""

from __future__ import annotations

import posixpath
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._classpath import configure
from ._client import SidecarClient, shared_client
from ._config import WorkloadIdentity
from ._deadline import Deadline
from ._exceptions import RateLimited, SidecarTimeout
from ._providers import PROVIDER_MODE, PROVIDER_MODES, elsewhere, provider_conf, uri_scheme
from ._secret import AccessToken, VendedSas
from ._vending import SidecarTokenCredential, VendedCredential

__all__ = ["AUTH_MODES", "DEFAULT_ENDPOINT_SUFFIX", "IDENTITIES", "AzureADLS"]

_SAS = ("sidecar_sas", PROVIDER_MODE)
_VENDED = (*_SAS, "sidecar_token")
AUTH_MODES: tuple[str, ...] = ("key_vault", "direct_key", "sas_token", "service_principal")
AUTH_MODES += ("managed_identity", *_VENDED, *PROVIDER_MODES[1:])
IDENTITIES = ("workload", "msi")
DEFAULT_ENDPOINT_SUFFIX = "core.windows.net"
_ACCOUNT = re.compile(r"[a-z0-9]{3,24}")
_CONTAINER = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
_SUFFIX = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_ABFS = "org.apache.hadoop.fs.azurebfs"


class AzureADLS:
    """An ADLS Gen2 connection. Auth modes:

    key_vault          the storage account key, from Key Vault `key_vault_name`/`secret_name`
    direct_key         `account_key` as given
    sas_token          `sas_token` as given, or from Key Vault
    service_principal  `tenant_id` + `client_id`, client secret given or from Key Vault
    managed_identity   the compute's identity: `identity="workload"` (AKS workload identity: the
                       federated token file), `"msi"` (the VM's metadata endpoint) or None: workload
                       when AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID are set
    sidecar_sas        a SAS for the container, vended by the sidecar (`sas_permissions`, `sas_ttl`)
    sidecar_token      a Storage access token, vended by the sidecar (not for Spark)
    sidecar_sas_provider, sidecar_token_provider, sidecar_key_provider  Spark's ABFS asks the
                       sidecar for a SAS, a token or the key itself (akv-sidecar-hadoop: no secret
                       in the conf; `hns`); elsewhere as sidecar_sas, sidecar_token, key_vault

    Values from Key Vault are fetched once, cached per connection and shared by every thread;
    vended credentials are cached too and renewed once less than a third of their life is left.
    `endpoint_suffix` names another cloud (e.g. core.chinacloudapi.cn); `endpoint` overrides the
    storage endpoint for delta-rs, e.g. Azurite's http://127.0.0.1:10000/devstoreaccount1.
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
        endpoint_suffix: str = DEFAULT_ENDPOINT_SUFFIX,
        identity: str | None = None,
        sas_permissions: str = "rl",
        sas_ttl: float | None = None,
        sidecar: SidecarClient | None = None,
        hns: bool = False,
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
        self.endpoint_suffix = (endpoint_suffix or "").strip(".").lower()
        self.identity = identity
        self.sas_permissions = sas_permissions
        self.sas_ttl = sas_ttl
        self._sidecar = sidecar
        self.hns = hns
        self._lock = threading.Lock()
        self._cached: str | None = None
        self._vended: VendedCredential | None = None
        if elsewhere(auth_mode) in _VENDED:
            what = "an access token" if elsewhere(auth_mode) == "sidecar_token" else "a SAS"
            self._vended = VendedCredential(self._vend, f"{what} for ADLS connection '{self.name}'")
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
            rule = "must be 3-63 lowercase letters, digits and single hyphens"
            self._invalid("container", rule, self.container)
        if self.auth_mode not in AUTH_MODES:
            self._invalid("auth_mode", f"must be one of {', '.join(AUTH_MODES)}", self.auth_mode)
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            self._invalid("endpoint", "must start with http:// or https://", self.endpoint)
        if not _SUFFIX.fullmatch(self.endpoint_suffix):
            rule = "must be a DNS suffix such as core.windows.net"
            self._invalid("endpoint_suffix", rule, self.endpoint_suffix)
        if self.identity is not None and self.identity not in IDENTITIES:
            self._invalid("identity", "must be 'workload', 'msi' or None (auto)", self.identity)
        if self.identity is not None and self.auth_mode != "managed_identity":
            self._invalid("identity", "applies to auth_mode 'managed_identity' only", self.identity)
        if not re.fullmatch(r"[a-z]+", self.sas_permissions or ""):
            rule = "must be letters such as 'rl' or 'racwdl'"
            self._invalid("sas_permissions", rule, self.sas_permissions)
        from_vault = bool(self.key_vault_name and self.secret_name)
        if elsewhere(self.auth_mode) == "key_vault":
            self._require("key_vault_name", "secret_name")
        elif self.auth_mode == "direct_key":
            self._require("account_key")
        elif self.auth_mode == "sas_token" and not from_vault:
            self._require("sas_token")
        elif self.auth_mode == "service_principal":
            self._require("tenant_id", "client_id")
            if not from_vault:
                self._require("client_secret")
        elif self.identity == "workload":
            workload = self._workload()
            for field in ("tenant_id", "client_id"):
                if not (workload and getattr(workload, field)):
                    raise ValueError(
                        f"ADLS connection '{self.name}': identity 'workload' requires "
                        f"'{field}' (or AZURE_{field.upper()} in the environment)."
                    )

    def _require(self, *fields: str) -> None:
        for field in fields:
            if not getattr(self, field):
                raise ValueError(
                    f"ADLS connection '{self.name}': auth_mode '{self.auth_mode}' requires "
                    f"'{field}'."
                )

    def _invalid(self, field: str, rule: str, value: object) -> None:
        got = f", got {value!r}" if value else ""
        raise ValueError(f"ADLS connection '{self.name}': '{field}' {rule}{got}.")

    @property
    def secret_ref(self) -> tuple[str, str] | None:
        """The Key Vault `(vault, secret)` this connection reads, or None."""
        if not (self.key_vault_name and self.secret_name):
            return None
        needs_vault = (
            elsewhere(self.auth_mode) == "key_vault"
            or (self.auth_mode == "sas_token" and not self.sas_token)
            or (self.auth_mode == "service_principal" and not self.client_secret)
        )
        return (self.key_vault_name, self.secret_name) if needs_vault else None

    @property
    def sidecar(self) -> SidecarClient:
        return self._sidecar or shared_client()

    @property
    def host(self) -> str:
        """The account's DFS host, as ABFS names it: `<account>.dfs.<endpoint_suffix>`."""
        return f"{self.account}.dfs.{self.endpoint_suffix}"

    def prime(self, value: str) -> None:
        """Cache a value fetched elsewhere (e.g. one batch request for many connections)."""
        with self._lock:
            self._cached = value

    def get_storage_key(self, timeout: float = 30.0) -> str | None:
        """The account key (key_vault, direct_key) or SAS (sas_token, sidecar_sas), else None.

        Returns or raises within `timeout` (a TimeoutError naming the vault and secret), even when
        the sidecar or Key Vault hangs. Concurrent callers share one fetch.
        """
        if self.auth_mode == "direct_key":
            return self.account_key
        if self.auth_mode == "sas_token":
            return self._vault_value(timeout) if self.secret_ref else self.sas_token
        if self.auth_mode in _SAS:
            return self._vended_text(timeout)
        return self._vault_value(timeout) if elsewhere(self.auth_mode) == "key_vault" else None

    def get_client_secret(self, timeout: float = 30.0) -> str | None:
        """The service principal's client secret, given or from Key Vault; None for other modes."""
        if self.auth_mode != "service_principal":
            return None
        return self.client_secret or self._vault_value(timeout)

    def get_vended(self, timeout: float = 30.0) -> VendedSas | AccessToken | None:
        """The SAS (sidecar_sas*) or access token (sidecar_token) the sidecar vended, else None:
        cached, shared by every thread, renewed once less than a third of its life is left (a
        failed renewal keeps the current one while it works)."""
        return self._vended.get(timeout) if self._vended is not None else None

    def _vend(self, timeout: float) -> VendedSas | AccessToken:
        if elsewhere(self.auth_mode) == "sidecar_token":
            return self.sidecar.get_token(timeout=timeout)
        scope = (self.account, self.container, None, self.sas_permissions, self.sas_ttl)
        return self.sidecar.get_sas(*scope, timeout=timeout)

    def _vended_text(self, timeout: float = 30.0) -> str:
        vended = self.get_vended(timeout)
        if isinstance(vended, AccessToken):
            return vended.token
        return vended.sas_token if vended is not None else ""

    def invalidate(self, timeout: float = 30.0) -> None:
        """Refetch the Key Vault value through the sidecar's refresh endpoint (e.g. after a 403);
        a vended SAS or token is dropped, and the next use vends a new one. When the secret was
        refreshed moments ago (the sidecar allows one refresh per 10 s), the value it now serves
        is used."""
        if self._vended is not None:
            self._vended.drop()
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

    def _workload(self) -> WorkloadIdentity | None:
        """The workload identity managed_identity uses, or None for the VM's metadata endpoint."""
        if self.auth_mode != "managed_identity":
            return None
        return WorkloadIdentity.resolve(self.identity, self.tenant_id, self.client_id)

    def uri(self, path: str = "") -> str:
        """abfss://<container>@<account>.dfs.<endpoint_suffix>/<prefix>/<path>, for Spark."""
        return f"{uri_scheme(self)}://{self.container}@{self.host}/{self._path(path)}"

    def object_store_uri(self, path: str = "") -> str:
        """abfss://<container>/<prefix>/<path>, for delta-rs with storage_options(): object_store
        reads `container@host` URIs only under dfs.core.windows.net, this form in every cloud."""
        return f"abfss://{self.container}/{self._path(path)}"

    def _path(self, path: str) -> str:
        full = posixpath.join(self.path_prefix, path.lstrip("/")) if self.path_prefix else path
        return full.lstrip("/")

    def spark_conf(self) -> dict[str, str]:
        """The account-scoped fs.azure.* settings of the ABFS driver for this auth mode."""
        mode = self.auth_mode
        if mode in PROVIDER_MODES:
            return provider_conf(self)
        if mode in ("key_vault", "direct_key"):
            key = self.get_storage_key() or ""
            return self._keyed({"account.auth.type": "SharedKey", "account.key": key})
        if mode in ("sas_token", "sidecar_sas"):
            # No provider type: hadoop-azure uses its own FixedSASTokenProvider for a fixed token
            # (a provider type set here would take precedence over it).
            token = (self.get_storage_key() or "").lstrip("?")
            return self._keyed({"account.auth.type": "SAS", "sas.fixed.token": token})
        if mode == "sidecar_token":
            raise ValueError(
                f"ADLS connection '{self.name}': auth_mode 'sidecar_token' has no Spark settings "
                "(hadoop-azure takes no bearer token): use sidecar_sas or managed_identity."
            )
        conf = {"account.auth.type": "OAuth"}
        provider = "account.oauth.provider.type"
        workload = self._workload()
        if mode == "service_principal":
            conf |= {
                provider: f"{_ABFS}.oauth2.ClientCredsTokenProvider",
                "account.oauth2.client.id": (self.client_id or ""),
                "account.oauth2.client.secret": (self.get_client_secret() or ""),
                "account.oauth2.client.endpoint": (
                    f"https://login.microsoftonline.com/{self.tenant_id}/oauth2/token"
                ),
            }
        elif workload is not None:
            conf |= {
                provider: f"{_ABFS}.oauth2.WorkloadIdentityTokenProvider",
                "account.oauth2.msi.tenant": workload.tenant_id,
                "account.oauth2.client.id": workload.client_id,
                "account.oauth2.token.file": workload.token_file,
            }
            if workload.authority:  # hadoop-azure appends "<tenant>/oauth2/v2.0/token"
                conf["account.oauth2.msi.authority"] = workload.authority.rstrip("/") + "/"
        else:
            conf[provider] = f"{_ABFS}.oauth2.MsiTokenProvider"
            conf |= {"account.oauth2.client.id": self.client_id} if self.client_id else {}
            conf |= {"account.oauth2.msi.tenant": self.tenant_id} if self.tenant_id else {}
        return self._keyed(conf)

    def _keyed(self, settings: dict[str, str]) -> dict[str, str]:
        return {f"fs.azure.{key}.{self.host}": value for key, value in settings.items()}

    def configure_spark(self, spark: Any) -> None:
        """Apply spark_conf() to the session and to its Hadoop configuration (where ABFS reads);
        a provider mode whose jar Spark cannot load falls back, with a warning (`_classpath`).
        ABFS keeps the SAS it first opened a container with: give sidecar_sas a long `sas_ttl`."""
        configure(self, spark)

    def storage_options(self) -> dict[str, str]:
        """delta-rs / object_store options for this auth mode (a vended SAS or token as it is now:
        call this for each operation, it is cached)."""
        options = {"account_name": self.account}
        if self.endpoint:
            options["endpoint"] = self.endpoint
            if self.endpoint.startswith("http://"):
                options["allow_http"] = "true"
        elif self.endpoint_suffix != DEFAULT_ENDPOINT_SUFFIX:
            options["endpoint"] = f"https://{self.account}.blob.{self.endpoint_suffix}"
        mode = elsewhere(self.auth_mode)
        workload = self._workload()
        if mode in ("key_vault", "direct_key"):
            options["account_key"] = self.get_storage_key() or ""
        elif mode in ("sas_token", *_SAS):
            options["sas_token"] = (self.get_storage_key() or "").lstrip("?")
        elif mode == "sidecar_token":
            options["bearer_token"] = self._vended_text()
        elif mode == "service_principal":
            options["tenant_id"] = self.tenant_id or ""
            options["client_id"] = self.client_id or ""
            options["client_secret"] = self.get_client_secret() or ""
        elif workload is not None:
            options |= {"tenant_id": workload.tenant_id, "client_id": workload.client_id}
            options["federated_token_file"] = workload.token_file
            options |= {"authority_host": workload.authority} if workload.authority else {}
        elif self.client_id:  # managed identity: object_store's default credential
            options["client_id"] = self.client_id
        return options

    def pandas_storage_options(self) -> dict[str, Any]:
        """adlfs/fsspec options, as odibi gave them; sidecar_token gives adlfs a `credential`
        (an async token credential that asks the sidecar)."""
        options: dict[str, Any] = {"account_name": self.account}
        if self.endpoint_suffix != DEFAULT_ENDPOINT_SUFFIX:
            options["account_host"] = f"{self.account}.blob.{self.endpoint_suffix}"
        if elsewhere(self.auth_mode) in ("key_vault", "direct_key"):
            return options | {"account_key": self.get_storage_key()}
        if self.auth_mode in ("sas_token", *_SAS):
            return options | {"sas_token": (self.get_storage_key() or "").lstrip("?")}
        if elsewhere(self.auth_mode) == "sidecar_token":
            return options | {"credential": SidecarTokenCredential(self.sidecar)}
        if self.auth_mode == "service_principal":
            return options | {
                "tenant_id": self.tenant_id,
                "client_id": self.client_id,
                "client_secret": self.get_client_secret(),
            }
        return options | {"anon": False}
