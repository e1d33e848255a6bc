"""The akv-sidecar-hadoop providers for Spark: the jar, and ABFS settings that hold no secret.

With auth mode `sidecar_sas_provider` the JVM's `SidecarSasTokenProvider` asks the sidecar for a SAS
per container and operation (read-only or read-write), on the driver and on every executor, and
renews it before it expires: the Spark and Hadoop configuration hold URLs, a token file's path and
class names only.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from ._client import SidecarClient

__all__ = ["PROVIDER_MODE", "hadoop_jar", "provider_conf", "spark_submit_conf", "uri_scheme"]

PROVIDER_MODE = "sidecar_sas_provider"
SAS_PROVIDER = "org.akvsidecar.hadoop.SidecarSasTokenProvider"
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

    @property
    def host(self) -> str: ...

    @property
    def sidecar(self) -> SidecarClient: ...


def hadoop_jar() -> str | None:
    """The akv-sidecar-hadoop jar for `spark.jars`: AKV_SIDECAR_HADOOP_JAR when set, else this
    checkout's build output `jvm/target/akv-sidecar-hadoop-<version>.jar` (`make jvm`); None when
    neither file exists. The wheel does not bundle the jar yet (planned): outside a checkout, set
    the variable or install the jar on the cluster's classpath.
    """
    override = os.environ.get(ENV_HADOOP_JAR)
    version = importlib.metadata.version("akv-sidecar")
    built = _REPO / "jvm" / "target" / f"akv-sidecar-hadoop-{version}.jar"
    jar = Path(override) if override else built
    return str(jar) if jar.is_file() else None


def uri_scheme(conn: _Connection) -> str:
    """abfss, or abfs (plain HTTP) for sidecar_sas_provider on an http:// loopback endpoint."""
    plain = conn.auth_mode == PROVIDER_MODE and _plain_loopback(conn.endpoint)
    return "abfs" if plain else "abfss"


def _plain_loopback(endpoint: str | None) -> tuple[str, int] | None:
    """(host, port) of an http:// endpoint on this machine (Azurite), else None."""
    if not endpoint or not endpoint.startswith("http://"):
        return None
    parts = urlsplit(endpoint)
    if parts.hostname not in _LOOPBACK:
        return None
    return parts.hostname or "", parts.port or 80


def provider_conf(conn: _Connection) -> dict[str, str]:
    """ABFS settings for `SidecarSasTokenProvider`, scoped to the account's host where ABFS
    allows it.

    A flat-namespace account (`hns=False`) is reached through the Blob service: on the DFS one,
    ABFS refuses any SAS provider but its fixed one for such an account. An http:// loopback
    `endpoint` (Azurite) is reached as ABFS reaches an emulator: path-style, plain HTTP.
    """
    name, endpoint, sidecar = conn.name, conn.endpoint, conn.sidecar.config
    if not sidecar.token_file:
        raise ValueError(
            f"ADLS connection '{name}': auth_mode '{PROVIDER_MODE}' needs the sidecar's caller "
            "token in a file the JVM can read: set AKV_SIDECAR_TOKEN_FILE or pass "
            "SidecarClient(token_file=...)."
        )
    conf = {
        "account.auth.type": "SAS",
        "sas.token.provider.type": SAS_PROVIDER,
        "akv-sidecar.url": sidecar.url,
        "akv-sidecar.token.file": sidecar.token_file,
        "account.hns.enabled": "true" if conn.hns else "false",
    }
    scoped = {f"fs.azure.{key}.{conn.host}": value for key, value in conf.items()}
    # Unscoped, as measured (jvm/README.md; scoped endpoint keys were not honoured): they apply to
    # every account of the session.
    shared = {} if conn.hns else {"fns.account.service.type": "BLOB"}
    loopback = _plain_loopback(endpoint)
    if loopback is not None:
        shared |= {
            "abfs.endpoint": f"{loopback[0]}:{loopback[1]}",
            "always.use.https": "false",
            # hadoop-azure's Apache HTTP client refuses to start without an SSL socket factory.
            "networking.library": "JDK_HTTP_URL_CONNECTION",
        }
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
