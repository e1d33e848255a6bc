"""The FastAPI dependency naming the caller of a route: one for every router that needs a token."""
# No `from __future__ import annotations`: FastAPI reads these annotations at run time.

from collections.abc import Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from akv_sidecar.http.auth import Caller, authorization_header
from akv_sidecar.http.models import BEARER_SCHEME

__all__ = ["caller_dependency"]


def caller_dependency(authenticate: Callable[[bytes | None], Caller]) -> Callable[..., Caller]:
    """A dependency answering the route's Caller, or raising the 401/403 ``authenticate`` raises."""

    def authenticated(
        request: Request,
        _token: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)],
    ) -> Caller:
        # The raw header, not HTTPBearer's parse, decides 401 (absent, malformed) vs 403 (unknown);
        # HTTPBearer only documents the scheme in the OpenAPI document.
        return authenticate(authorization_header(request.scope["headers"]))

    return authenticated
