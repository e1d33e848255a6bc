"""`LocalConnection`: the connection interface over a local folder, for development and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["LocalConnection"]


class LocalConnection:
    """Tables under `base_path` on local disk; no credentials, nothing to fetch."""

    auth_mode = "none"

    def __init__(self, base_path: str | Path, *, name: str | None = None) -> None:
        self.base_path = Path(base_path).expanduser().resolve()
        self.name = name or str(self.base_path)

    def __repr__(self) -> str:
        return f"LocalConnection(base_path={str(self.base_path)!r})"

    @property
    def secret_ref(self) -> None:
        return None

    def prime(self, value: str) -> None:
        """Nothing to cache: a local folder needs no secret."""

    def get_storage_key(self, timeout: float = 30.0) -> str | None:
        """Always None: there is no key (the same signature as AzureADLS's)."""
        return None

    def invalidate(self, timeout: float = 30.0) -> None:
        """Nothing to refetch."""

    def uri(self, path: str = "") -> str:
        return str(self.base_path / path.lstrip("/")) if path else str(self.base_path)

    def storage_options(self) -> dict[str, str]:
        return {}

    def pandas_storage_options(self) -> dict[str, Any]:
        return {}

    def spark_conf(self) -> dict[str, str]:
        return {}

    def configure_spark(self, spark: Any) -> None:
        """Local paths need no Spark settings."""
