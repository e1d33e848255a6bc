"""The FastAPI routes: everything except cache hits, which the fast path answers first."""
# No `from __future__ import annotations`: FastAPI must see the closures the annotations name.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from akv_sidecar.cache.cache import SecretCache
from akv_sidecar.cache.outcomes import Hit
from akv_sidecar.cache.store import age_tenths
from akv_sidecar.http.auth import Caller
from akv_sidecar.http.dependencies import caller_dependency
from akv_sidecar.http.errors import ApiError
from akv_sidecar.http.models import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    Readiness,
    SecretName,
    SecretResponse,
    VaultName,
    VersionQuery,
)
from akv_sidecar.http.reads import Reads, cache_headers, peer

__all__ = ["build_router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse}
    for status in (400, 401, 403, 404, 413, 422, 429, 502, 503, 504)
}


def _secret_response(served: tuple[bytes, Hit]) -> Response:
    body, (_, age, status) = served
    response = Response(body, media_type="application/json")
    response.raw_headers.extend(cache_headers(age_tenths(age), status))
    return response


def build_router(reads: Reads, cache: SecretCache, max_batch: int) -> APIRouter:
    router = APIRouter()

    authenticated = caller_dependency(reads.caller)

    @router.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": ErrorResponse}},
        tags=["health"],
    )
    async def readyz() -> Any:
        """Ready (200) once the prefetch finished, then for as long as the sidecar runs; lists
        the secrets served stale (Key Vault failing, value within cache.max_stale) and the ones
        it cannot serve (never fetched, gone, or stale beyond max_stale)."""
        if not cache.ready:
            raise ApiError(
                503, "NotReady", "The sidecar is still prefetching its secrets; retry shortly."
            )
        return {"status": "ready", **cache.readiness()}

    @router.get(
        "/v1/vaults/{vault}/secrets/{name}",
        response_model=SecretResponse,
        responses=_ERRORS,
        tags=["secrets"],
    )
    async def get_secret(
        request: Request,
        vault: VaultName,
        name: SecretName,
        caller: Annotated[Caller, Depends(authenticated)],
        version: VersionQuery = None,
    ) -> Response:
        """A secret's value and attributes (headers X-Cache: hit|miss|stale and Age)."""
        return _secret_response(await reads.read(caller, vault, name, version, peer(request.scope)))

    @router.post(
        "/v1/vaults/{vault}/secrets/{name}/refresh",
        response_model=SecretResponse,
        responses=_ERRORS,
        tags=["secrets"],
    )
    async def refresh_secret(
        request: Request,
        vault: VaultName,
        name: SecretName,
        caller: Annotated[Caller, Depends(authenticated)],
    ) -> Response:
        """Fetch from Key Vault now (after a rejected key); once per secret per 10 s, else 429."""
        return _secret_response(await reads.refresh(caller, vault, name, peer(request.scope)))

    @router.post(
        "/v1/secrets:batch", response_model=BatchResponse, responses=_ERRORS, tags=["secrets"]
    )
    async def batch(
        request: Request,
        body: BatchRequest,
        caller: Annotated[Caller, Depends(authenticated)],
    ) -> Response:
        """Many secrets in one round trip; results in request order, errors per item."""
        if len(body.secrets) > max_batch:
            raise ApiError(
                400,
                "InvalidRequest",
                f"A batch asks for at most {max_batch} secrets; split it into several requests.",
            )
        items = [(item.vault, item.name, item.version) for item in body.secrets]
        content = await reads.batch(caller, items, peer(request.scope))
        return Response(content, media_type="application/json")

    return router
