"""The akv-sidecar-hadoop providers for Spark: the jar, and ABFS settings that hold no secret.

Each provider mode names one of the JVM's providers, on the driver and on every executor, and the
Spark and Hadoop configuration hold URLs, a token file's path, class names and Key Vault names only:

sidecar_sas_provider    `SidecarSasTokenProvider` asks the sidecar for a SAS per container and
                        operation (read-only or read-write), renewed before it expires
sidecar_token_provider  `SidecarTokenProvider`: the sidecar's Entra ID token for Azure Storage
sidecar_key_provider    `SidecarKeyProvider`: the account key, read from Key Vault through the
                        sidecar when ABFS opens the account (held by the FileSystem, not the conf)
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ._client import SidecarClient

__all__ = [
    "PROVIDERS",
    "PROVIDER_MODE",
    "PROVIDER_MODES",
    "elsewhere",
    "hadoop_jar",
    "provider_conf",
    "spark_submit_conf",
    "uri_scheme",
]

PROVIDER_MODE = "sidecar_sas_provider"
TOKEN_PROVIDER_MODE = "sidecar_token_provider"  # noqa: S105 - a mode's name
KEY_PROVIDER_MODE = "sidecar_key_provider"
PROVIDER_MODES = (PROVIDER_MODE, TOKEN_PROVIDER_MODE, KEY_PROVIDER_MODE)
_PACKAGE = "org.akvsidecar.hadoop."
SAS_PROVIDER = _PACKAGE + "SidecarSasTokenProvider"
PROVIDERS = {
    PROVIDER_MODE: SAS_PROVIDER,
    TOKEN_PROVIDER_MODE: _PACKAGE + "SidecarTokenProvider",
    KEY_PROVIDER_MODE: _PACKAGE + "SidecarKeyProvider",
}
# What a provider mode does outside Spark (delta-rs, adlfs): the sidecar's vending or key read.
_ELSEWHERE = {
    PROVIDER_MODE: "sidecar_sas",
    TOKEN_PROVIDER_MODE: "sidecar_token",
    KEY_PROVIDER_MODE: "key_vault",
}
ENV_HADOOP_JAR = "AKV_SIDECAR_HADOOP_JAR"
_REPO = Path(__file__).resolve().parents[2]  # a source checkout: client/akv_client/ under it
# Spark's default spark.redaction.regex, and what ABFS's own secrets are called besides.
SPARK_REDACTION = r"(?i)secret|password|token|access[.]?key"
REDACTION_REGEX = SPARK_REDACTION + r"|account[.]key|sas"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _SparkConnection(Protocol):
    def spark_conf(self) -> dict[str, str]: ...


class _Connection(Protocol):
    """What these settings read of an AzureADLS (which imports this module)."""

    name: str
    auth_mode: str
    endpoint: str | None
    hns: bool
    key_vault_name: str | None
    secret_name: str | None

    @property
    def host(self) -> str: ...

    @property
    def sidecar(self) -> SidecarClient: ...


def hadoop_jar() -> str | None:
    """The akv-sidecar-hadoop jar for `spark.jars`: AKV_SIDECAR_HADOOP_JAR when set; else the one
    the wheel carries (`akv_client/jars/akv-sidecar-hadoop-<version>.jar`, put there by `make jvm`),
    but in a source checkout its build output `jvm/target/akv-sidecar-hadoop-<version>.jar` first
    (the newest build; the package's copy is made from it); None when none of them is a file.
    """
    override = os.environ.get(ENV_HADOOP_JAR)
    if override:
        return override if Path(override).is_file() else None
    name = f"akv-sidecar-hadoop-{importlib.metadata.version('akv-sidecar')}.jar"
    for jar in (_REPO / "jvm" / "target" / name, Path(__file__).resolve().parent / "jars" / name):
        if jar.is_file():
            return str(jar)
    return None


def elsewhere(mode: str) -> str:
    """The auth mode a provider mode stands for outside Spark (any other mode: itself)."""
    return _ELSEWHERE.get(mode, mode)


def uri_scheme(conn: _Connection) -> str:
    """abfss, or abfs (plain HTTP) for a provider mode on an http:// loopback endpoint."""
    plain = conn.auth_mode in PROVIDER_MODES and _loopback(conn.endpoint, "http")
    return "abfs" if plain else "abfss"


def _loopback(endpoint: str | None, scheme: str) -> tuple[str, int] | None:
    """(host, port) of a `scheme`:// endpoint on this machine (Azurite), else None."""
    if not endpoint or not endpoint.startswith(f"{scheme}://"):
        return None
    parts = urlsplit(endpoint)
    if parts.hostname not in _LOOPBACK:
        return None
    return parts.hostname or "", parts.port or (80 if scheme == "http" else 443)


def _provider(conn: _Connection) -> dict[str, str]:
    """The account's auth type and provider class, and what the provider reads besides."""
    mode, provider = conn.auth_mode, PROVIDERS[conn.auth_mode]
    if mode == PROVIDER_MODE:
        return {"account.auth.type": "SAS", "sas.token.provider.type": provider}
    if mode == TOKEN_PROVIDER_MODE:
        if conn.endpoint and conn.endpoint.startswith("http://"):
            raise ValueError(
                f"ADLS connection '{conn.name}': auth_mode '{mode}' sends bearer tokens, which "
                f"Azure Storage (and Azurite) take over HTTPS only, got endpoint {conn.endpoint!r}."
            )
        # Custom: ABFS's auth type for a CustomTokenProviderAdaptee (OAuth wants its own).
        return {"account.auth.type": "Custom", "account.oauth.provider.type": provider}
    if not (conn.key_vault_name and conn.secret_name):
        raise ValueError(
            f"ADLS connection '{conn.name}': auth_mode '{mode}' requires 'key_vault_name' and "
            "'secret_name' (the Key Vault secret holding the account key)."
        )
    return {
        "account.auth.type": "SharedKey",
        "account.keyprovider": provider,
        "akv-sidecar.key.vault": conn.key_vault_name,
        "akv-sidecar.key.secret": conn.secret_name,
    }


def provider_conf(conn: _Connection) -> dict[str, str]:
    """ABFS settings for the connection's provider, scoped to the account's host where ABFS
    allows it.

    A flat-namespace account (`hns=False`) is reached through the Blob service: on the DFS one,
    ABFS refuses any SAS provider but its fixed one for such an account. A loopback `endpoint`
    (Azurite) is reached as ABFS reaches an emulator: path-style, and plain HTTP for http://.
    """
    name, endpoint, sidecar = conn.name, conn.endpoint, conn.sidecar.config
    if not sidecar.token_file:
        raise ValueError(
            f"ADLS connection '{name}': auth_mode '{conn.auth_mode}' needs the sidecar's caller "
            "token in a file the JVM can read: set AKV_SIDECAR_TOKEN_FILE or pass "
            "SidecarClient(token_file=...)."
        )
    conf = _provider(conn) | {
        "akv-sidecar.url": sidecar.url,
        "akv-sidecar.token.file": sidecar.token_file,
        "account.hns.enabled": "true" if conn.hns else "false",
    }
    scoped = {f"fs.azure.{key}.{conn.host}": value for key, value in conf.items()}
    # Unscoped, as measured (jvm/README.md; scoped endpoint keys were not honoured): they apply to
    # every account of the session.
    shared = {} if conn.hns else {"fns.account.service.type": "BLOB"}
    plain, secure = _loopback(endpoint, "http"), _loopback(endpoint, "https")
    if plain is not None:
        shared |= {
            "abfs.endpoint": f"{plain[0]}:{plain[1]}",
            "always.use.https": "false",
            # hadoop-azure's Apache HTTP client refuses to start without an SSL socket factory.
            "networking.library": "JDK_HTTP_URL_CONNECTION",
        }
    elif secure is not None:
        shared["abfs.endpoint"] = f"{secure[0]}:{secure[1]}"
    elif endpoint and endpoint.startswith("http://"):
        raise ValueError(
            f"ADLS connection '{name}': plain HTTP is for an emulator on this machine only, "
            f"got endpoint {endpoint!r}."
        )
    return scoped | {f"fs.azure.{key}": value for key, value in shared.items()}


def spark_submit_conf(*connections: _SparkConnection) -> dict[str, str]:
    """Settings for a SparkSession builder or `spark-submit --conf`: each connection's
    spark_conf() as `spark.hadoop.*` (so executors see them), `spark.jars` with hadoop_jar() (left
    out when there is none: the jar must then be on the classpath, e.g. a cluster library), and a
    `spark.redaction.regex` that also hides account keys and SAS in Spark's UI and logs.
    """
    conf = {f"spark.hadoop.{key}": v for c in connections for key, v in c.spark_conf().items()}
    jar = hadoop_jar()
    if jar is not None:
        conf["spark.jars"] = jar
    conf["spark.redaction.regex"] = REDACTION_REGEX
    return conf
