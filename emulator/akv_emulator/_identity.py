"""Managed-identity token endpoint in the shape of App Service's (``IDENTITY_ENDPOINT`` +
``IDENTITY_HEADER``), and the book of tokens it issued that the vaults accept.

It issues tokens for Key Vault and for Azure Storage (what the sidecar's /v1/tokens hands out,
JWT-shaped as Azurite's `--oauth basic` wants);
any other resource is refused, as Entra ID refuses a resource it does not know. Each request is
counted under vault "identity", op "token", with the resource in the counter's ``secret`` slot.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ._counters import Counters

VAULT_RESOURCE = "https://vault.azure.net"
STORAGE_RESOURCE = "https://storage.azure.com"
RESOURCES = (VAULT_RESOURCE, STORAGE_RESOURCE)
TOKEN_PATH = "/msi/token"  # noqa: S105 - a URL path, not a password
IDENTITY_API_VERSION = "2019-08-01"
IDENTITY_COUNTER_VAULT = "identity"
CLIENT_ID = "00000000-0000-0000-0000-00000000c11e"
TENANT_ID = "00000000-0000-0000-0000-0000000e0e0e"
_TOKEN_LIFETIME_S = 24 * 3600


def _segment(value: dict[str, Any]) -> str:
    text = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def storage_jwt(now: int, expires_on: int) -> str:
    """A token for Azure Storage in Entra ID's shape (a JWT with its issuer, audience and times,
    signed by no one), so that Azurite started with `--oauth basic`, which decodes a bearer token
    and checks those claims but no signature, takes it as Azure Storage takes Entra's."""
    claims = {
        "aud": STORAGE_RESOURCE,
        "iss": f"https://sts.windows.net/{TENANT_ID}/",
        "iat": now,
        "nbf": now - 300,
        "exp": expires_on,
        "appid": CLIENT_ID,
        "oid": CLIENT_ID,
        "tid": TENANT_ID,
        "jti": secrets.token_urlsafe(16),
    }
    header = {"typ": "JWT", "alg": "none"}
    return f"{_segment(header)}.{_segment(claims)}.{secrets.token_urlsafe(32)}"


class TokenBook:
    """Opaque bearer tokens issued by this emulator, each with its resource and expiry."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, resource: str) -> tuple[str, int]:
        """A new token for resource and its expiry in Unix seconds: opaque for Key Vault, a JWT
        for Azure Storage (see storage_jwt)."""
        now = int(self._clock())
        expires_on = now + _TOKEN_LIFETIME_S
        plain = resource.rstrip("/")
        storage = plain == STORAGE_RESOURCE
        token = storage_jwt(now, expires_on) if storage else secrets.token_urlsafe(32)
        self._tokens[token] = (plain, expires_on)
        return token, expires_on

    def accepts(self, token: str) -> bool:
        """True if this emulator issued token for Key Vault and it has not expired."""
        entry = self._tokens.get(token)
        if entry is None:
            return False
        if entry[1] <= self._clock():
            del self._tokens[token]
            return False
        return entry[0] == VAULT_RESOURCE


class IdentitySwitch:
    """The token endpoint's failure switch: answer with an error status instead of a token."""

    def __init__(self) -> None:
        self.fail_status: int | None = None


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"statusCode": status, "message": message}, status=status)


def identity_app(
    header_value: str, tokens: TokenBook, switch: IdentitySwitch, counters: Counters
) -> web.Application:
    """The token endpoint app; answers GET TOKEN_PATH like App Service's identity endpoint."""

    def respond(request: web.Request) -> web.Response:
        if switch.fail_status is not None:
            return _answer(switch.fail_status, "Injected identity endpoint failure.")
        presented = request.headers.get("X-IDENTITY-HEADER")
        if presented is None:
            return _answer(400, "The X-IDENTITY-HEADER header is required.")
        if not secrets.compare_digest(presented, header_value):
            return _answer(401, "The X-IDENTITY-HEADER header is not valid.")
        if request.query.get("api-version") != IDENTITY_API_VERSION:
            return _answer(400, f"api-version must be {IDENTITY_API_VERSION}.")
        resource = request.query.get("resource")
        if not resource:
            return _answer(400, "The resource query parameter is required.")
        if resource.rstrip("/") not in RESOURCES:
            return _answer(400, f"The resource is not one of {', '.join(RESOURCES)}.")
        token, expires_on = tokens.issue(resource)
        body: dict[str, Any] = {
            "access_token": token,
            # App Service sends expires_on as a string of Unix seconds; both clients parse that.
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": request.query.get("client_id", CLIENT_ID),
        }
        if resource.rstrip("/") == STORAGE_RESOURCE:
            # "Refresh now": azure-identity then keeps no cached copy of a storage token and asks
            # here each time, so what a test of the sidecar's token cache sees is that cache
            # alone (on its injected clock), and every refresh the sidecar makes is a new token.
            body["refresh_in"] = 0
        return web.json_response(body)

    async def token(request: web.Request) -> web.Response:
        response = respond(request)
        resource = (request.query.get("resource") or "").rstrip("/") or None
        counters.record(IDENTITY_COUNTER_VAULT, "token", resource, response.status)
        return response

    app = web.Application()
    app.router.add_get(TOKEN_PATH, token)
    return app
