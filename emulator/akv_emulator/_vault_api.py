"""Key Vault's secrets REST API for one vault, as an aiohttp application."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ._bundles import deleted_bundle, deleted_item, secret_bundle, secret_item
from ._counters import Counters
from ._exceptions import KeyVaultError, bad_parameter
from ._faults import FaultBook
from ._identity import TokenBook
from ._store import Page, VaultStore, check_name

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_API_VERSION = re.compile(r"7\.\d(-preview(\.\d+)?)?|(\d{4}-\d{2}-\d{2})(-preview)?")
_NEWEST_DATED_VERSION = "2026-04-01"
_OLDEST_DATED_VERSION = "2025-01-01"
_MAX_RESULTS = 25
_MALFORMED_BODY = b'{"id": "https://'


@dataclass
class VaultContext:
    """Everything a vault's handlers need; base_url is known once the port is bound."""

    name: str
    store: VaultStore
    faults: FaultBook
    counters: Counters
    tokens: TokenBook
    challenge: str
    base_url: str = ""
    api_versions: tuple[str, ...] | None = None  # None: what Azure accepts


CONTEXT = web.AppKey("vault_context", VaultContext)


def error_response(error: KeyVaultError) -> web.Response:
    """The one place a KeyVaultError becomes an HTTP answer."""
    return web.json_response(error.body(), status=error.status, headers=error.headers)


def _check_api_version(request: web.Request, supported: tuple[str, ...] | None) -> None:
    version = request.query.get("api-version")
    if version is None:
        raise bad_parameter("The api-version query parameter is required.")
    if supported is not None:
        known, newest = version in supported, supported[0]
    else:
        match = _API_VERSION.fullmatch(version)
        dated = match.group(3) if match else None
        known = bool(match) and not (
            dated and not _OLDEST_DATED_VERSION <= dated <= _NEWEST_DATED_VERSION
        )
        newest = _NEWEST_DATED_VERSION
    if not known:
        raise bad_parameter(
            f"The specified version ({version[:40]}) is not recognized. Consider using the "
            f"latest supported version ({newest})."
        )


def _authorized(request: web.Request, tokens: TokenBook) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and tokens.accepts(token.strip())


def _challenge(context: VaultContext, authorization: str | None) -> web.Response:
    message = (
        "AKV10000: Request is missing a Bearer or PoP token."
        if authorization is None
        else "AKV10022: Invalid audience or token not issued by this vault's identity endpoint."
    )
    response = error_response(KeyVaultError(401, "Unauthorized", message))
    response.headers["WWW-Authenticate"] = context.challenge
    return response


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or the BadParameter error Key Vault answers."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise bad_parameter("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise bad_parameter("The request body must be a JSON object.")
    return body


def _attribute_changes(body: dict[str, Any]) -> dict[str, Any]:
    """Map a SecretBundle-shaped request body to store keyword arguments, checking types."""
    changes: dict[str, Any] = {}
    if body.get("contentType") is not None:
        if not isinstance(body["contentType"], str):
            raise bad_parameter("contentType must be a string.")
        changes["content_type"] = body["contentType"]
    if body.get("tags") is not None:
        tags = body["tags"]
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise bad_parameter("tags must be an object of strings.")
        changes["tags"] = tags
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_parameter("attributes must be an object.")
    if attributes.get("enabled") is not None:
        if not isinstance(attributes["enabled"], bool):
            raise bad_parameter("attributes.enabled must be a boolean.")
        changes["enabled"] = attributes["enabled"]
    for field in ("nbf", "exp"):
        if attributes.get(field) is not None:
            if not isinstance(attributes[field], int) or isinstance(attributes[field], bool):
                raise bad_parameter(f"attributes.{field} must be Unix seconds.")
            changes[field] = attributes[field]
    return changes


def _encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")


def _paging(request: web.Request) -> tuple[str | None, int]:
    raw_max = request.query.get("maxresults", str(_MAX_RESULTS))
    if not raw_max.isdigit() or not 1 <= int(raw_max) <= _MAX_RESULTS:
        raise bad_parameter(f"maxresults must be an integer from 1 to {_MAX_RESULTS}.")
    token = request.query.get("$skiptoken")
    if token is None:
        return None, int(raw_max)
    try:
        after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise bad_parameter("The $skiptoken is not valid.") from exc
    return after, int(raw_max)


def _page_response(
    request: web.Request, page: Page[Any], items: list[Any], limit: int
) -> web.Response:
    context = request.app[CONTEXT]
    next_link = None
    if page.next_after is not None:
        next_link = (
            f"{context.base_url}{request.path}?api-version={request.query['api-version']}"
            f"&$skiptoken={_encode_token(page.next_after)}&maxresults={limit}"
        )
    return web.json_response({"value": items, "nextLink": next_link})


