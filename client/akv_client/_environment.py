"""`validate_databricks_environment`: where are we running, and can we reach the sidecar?"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from ._client import SidecarClient, shared_client

__all__ = ["validate_databricks_environment"]


def validate_databricks_environment(
    verbose: bool = True, *, client: SidecarClient | None = None
) -> dict[str, Any]:
    """A dict: is_databricks, runtime_version, spark_available, dbutils_available, errors,
    sidecar_url, sidecar_reachable, sidecar_ready (and sidecar_detail, /readyz's answer).
    """
    runtime = os.environ.get("DATABRICKS_RUNTIME_VERSION") or None
    errors: list[str] = []
    spark_available = _spark_available(errors)
    status = (client or shared_client()).status()
    if not status.reachable:
        errors.append(
            f"Sidecar not reachable at {status.url}: check that it runs and AKV_SIDECAR_URL."
        )
    elif not status.ready:
        errors.append(f"Sidecar at {status.url} is not ready yet: see its /readyz.")
    results: dict[str, Any] = {
        "is_databricks": runtime is not None,
        "runtime_version": runtime,
        "spark_available": spark_available,
        "dbutils_available": _dbutils_available(),
        "errors": errors,
        "sidecar_url": status.url,
        "sidecar_reachable": status.reachable,
        "sidecar_ready": status.ready,
        "sidecar_detail": status.detail,
    }
    if verbose:
        _print(results)
    return results


def _spark_available(errors: list[str]) -> bool:
    if importlib.util.find_spec("pyspark") is None:
        return False
    try:
        from pyspark.sql import SparkSession

        return SparkSession.getActiveSession() is not None
    except Exception as exc:  # a broken pyspark is reported, not raised
        errors.append(f"Spark check failed: {type(exc).__name__}: {exc}")
        return False


def _dbutils_available() -> bool:
    if importlib.util.find_spec("IPython") is None:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and "dbutils" in getattr(shell, "user_ns", {})


def _mark(flag: bool) -> str:
    return "✓" if flag else "✗"


def _print(results: dict[str, Any]) -> None:
    print("=== Databricks Environment Validation ===")
    print(f"  Databricks Runtime: {_mark(results['is_databricks'])}")
    if results["runtime_version"]:
        print(f"  Runtime Version: {results['runtime_version']}")
    print(f"  Spark Available: {_mark(results['spark_available'])}")
    print(f"  dbutils Available: {_mark(results['dbutils_available'])}")
    print(f"  Sidecar Reachable: {_mark(results['sidecar_reachable'])} ({results['sidecar_url']})")
    print(f"  Sidecar Ready: {_mark(results['sidecar_ready'])}")
    if results["errors"]:
        print("\n  Errors:")
        for error in results["errors"]:
            print(f"    - {error}")
