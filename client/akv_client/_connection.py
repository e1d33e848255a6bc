"""What every connection offers, so engines and helpers take ADLS and local folders alike."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Connection"]


@runtime_checkable
class Connection(Protocol):
    """A place tables live: `AzureADLS` or `LocalConnection`.

    `secret_ref` is the `(vault, secret)` whose value the connection needs from Key Vault, or
    None; `prime(value)` stores such a value fetched elsewhere (one batch for many connections).
    """

    name: str

    @property
    def secret_ref(self) -> tuple[str, str] | None: ...

    def prime(self, value: str) -> None: ...

    def uri(self, path: str) -> str: ...

    def storage_options(self) -> dict[str, str]: ...

    def spark_conf(self) -> dict[str, str]: ...

    def configure_spark(self, spark: Any) -> None: ...
