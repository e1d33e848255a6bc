"""The credential vending routes: POST /v1/storage/sas (a service SAS for a container or, on an
HNS account, a directory) and POST /v1/tokens (an access token of the sidecar's identity).

Each request is checked in the order the reads use (names, then what is configured, then the
caller's ``allow``), answered from the vending layer's caches, and written as one audit line
whether it was granted or refused. The credential travels only in the response body.
"""
# No `from __future__ import annotations`: FastAPI must see the closures the annotations name.

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from akv_sidecar.config.fields import SAS_PERMISSIONS, STORAGE_ACCOUNT
from akv_sidecar.config.schema import StorageAccountConfig
from akv_sidecar.core.clock import Clock
from akv_sidecar.core.timestamps import iso_time
from akv_sidecar.http.auth import Authenticator, Caller
from akv_sidecar.http.dependencies import caller_dependency
from akv_sidecar.http.errors import ApiError, refused_error
from akv_sidecar.http.models import ErrorResponse
from akv_sidecar.http.reads import peer
from akv_sidecar.ops.records import VendRecord
from akv_sidecar.vending import scope as checks
from akv_sidecar.vending.outcomes import Refused, SasGrant, TokenGrant
from akv_sidecar.vending.sas import SasVendor
from akv_sidecar.vending.tokens import TokenVendor

__all__ = [
    "SasRequest",
    "SasResponse",
    "TokenRequest",
    "TokenResponse",
    "Vending",
    "build_vending_router",
]

log = logging.getLogger("akv_sidecar")
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 413, 422, 502, 503, 504)
}


def _published(pattern: str) -> Any:
    """A name rule as a JSON-schema pattern ("$" ends the input there), published but checked by
    the routes themselves: a name breaking it is 400 InvalidName, as on every other route."""
    return {"pattern": pattern.replace(r"\Z", "$")}


class SasRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: StrictStr = Field(json_schema_extra=_published(STORAGE_ACCOUNT.pattern))
    container: StrictStr = Field(json_schema_extra=_published(checks.CONTAINER.pattern))
    path: StrictStr | None = Field(None, description="a directory, on an account with hns: true")
    permissions: StrictStr = Field(
        description='letters of "racwdlmeop", such as "rl"',
        json_schema_extra=_published(f"^[{SAS_PERMISSIONS}]+\\Z"),
    )
    ttl: StrictInt | StrictFloat | StrictStr | None = Field(
        None, description='seconds or a duration such as "30m"; at most the account\'s max_ttl'
    )


class SasResponse(BaseModel):
    account: str
    container: str
    path: str | None
    permissions: str = Field(description="as signed, in Azure's order")
    sas_token: str = Field(description='the SAS query string, without "?"')
    expires_on: str = Field(description="ISO 8601 UTC time: the SAS's se")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: StrictStr = Field(description="one of the sidecar's tokens.scopes")


class TokenResponse(BaseModel):
    access_token: str
    expires_on: str = Field(description="ISO 8601 UTC time")
    scope: str


@dataclass(frozen=True)
class Vending:
    """What the routes need: the caller checks, the two vendors, the audit line and the clock."""

    authenticate: Callable[[bytes | None], Caller]
    auth: Authenticator
    sas: SasVendor
    tokens: TokenVendor
    audit: Callable[[VendRecord], None]
    clock: Clock

    async def storage_sas(self, caller: Caller, body: SasRequest) -> SasGrant:
        account = self._account(body.account)
        hns, name = account.hns, account.name
        try:
            container = checks.container_name(body.container)
            path = checks.directory_path(body.path, hns=hns, account=name)
            permissions = checks.permissions(body.permissions, hns=hns, account=name)
            ttl = checks.lifetime(body.ttl, account.max_ttl, name)
        except checks.Invalid as invalid:
            raise ApiError(400, invalid.code, invalid.message) from None
        if not self.auth.may_vend(caller, "storage", f"{name}/{container}"):
            raise ApiError(
                403,
                "Forbidden",
                f"Caller '{caller.name}' may not get a SAS for 'storage/{name}/{container}'; add "
                "a matching pattern to its 'allow' list in the sidecar's configuration.",
            )
        ceiling = caller.allow_permissions
        if ceiling is not None and set(permissions) - set(ceiling):
            raise ApiError(
                403,
                "PermissionsNotAllowed",
                f"Caller '{caller.name}' may be granted at most '{ceiling}' "
                f"(auth.tokens[].allow_permissions); it asked for '{permissions}'.",
            )
        granted = await self.sas.issue(account, container, path, permissions, ttl)
        if isinstance(granted, Refused):
            raise refused_error(granted)
        return granted

    async def access_token(self, caller: Caller, body: TokenRequest) -> TokenGrant:
        scope = self.tokens.scope(body.scope)
        if scope is None:
            raise ApiError(
                404,
                "ScopeNotConfigured",
                f"The sidecar mints no tokens for '{body.scope[:128]}'; list it under "
                "'tokens.scopes' in its configuration.",
            )
        if not self.auth.may_vend(caller, "token", scope.lower()):
            raise ApiError(
                403,
                "Forbidden",
                f"Caller '{caller.name}' may not get a token for '{scope}'; add 'token/{scope}' "
                "to its 'allow' list in the sidecar's configuration.",
            )
        token = await self.tokens.token(scope)
        if isinstance(token, Refused):
            raise refused_error(token)
        return token

    def _account(self, name: str) -> StorageAccountConfig:
        if not STORAGE_ACCOUNT.match(name):
            raise ApiError(
                400,
                "InvalidName",
                f"'{name[:64]}' is not a storage account name: use 3-24 lowercase letters and "
                "digits.",
            )
        account = self.sas.account(name)
        if account is None:
            raise ApiError(
                404,
                "AccountNotConfigured",
                f"The sidecar has no storage account named '{name}'; add it under "
                "'storage.accounts' in its configuration.",
            )
        return account


