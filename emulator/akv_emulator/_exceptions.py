"""Exceptions raised by the emulator.

EmulatorError                 anything the emulator refuses to do
 ├── SeedError (ValueError)   a seed file or mapping is malformed; names the key and the file
 ├── FaultError (ValueError)  a fault specification is invalid
 ├── UnknownVaultError (KeyError)  a vault name the emulator does not serve
 └── KeyVaultError            a Key Vault error answer (status, code, message, inner code);
                              the vault API turns it into the JSON error body in one place
"""

from __future__ import annotations

from collections.abc import Mapping


class EmulatorError(Exception):
    """Base class of every error the emulator raises."""


class SeedError(EmulatorError, ValueError):
    """A seed file or mapping is malformed."""


class FaultError(EmulatorError, ValueError):
    """A fault specification is invalid."""


class UnknownVaultError(EmulatorError, KeyError):
    """The emulator serves no vault by that name."""

    def __str__(self) -> str:
        return f"unknown vault {self.args[0]!r}"


class KeyVaultError(EmulatorError):
    """An error answer in Key Vault's shape: HTTP status, error code, message, inner error code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner_code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        """The JSON body Key Vault sends for this error."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.inner_code is not None:
            error["innererror"] = {"code": self.inner_code}
        return {"error": error}


def secret_not_found(name: str, version: str | None = None) -> KeyVaultError:
    """The 404 Key Vault answers for an unknown secret or version."""
    target = f"{name}/{version}" if version else name
    return KeyVaultError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {target} was not found in this key vault. If you recently "
        "deleted this secret you may be able to recover it using the correct recovery command. "
        "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )


def bad_parameter(message: str) -> KeyVaultError:
    """The 400 Key Vault answers for malformed input."""
    return KeyVaultError(400, "BadParameter", message)
