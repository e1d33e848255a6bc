"""The HTTP API's shapes, for request parsing and the OpenAPI schema.

Responses with secrets are sent as prebuilt bytes, so these models document them rather than
serialise them. The name rules (``config.schema``) are published as patterns but not enforced by
FastAPI: ``reads.Reads`` checks names itself and answers 400 InvalidName, on every path alike.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from akv_sidecar.config.fields import SECRET_NAME, VAULT_NAME, VERSION

__all__ = [
    "BEARER_SCHEME",
    "BatchError",
    "BatchRequest",
    "BatchRequestItem",
    "BatchResponse",
    "ErrorDetail",
    "ErrorResponse",
    "FailedSecret",
    "Health",
    "Readiness",
    "SecretName",
    "SecretResponse",
    "VaultName",
    "VersionQuery",
]


def _published(pattern: re.Pattern[str]) -> dict[str, Any]:
    """A name rule as a JSON-schema pattern (ECMA-262: no \\Z; there "$" ends the input)."""
    return {"pattern": pattern.pattern.replace(r"\Z", "$")}


VAULT_PATTERN = _published(VAULT_NAME)
SECRET_PATTERN = _published(SECRET_NAME)
VERSION_PATTERN = _published(VERSION)
VaultName = Annotated[str, Path(description="a Key Vault name", json_schema_extra=VAULT_PATTERN)]
SecretName = Annotated[str, Path(description="a secret name", json_schema_extra=SECRET_PATTERN)]
VersionQuery = Annotated[
    str | None,
    Query(description="a 32-hex version; default latest", json_schema_extra=VERSION_PATTERN),
]

# Documents the bearer scheme in OpenAPI; the routes decide 401/403 from the raw header themselves.
BEARER_SCHEME = HTTPBearer(
    auto_error=False, description="A caller token from the sidecar's auth.tokens"
)


class SecretResponse(BaseModel):
    vault: str
    name: str
    value: str
    version: str
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    not_before: str | None = Field(description="ISO 8601 UTC time, or null")
    expires_on: str | None = Field(description="ISO 8601 UTC time, or null")
    updated_on: str | None = Field(description="ISO 8601 UTC time, or null")
    fetched_at: str = Field(description="when the sidecar fetched this version (ISO 8601 UTC)")
    age_seconds: float = Field(description="seconds since fetched_at")
    stale: bool = Field(description="true while Key Vault fails and the last good value is served")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class BatchRequestItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vault: str = Field(json_schema_extra=VAULT_PATTERN)
    name: str = Field(json_schema_extra=SECRET_PATTERN)
    version: str | None = Field(default=None, json_schema_extra=VERSION_PATTERN)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secrets: list[BatchRequestItem]


class BatchError(BaseModel):
    vault: str
    name: str
    error: ErrorDetail


class BatchResponse(BaseModel):
    results: list[SecretResponse | BatchError]


class Health(BaseModel):
    status: str


class FailedSecret(BaseModel):
    vault: str
    name: str = Field(description='the secret, or "*" when listing the vault failed')
    since: str = Field(description="when Key Vault began failing for it (ISO 8601 UTC)")
    error: str = Field(description="the latest failure, without any secret")


class ThrottledVault(BaseModel):
    vault: str
    seconds: float = Field(description="until the sidecar calls the vault again after its 429")


class Readiness(BaseModel):
    status: str
    stale: list[FailedSecret] = Field(
        description="served from the last good value while Key Vault fails (within max_stale)"
    )
    failed: list[FailedSecret] = Field(
        description="not servable: never fetched, gone from Key Vault, or stale beyond max_stale"
    )
    throttled: list[ThrottledVault] = Field(
        description="vaults closed after Key Vault answered 429, and for how long"
    )
