"""Spark + Delta + hadoop-azure jars for the client tests, resolved once into `.cache/ivy`.

`python -m tests.client.spark_setup` (run by `make test` through a stamp file) resolves the jars
from Maven Central with Spark's own Ivy; the test session then loads them from the cache, offline.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
IVY_DIR = REPO / ".cache" / "ivy"
# The pip package delta-spark 4.4.1 has no 4.4.1 jar on Maven Central; 4.4.0 is the newest jar
# built for Spark 4.2, and its Python API is the same.
DELTA_JAR_VERSION = "4.4.0"


def hadoop_version() -> str:
    """The Hadoop version bundled with pyspark: hadoop-azure must match it exactly."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    (api_jar,) = jars.glob("hadoop-client-api-*.jar")
    return api_jar.stem.removeprefix("hadoop-client-api-")


def maven_packages() -> list[str]:
    """Delta for this pyspark minor, and the ABFS connector for the bundled Hadoop."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return [
        f"io.delta:delta-spark_{spark_minor}_2.13:{DELTA_JAR_VERSION}",
        f"org.apache.hadoop:hadoop-azure:{hadoop_version()}",
    ]


def cached_jars() -> list[str]:
    """The resolved jars, or an empty list when `make test` has not fetched them yet."""
    return sorted(str(jar) for jar in (IVY_DIR / "jars").glob("*.jar"))


def session_builder(jars: list[str]) -> Any:
    """A small local SparkSession builder with Delta enabled, loading `jars` from disk."""
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("akv-client-tests")
        .config("spark.jars", ",".join(jars))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config(
            "spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"
        )
        # Small data on 2 cores: Delta's defaults (50 snapshot partitions, 10000-way parallel
        # listing in vacuum) turn each operation into minutes of empty tasks.
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.databricks.delta.snapshotPartitions", "1")
        .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + str(IVY_DIR.parent))
    )


def new_jvm() -> None:
    """Stop the active SparkSession and its JVM, so the next session starts a JVM of its own.

    spark.jars reach the driver's classpath only when pyspark launches the JVM: a module whose
    session needs other jars than the JVM already running (a jar of Hadoop providers) calls this
    before building it and after stopping it.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    gateway = SparkContext._gateway
    if gateway is None:
        return
    gateway.shutdown()
    proc = getattr(gateway, "proc", None)
    if proc is not None:  # the JVM exits when its stdin closes
        proc.stdin.close()
        proc.wait(timeout=30)
    SparkContext._gateway = None
    SparkContext._jvm = None


def fetch() -> int:
    """Resolve the packages into `.cache/ivy` by starting (and stopping) one Spark session."""
    from pyspark.sql import SparkSession

    IVY_DIR.mkdir(parents=True, exist_ok=True)
    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.jars.packages", ",".join(maven_packages()))
        .config("spark.jars.ivy", str(IVY_DIR))
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.stop()
    print(f"{len(cached_jars())} jars in {IVY_DIR / 'jars'}")
    return 0 if cached_jars() else 1


if __name__ == "__main__":
    sys.exit(fetch())