def build_vending_router(vending: Vending) -> APIRouter:
    router = APIRouter()

    authenticated = caller_dependency(vending.authenticate)

    def audit(request: Request, caller: Caller, outcome: str, **fields: Any) -> None:
        """The audit line of one answer. A credential is not handed out without its line (503);
        a refusal is answered even when its line could not be written."""
        record = VendRecord(
            time=vending.clock.time(),
            caller=caller.name,
            kind="token" if "scope" in fields else "sas",
            account=fields.get("account"),
            container=fields.get("container"),
            path=fields.get("path"),
            permissions=fields.get("permissions"),
            scope=fields.get("scope"),
            expires_on=fields.get("expires_on"),
            outcome=outcome,
            client=peer(request.scope),
        )
        try:
            vending.audit(record)
        except (OSError, ValueError) as error:  # a closed or broken stdout
            log.error("an audit line could not be written (%s)", type(error).__name__)
            if outcome == "ok":
                raise ApiError(
                    503,
                    "AuditUnavailable",
                    "The credential was not handed out: its audit line could not be written; "
                    "check the sidecar's stdout.",
                ) from None

    @router.post("/v1/storage/sas", response_model=SasResponse, responses=_ERRORS, tags=["vending"])
    async def storage_sas(
        request: Request, body: SasRequest, caller: Annotated[Caller, Depends(authenticated)]
    ) -> Response:
        """A service SAS for a container (or a directory, hns: true), signed with the account's
        current key; the same scope is answered with the same SAS while a third of its life is
        left."""
        asked = {"account": body.account, "container": body.container, "path": body.path,
                 "permissions": body.permissions}  # fmt: skip
        try:
            grant = await vending.storage_sas(caller, body)
        except ApiError as error:
            audit(request, caller, error.code, **asked)
            raise
        answer = {
            "account": grant.account,
            "container": grant.container,
            "path": grant.path,
            "permissions": grant.permissions,
            "sas_token": grant.token,
            "expires_on": iso_time(grant.expires_on),
        }
        signed = {**asked, "path": grant.path, "permissions": grant.permissions}
        audit(request, caller, "ok", **signed, expires_on=grant.expires_on)
        return Response(json.dumps(answer), media_type="application/json")

    @router.post("/v1/tokens", response_model=TokenResponse, responses=_ERRORS, tags=["vending"])
    async def access_token(
        request: Request, body: TokenRequest, caller: Annotated[Caller, Depends(authenticated)]
    ) -> Response:
        """An access token of the sidecar's own identity for a configured scope; cached, and
        refreshed in the background before it expires."""
        try:
            grant = await vending.access_token(caller, body)
        except ApiError as error:
            audit(request, caller, error.code, scope=body.scope)
            raise
        answer = {
            "access_token": grant.token,
            "expires_on": iso_time(grant.expires_on),
            "scope": grant.scope,
        }
        audit(request, caller, "ok", scope=grant.scope, expires_on=grant.expires_on)
        return Response(json.dumps(answer), media_type="application/json")

    return router
