"""The parsers of configuration values, and the field helpers that attach them to a dataclass.

Every parser takes what YAML or an environment variable gave and returns the typed value, or raises
``Invalid`` with what was expected; ``loading`` adds which key and which file or variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field
from datetime import date
from typing import Any

__all__ = [
    "API_VERSIONS",
    "SAS_PERMISSIONS",
    "SECRET_NAME",
    "STORAGE_ACCOUNT",
    "VAULT_NAME",
    "VENDING_KINDS",
    "VERSION",
    "Invalid",
    "Parser",
    "api_version",
    "boolean",
    "duration",
    "file_mode",
    "fraction",
    "integer",
    "nested",
    "required",
    "sas_order",
    "sas_permissions",
    "secret_pattern",
    "setting",
    "strings",
    "text",
]

# \Z, not $: "$" also matches before a final newline, which a %0A in a path would be.
VAULT_NAME = re.compile(r"^(?!.*--)[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]\Z")
SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}\Z")
VERSION = re.compile(r"^[0-9a-fA-F]{32}\Z")
STORAGE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}\Z")
# The first segment of the allow patterns that grant vended credentials (storage/<account>/
# <container>, token/<scope>): no vault may be named so, or its patterns would grant those too.
VENDING_KINDS = ("storage", "token")
# A service SAS's permissions in the order Azure wants them signed (vending/ and auth use these).
SAS_PERMISSIONS = "racwdlmeop"
# The Key Vault API versions azure-keyvault-secrets can speak (its ApiVersion; a test keeps the two
# equal), newest first. The config layer does not import the SDK.
API_VERSIONS = (
    "2026-04-01", "2025-07-01", "7.6", "7.5", "7.4", "7.3", "7.2", "7.1", "7.0", "2016-10-01",
)  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class Invalid(ValueError):
    """A value is not allowed; the message says what is (``_loading`` adds key and source)."""


Parser = Callable[[Any], Any]


def duration(low: float, high: float) -> Parser:
    """Seconds given as 30s, 5m, 24h, 100ms, 1d or a plain number, within [low, high]."""
    wanted = f"a duration such as 30s, 5m, 24h or a number of seconds, from {low:g} s to {high:g} s"

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise Invalid(f"Expected {wanted}.")
        try:
            if isinstance(value, int | float):
                seconds = float(value)
            else:
                match = _DURATION.match(str(value))
                if match is None:
                    raise Invalid(f"Expected {wanted}.")
                seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
        except OverflowError:  # an integer of hundreds of digits: no float holds it
            raise Invalid(f"Expected {wanted}.") from None
        if not low <= seconds <= high:  # also refuses inf and nan
            raise Invalid(f"Expected {wanted}.")
        return seconds

    return parse


def integer(low: int, high: int) -> Parser:
    """A whole number within [low, high]."""

    def parse(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise Invalid(f"Expected a whole number from {low} to {high}.")
        return value

    return parse


def fraction(value: Any) -> float:
    """A number from 0 to 1."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not 0.0 <= number <= 1.0:
        raise Invalid("Expected a number from 0 to 1.")
    return number


def boolean(value: Any) -> bool:
    """true/false (yes/no, on/off and 1/0 are accepted from environment variables)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise Invalid("Expected true or false.")


def text(pattern: re.Pattern[str] | None = None, choices: tuple[str, ...] = ()) -> Parser:
    """A non-empty string, optionally one of ``choices`` or matching ``pattern``."""

    def parse(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
            raise Invalid(_text_expectation(pattern, choices))
        result = str(value)
        if choices and result.lower() not in choices:
            raise Invalid(_text_expectation(pattern, choices))
        if pattern is not None and not pattern.match(result):
            raise Invalid(_text_expectation(pattern, choices))
        return result.lower() if choices else result

    return parse


def _text_expectation(pattern: re.Pattern[str] | None, choices: tuple[str, ...]) -> str:
    if choices:
        return f"Expected one of: {', '.join(choices)}."
    if pattern is VAULT_NAME:
        return (
            "Expected a Key Vault name: 3-24 letters, digits and single hyphens, "
            "starting with a letter."
        )
    if pattern is SECRET_NAME:
        return "Expected a secret name: 1-127 letters, digits and hyphens (or '*')."
    return "Expected a non-empty string."


def strings(item: Parser) -> Parser:
    """A list of strings (a comma-separated string is accepted from environment variables)."""

    def parse(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise Invalid("Expected a list of strings.")
        return tuple(item(element) for element in value)

    return parse


def secret_pattern(value: Any) -> str:
    """A secret name or ``*`` (every enabled secret of the vault)."""
    return "*" if value == "*" else text(SECRET_NAME)(value)


def api_version(value: Any) -> str:
    """A Key Vault API version the SDK speaks, such as 7.4 (what the vault must understand)."""
    if isinstance(value, date):  # YAML reads an unquoted 2016-10-01 as a date
        value = value.isoformat()
    result = str(value).strip() if isinstance(value, str | float) else ""
    if result not in API_VERSIONS:
        raise Invalid(
            f"Expected a Key Vault API version: one of {', '.join(API_VERSIONS)} "
            "(the default is the newest)."
        )
    return result


def sas_permissions(value: Any) -> str:
    """Letters of "racwdlmeop" (a service SAS's permissions), returned in that order."""
    letters = str(value) if isinstance(value, str) else ""
    if not letters or set(letters) - set(SAS_PERMISSIONS):
        raise Invalid(f"Expected SAS permission letters from {SAS_PERMISSIONS!r}, such as 'rl'.")
    return sas_order(letters)


def sas_order(letters: str) -> str:
    """SAS permission letters in the order Azure signs them ("lr" becomes "rl")."""
    return "".join(letter for letter in SAS_PERMISSIONS if letter in letters)


def setting(default: Any, parse: Parser) -> Any:
    """A field with a default and its parser (the single place defaults live)."""
    return field(default=default, metadata={"parse": parse})


def required(parse: Parser) -> Any:
    """A field that must be given."""
    return field(metadata={"parse": parse})


def nested(cls: type, *, many: bool = False) -> dict[str, Any]:
    """Field metadata for a nested mapping (or, with ``many``, a list of mappings) of ``cls``."""
    return {"section": cls, "many": many}


def file_mode(value: Any) -> int:
    """Unix permissions as an octal string ("0660") or a number."""
    try:
        mode = int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        mode = -1
    if isinstance(value, bool) or not 0 <= mode <= 0o777:
        raise Invalid('Expected octal permissions such as "0660".')
    return mode
