"""Whether Spark can load the akv-sidecar-hadoop providers, and what a provider mode falls back to.

`AzureADLS.configure_spark(spark)` (and so `SparkEngine`) asks the driver's JVM for the provider
class of a provider mode, through the Hadoop configuration's class loader (the one ABFS loads it
with). When the class is there, the provider settings are applied: no secret. When it is not, the
connection falls back to the mode it stands for elsewhere, with one `ProviderFallbackWarning` per
connection and Spark application, naming the risk and the fix:

sidecar_sas_provider    sidecar_sas: one SAS for the container, vended now (`sas_permissions`,
                        `sas_ttl`), as `fs.azure.sas.fixed.token` (redacted by name); ABFS
                        keeps it until it expires, so a job that outlives it fails
sidecar_key_provider    key_vault: the account key as `fs.azure.account.key`, which Spark's default
                        redaction does not hide (the Spark UI, event logs, SET)
sidecar_token_provider  nothing: hadoop-azure takes no bearer token from a conf, so ValueError

Without a JVM to ask (Spark Connect has no `_jsc`), the provider settings are applied unchecked:
the server's classpath decides. Only the driver is checked; executors load the jar from
`spark.jars` or from the cluster's classpath, as the driver does.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import warnings
from types import FrameType
from typing import Any, Protocol

from ._providers import PROVIDER_MODES, PROVIDERS, elsewhere, hadoop_jar

__all__ = ["ProviderFallbackWarning", "configure", "provider_loadable", "spark_settings"]

_TOKEN_MODE = "sidecar_token_provider"  # noqa: S105 - a mode's name
_RISK = {
    "sidecar_sas": (
        "a SAS for the container is now in the Spark and Hadoop configuration "
        "(fs.azure.sas.fixed.token, a name Spark's default redaction hides, as SET shows), and "
        "ABFS keeps that SAS until it expires: a job that outlives sas_ttl fails"
    ),
    "key_vault": (
        "the storage account key is now in the Spark and Hadoop configuration "
        "(fs.azure.account.key), in clear in SET, the Spark UI's SQL pages and Environment page "
        "and the event log, since Spark's default spark.redaction.regex does not match it, "
        "and a rotated key fails the job"
    ),
}
_warned: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


class ProviderFallbackWarning(UserWarning):
    """A provider mode found no akv-sidecar-hadoop on Spark's classpath and set a secret instead."""


class _Connection(Protocol):
    name: str
    auth_mode: str

    def spark_conf(self) -> dict[str, str]: ...


def provider_loadable(spark: Any, class_name: str) -> bool | None:
    """Whether the driver's JVM loads `class_name` as ABFS would (the Hadoop configuration's class
    loader); None without a JVM to ask (Spark Connect)."""
    jsc = getattr(spark, "_jsc", None)
    if jsc is None:
        return None
    return jsc.hadoopConfiguration().getClassByNameOrNull(class_name) is not None


def spark_settings(conn: _Connection, spark: Any) -> dict[str, str]:
    """conn.spark_conf(), or for a provider mode whose class `spark` cannot load, the settings of
    the mode it falls back to (see the module's docstring), after one warning."""
    mode = conn.auth_mode
    if mode not in PROVIDER_MODES or provider_loadable(spark, PROVIDERS[mode]) is not False:
        return conn.spark_conf()
    provider, fix = PROVIDERS[mode], _fix()
    if mode == _TOKEN_MODE:
        raise ValueError(
            f"ADLS connection '{conn.name}': auth_mode '{mode}' needs {provider} "
            f"(akv-sidecar-hadoop), which this Spark cannot load, and has no fallback: "
            f"hadoop-azure takes no bearer token from its configuration. {fix}"
        )
    legacy = copy.copy(conn)  # shares the connection's cached SAS or key, and its lock
    legacy.auth_mode = elsewhere(mode)
    settings = legacy.spark_conf()
    _warn_once(
        spark,
        conn,
        f"ADLS connection '{conn.name}': auth_mode '{mode}' needs {provider} "
        f"(akv-sidecar-hadoop), which this Spark cannot load; falling back to "
        f"'{legacy.auth_mode}': {_RISK[legacy.auth_mode]}. {fix}",
    )
    return settings


def configure(conn: _Connection, spark: Any) -> None:
    """Apply spark_settings() to the session and to its Hadoop configuration (where ABFS reads)."""
    settings = spark_settings(conn, spark)
    jsc = getattr(spark, "_jsc", None)  # absent on Spark Connect, where the session conf is all
    for key, value in settings.items():
        spark.conf.set(key, value)
        if jsc is not None:
            jsc.hadoopConfiguration().set(key, value)


def _fix() -> str:
    jar = hadoop_jar()
    where = f"it is {jar}" if jar else "this install has none: build it with `make jvm`"
    return (
        "Fix: put the jar on Spark's classpath before the session starts: add "
        f"akv_client.hadoop_jar() ({where}) to spark.jars, as spark_submit_conf() does, or "
        "install it on the cluster (the Kubernetes pod templates and the Databricks init script "
        "of akv-sidecar's deploy/ do)."
    )


def _warn_once(spark: Any, conn: _Connection, message: str) -> None:
    jsc = getattr(spark, "_jsc", None)
    app = str(jsc.sc().applicationId()) if jsc is not None else ""
    key = (app, conn.name, conn.auth_mode)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, ProviderFallbackWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """warnings.warn's stacklevel of the first caller outside akv_client (the user's code, through
    configure_spark or SparkEngine), counted from _warn_once."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame: FrameType | None = sys._getframe(2)  # _warn_once's caller: warn's stacklevel 2
    level = 2
    while (
        frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == package
    ):
        frame, level = frame.f_back, level + 1
    return level
