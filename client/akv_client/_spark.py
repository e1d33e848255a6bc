"""`SparkEngine`: read and write tables through connections, with Delta helpers.

pyspark and delta-spark are imported only when an engine is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._client import SidecarClient
from ._connection import Connection
from ._exceptions import SidecarError
from ._setup import prefetch

__all__ = ["SparkEngine"]


class SparkEngine:
    """Configures every connection on the Spark session (all keys in one batch request).

    A connection whose secret (or vended SAS) could not be fetched is left out and its error kept
    in `errors`; the others work. Methods take a connection by name or as an object.
    """

    def __init__(
        self,
        connections: Mapping[str, Connection] | None = None,
        spark_session: Any = None,
        *,
        timeout: float = 30.0,
        verbose: bool = False,
        client: SidecarClient | None = None,
    ) -> None:
        self.spark = spark_session if spark_session is not None else _session()
        self.connections: dict[str, Connection] = dict(connections or {})
        self._failures: dict[str, str] = {}
        for name, result in prefetch(self.connections, 5, timeout, verbose, client).items():
            if not result.success:
                self._failures[name] = f"Failed to fetch secret for '{name}': {result.error}"
                continue
            try:
                self.connections[name].configure_spark(self.spark)
            except SidecarError as exc:
                self._failures[name] = f"Failed to fetch a credential for '{name}': {exc}"

    @property
    def errors(self) -> list[str]:
        """One message per connection that could not be configured."""
        return list(self._failures.values())

    def read(
        self,
        connection: str | Connection,
        path: str,
        format: str = "delta",
        options: Mapping[str, str] | None = None,
    ) -> Any:
        reader = self.spark.read.format(format)
        for key, value in (options or {}).items():
            reader = reader.option(key, value)
        return reader.load(self._uri(connection, path))

    def write(
        self,
        df: Any,
        connection: str | Connection,
        path: str,
        format: str = "delta",
        mode: str = "overwrite",
        partition_by: Sequence[str] | None = None,
    ) -> None:
        writer = df.write.format(format).mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self._uri(connection, path))

    def history(self, connection: str | Connection, path: str, limit: int | None = None) -> Any:
        """The Delta table's commit history, newest first."""
        table = self._delta_table(connection, path)
        return table.history(limit)

    def vacuum(
        self, connection: str | Connection, path: str, retention_hours: float = 168.0
    ) -> Any:
        """Delete files no longer referenced and older than `retention_hours`."""
        return self._delta_table(connection, path).vacuum(retention_hours)

    def restore(
        self,
        connection: str | Connection,
        path: str,
        version: int | None = None,
        timestamp: str | None = None,
    ) -> Any:
        """Restore the table to a version or a timestamp (exactly one of them)."""
        if (version is None) == (timestamp is None):
            raise ValueError("restore() needs exactly one of 'version' and 'timestamp'.")
        table = self._delta_table(connection, path)
        if version is not None:
            return table.restoreToVersion(version)
        return table.restoreToTimestamp(timestamp)

    def _delta_table(self, connection: str | Connection, path: str) -> Any:
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, self._uri(connection, path))

    def _uri(self, connection: str | Connection, path: str) -> str:
        if isinstance(connection, str):
            if connection not in self.connections:
                known = ", ".join(sorted(self.connections)) or "none"
                raise ValueError(f"Unknown connection '{connection}'. Known connections: {known}.")
            if connection in self._failures:
                raise ValueError(self._failures[connection])
            return self.connections[connection].uri(path)
        connection.configure_spark(self.spark)  # cheap and idempotent: the key is cached
        return connection.uri(path)


def _session() -> Any:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