async def _set(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await json_body(request)
    if not isinstance(body.get("value"), str):
        raise bad_parameter("The request body must carry the secret's value as a string.")
    changes = _attribute_changes(body)
    version = context.store.set(request.match_info["name"], body["value"], **changes)
    return web.json_response(secret_bundle(context.base_url, version))


async def _get(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    version = context.store.get(request.match_info["name"], request.match_info.get("version"))
    return web.json_response(secret_bundle(context.base_url, version))


async def _update(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    changes = _attribute_changes(await json_body(request))
    name, version = request.match_info["name"], request.match_info.get("version")
    updated = context.store.update(name, version, changes)
    return web.json_response(secret_bundle(context.base_url, updated, with_value=False))


async def _list(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    after, limit = _paging(request)
    page = context.store.page_latest(after, limit)
    items = [secret_item(context.base_url, v, versioned=False) for v in page.items]
    return _page_response(request, page, items, limit)


async def _list_versions(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    after, limit = _paging(request)
    page = context.store.page_versions(request.match_info["name"], after, limit)
    items = [secret_item(context.base_url, v, versioned=True) for v in page.items]
    return _page_response(request, page, items, limit)


async def _delete(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    deleted = context.store.delete(request.match_info["name"])
    return web.json_response(deleted_bundle(context.base_url, deleted))


async def _get_deleted(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    deleted = context.store.get_deleted(request.match_info["name"])
    return web.json_response(deleted_bundle(context.base_url, deleted))


async def _list_deleted(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    after, limit = _paging(request)
    page = context.store.page_deleted(after, limit)
    items = [deleted_item(context.base_url, d) for d in page.items]
    return _page_response(request, page, items, limit)


async def _purge(request: web.Request) -> web.Response:
    request.app[CONTEXT].store.purge(request.match_info["name"])
    return web.Response(status=204)


async def _recover(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    recovered = context.store.recover(request.match_info["name"])
    return web.json_response(secret_bundle(context.base_url, recovered, with_value=False))


# (method, path, operation name in the counters, handler); order matters for /versions.
_ROUTES: tuple[tuple[str, str, str, Handler], ...] = (
    ("GET", "/secrets", "list", _list),
    ("GET", "/secrets/{name}/versions", "list_versions", _list_versions),
    ("GET", "/secrets/{name}", "get", _get),
    ("GET", "/secrets/{name}/", "get", _get),
    ("GET", "/secrets/{name}/{version}", "get", _get),
    ("PUT", "/secrets/{name}", "set", _set),
    ("PATCH", "/secrets/{name}", "update", _update),
    ("PATCH", "/secrets/{name}/", "update", _update),
    ("PATCH", "/secrets/{name}/{version}", "update", _update),
    ("DELETE", "/secrets/{name}", "delete", _delete),
    ("GET", "/deletedsecrets", "list_deleted", _list_deleted),
    ("GET", "/deletedsecrets/{name}", "get_deleted", _get_deleted),
    ("DELETE", "/deletedsecrets/{name}", "purge", _purge),
    ("POST", "/deletedsecrets/{name}/recover", "recover", _recover),
)
_OPERATIONS: dict[Handler, str] = {handler: op for _, _, op, handler in _ROUTES}


async def _serve(
    request: web.Request, context: VaultContext, handler: Handler
) -> web.StreamResponse:
    """Check version and token, apply faults, run the handler; KeyVaultError becomes the answer."""
    try:
        _check_api_version(request, context.api_versions)
        if not _authorized(request, context.tokens):
            return _challenge(context, request.headers.get("Authorization"))
        secret = request.match_info.get("name")
        if secret is not None:
            check_name(secret)
        malformed = await context.faults.apply(context.name, secret)
        response = await handler(request)
    except KeyVaultError as error:
        return error_response(error)
    if malformed and response.status == 200:
        return web.Response(body=_MALFORMED_BODY, content_type="application/json")
    return response


@web.middleware
async def _count(request: web.Request, handler: Handler) -> web.StreamResponse:
    context = request.app[CONTEXT]
    operation = _OPERATIONS.get(request.match_info.handler)
    if operation is None:
        unmatched = getattr(request.match_info, "http_exception", None)
        status = unmatched.status if isinstance(unmatched, web.HTTPException) else 404
        response: web.Response = error_response(
            KeyVaultError(status, "NotFound", f"No such operation: {request.method} {request.path}")
        )
        context.counters.record(context.name, "unknown", None, response.status)
        return response
    answer = await _serve(request, context, handler)
    if answer.status == 401:
        operation = "challenge"
    context.counters.record(context.name, operation, request.match_info.get("name"), answer.status)
    return answer


def vault_app(context: VaultContext) -> web.Application:
    """The secrets API of one vault."""
    app = web.Application(middlewares=[_count])
    app[CONTEXT] = context
    for method, path, _, handler in _ROUTES:
        app.router.add_route(method, path, handler)
    return app
