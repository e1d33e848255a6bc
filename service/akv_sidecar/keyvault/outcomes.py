"""What a Key Vault call ends in when it does not return a secret: a plain value, never Azure's
exception, so the layers above decide what each failure means to them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Failed", "Failure"]


class Failure(enum.Enum):
    NOT_FOUND = "not_found"
    DISABLED = "disabled"
    FORBIDDEN = "forbidden"
    THROTTLED = "throttled"
    TIMEOUT = "timeout"
    UNTRUSTED = "untrusted"  # the TLS certificate Key Vault presented failed verification
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Failed:
    """Why a call failed; ``detail`` is safe to show (status and codes, never a body)."""

    kind: Failure
    detail: str
    retry_after: float | None = None
