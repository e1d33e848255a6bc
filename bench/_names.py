"""The vault and secret names every scenario seeds and reads (no imports: load processes use it)."""

from __future__ import annotations

__all__ = ["VAULT", "secret_name", "secret_names"]

VAULT = "bench"


def secret_name(index: int) -> str:
    """s0000, s0001, ..."""
    return f"s{index:04d}"


def secret_names(count: int, start: int = 0) -> list[str]:
    return [secret_name(index) for index in range(start, start + count)]
