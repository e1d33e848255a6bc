"""`python -m akv_client hadoop-jar [DIR]`: where the akv-sidecar-hadoop jar is, for deployments.

With no DIR it prints `hadoop_jar()`'s path. With DIR it copies the jar into DIR under its own name
(`akv-sidecar-hadoop-<version>.jar`, mode 0644) and prints the copy's path: the Kubernetes pod
templates' init container and the Databricks init script put it on Spark's classpath this way,
from the same install as the sidecar, so the jar is always the sidecar's version.

Exit status: 0 done, 1 no jar in this install (a wheel built without `make jvm`), 2 bad usage.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ._providers import ENV_HADOOP_JAR, hadoop_jar

USAGE = "usage: python -m akv_client hadoop-jar [DIR]"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "hadoop-jar" or len(args) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    jar = hadoop_jar()
    if jar is None:
        override = os.environ.get(ENV_HADOOP_JAR)
        why = (
            f"{ENV_HADOOP_JAR}={override} is no file"
            if override
            else "this install carries no akv-sidecar-hadoop jar (built without `make jvm`)"
        )
        print(
            f"akv_client: {why}: install a wheel built by `make dist`, or set {ENV_HADOOP_JAR}"
            " to the jar.",
            file=sys.stderr,
        )
        return 1
    if len(args) == 2:
        directory = Path(args[1])
        if not directory.is_dir():
            print(f"akv_client: {directory} is not a directory.", file=sys.stderr)
            return 2
        target = directory / Path(jar).name
        # Beside it, then renamed over: a JVM that has the old jar open (a re-run of the Databricks
        # init script) keeps reading its bytes, and no reader ever sees half a jar.
        partial = directory / f".{target.name}.{os.getpid()}.tmp"
        try:
            shutil.copyfile(jar, partial)
            partial.chmod(0o644)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        jar = str(target)
    print(jar)
    return 0


if __name__ == "__main__":
    sys.exit(main())
