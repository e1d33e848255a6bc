"""The operator's routes: `/metrics`, `/v1/status` and the Event Grid webhook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from akv_sidecar.cache.store import Entry
from akv_sidecar.http.auth import Caller, authorization_header
from akv_sidecar.http.errors import ApiError
from akv_sidecar.http.models import BEARER_SCHEME, ErrorResponse
from akv_sidecar.ops.events import EventGridReceiver, EventPayloadError
from akv_sidecar.ops.metrics import METRICS_CONTENT_TYPE, MetricsExporter
from akv_sidecar.ops.status import StatusBoard

__all__ = ["EVENTS_PATH", "build_ops_router"]

EVENTS_PATH = "/v1/events/eventgrid"
_BEARER = Security(BEARER_SCHEME)  # documents the bearer scheme; require_caller decides
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 413, 429)
}
_EVENT_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 403, 404, 413, 429)
}


class SecretStatus(BaseModel):
    vault: str
    name: str
    version: str | None
    fetched_at: str | None = Field(description="ISO 8601 UTC time of the last successful fetch")
    age_seconds: float | None
    stale: bool | None
    last_error: str | None = Field(description="the last failed Key Vault call (outcome: detail)")
    last_error_at: str | None
    next_refresh_at: str | None
    keyvault_calls: int
    reads: int


class VaultStatus(BaseModel):
    name: str
    throttled_for_seconds: float = Field(
        description="how long Key Vault's throttling keeps the sidecar from calling it (0: open)"
    )


class CallerStatus(BaseModel):
    name: str
    over_budget: int = Field(
        description="reads refused because the caller spent its budget of Key Vault calls"
    )
    last_over_budget_at: str | None


class Status(BaseModel):
    ready: bool
    vaults: list[VaultStatus]
    callers: list[CallerStatus] = Field(description="callers held to their Key Vault budget")
    secrets: list[SecretStatus]


class EventsAccepted(BaseModel):
    received: int
    refreshed: int
    ignored: int


class SubscriptionValidated(BaseModel):
    validationResponse: str  # Event Grid's own spelling


def build_ops_router(
    *,
    authenticate: Callable[[bytes | None], Caller],
    shows: Callable[[Caller, str, str], bool],
    board: StatusBoard,
    entries: Callable[[], list[Entry]],
    ready: Callable[[], bool],
    exporter: MetricsExporter | None,
    metrics_token: bool,
    receiver: EventGridReceiver | None,
) -> APIRouter:
    """`exporter` None leaves /metrics off this app (it is on its own port, or disabled)."""
    router = APIRouter()

    def require_caller(request: Request) -> Caller:
        return authenticate(authorization_header(request.scope["headers"]))

    if exporter is not None:
        # The bearer scheme is declared only when it is required: the document says what is done.
        @router.get(
            "/metrics",
            tags=["operations"],
            dependencies=[_BEARER] if metrics_token else [],
            response_class=Response,
            responses={
                200: {"content": {METRICS_CONTENT_TYPE: {"schema": {"type": "string"}}}},
                **(_AUTH_ERRORS if metrics_token else {}),
            },
        )
        async def metrics(request: Request) -> Response:
            """Prometheus metrics (a token is required when metrics.require_token is set)."""
            if metrics_token:
                require_caller(request)
            return Response(exporter.render(), media_type=METRICS_CONTENT_TYPE)

    @router.get("/v1/status", response_model=Status, responses=_AUTH_ERRORS, tags=["operations"])
    async def status(
        request: Request, _token: HTTPAuthorizationCredentials | None = _BEARER
    ) -> dict[str, Any]:
        """Per secret, without values: version, age, staleness, last error, next refresh, counts;
        only the secrets the caller may read (every one for an admin token)."""
        caller = require_caller(request)
        document = board.render(entries(), ready=ready())
        document["secrets"] = [
            row for row in document["secrets"] if shows(caller, row["vault"], row["name"])
        ]
        if not caller.admin:
            document["callers"] = [row for row in document["callers"] if row["name"] == caller.name]
        return document

    def checked(code: str | None) -> EventGridReceiver:
        if receiver is None:
            raise ApiError(
                404,
                "EventsNotConfigured",
                "Event Grid delivery is off: set events.webhook_secret_file or webhook_secret_env.",
            )
        if not receiver.code_matches(code):
            raise ApiError(
                403, "Forbidden", "The webhook code is wrong; check the subscription URL."
            )
        return receiver

    @router.post(
        EVENTS_PATH,
        response_model=EventsAccepted | SubscriptionValidated,
        responses=_EVENT_ERRORS,
        tags=["events"],
    )
    async def deliver(
        request: Request, code: str | None = Query(default=None, description="the webhook secret")
    ) -> dict[str, Any]:
        """Key Vault events (Event Grid schema or CloudEvents 1.0); answers the validation event."""
        events = checked(code)
        try:
            return await events.receive(await request.body())
        except EventPayloadError as error:
            raise ApiError(
                400, "InvalidEvent", f"{error}; send Event Grid or CloudEvents JSON."
            ) from None

    @router.options(
        EVENTS_PATH,
        response_class=Response,
        responses={**_EVENT_ERRORS, 200: {"description": "Handshake accepted", "content": None}},
        tags=["events"],
    )
    async def handshake(
        code: str | None = Query(default=None, description="the webhook secret"),
        origin: str | None = Header(default=None, alias="WebHook-Request-Origin"),
    ) -> Response:
        """The CloudEvents 1.0 abuse-protection handshake: echoes the origin, allows any rate."""
        checked(code)
        if not origin:
            raise ApiError(400, "InvalidHandshake", "A WebHook-Request-Origin header is required.")
        headers = {
            "WebHook-Allowed-Origin": origin,
            "WebHook-Allowed-Rate": "*",
            "Allow": "POST, OPTIONS",
        }
        return Response(status_code=200, headers=headers)

    return router
