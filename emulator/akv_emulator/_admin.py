"""Admin API (plain HTTP, JSON): counters, faults, identity failures, unauthenticated secret set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._exceptions import EmulatorError, KeyVaultError, UnknownVaultError, bad_parameter
from ._faults import Fault
from ._seed import load_seed
from ._vault_api import error_response, json_body

if TYPE_CHECKING:
    from ._core import Core

CORE: web.AppKey[Core] = web.AppKey("core")


def _status_filter(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit():
        raise bad_parameter(f"status must be an integer, got {raw!r}")
    return int(raw)


async def _counters(request: web.Request) -> web.Response:
    core = request.app[CORE]
    query = request.query
    filters = (query.get("vault"), query.get("op"), query.get("secret"))
    status = _status_filter(query.get("status"))
    count = core.counters.count(*filters, status)
    return web.json_response({"count": count, "counters": core.counters.snapshot(*filters, status)})


async def _reset_counters(request: web.Request) -> web.Response:
    request.app[CORE].counters.reset()
    return web.json_response({"count": 0, "counters": []})


async def _faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[CORE].faults.snapshot()})


async def _inject(request: web.Request) -> web.Response:
    core = request.app[CORE]
    body = await json_body(request)
    vault = body.pop("vault", core.config.vaults[0])
    secret = body.pop("secret", None)
    await core.inject(str(vault), secret, Fault.from_mapping(body))
    return web.json_response({"faults": core.faults.snapshot()})


async def _clear(request: web.Request) -> web.Response:
    core = request.app[CORE]
    await core.clear_faults(request.query.get("vault"))
    return web.json_response({"faults": core.faults.snapshot()})


async def _identity(request: web.Request) -> web.Response:
    body = await json_body(request)
    status, refuse = body.get("status"), body.get("refuse", False)
    if (status is not None and not isinstance(status, int)) or not isinstance(refuse, bool):
        raise bad_parameter('expected {"status": int | null, "refuse": bool}')
    await request.app[CORE].fail_identity(status, refuse)
    return web.json_response({"status": status, "refuse": refuse})


async def _put_secret(request: web.Request) -> web.Response:
    core = request.app[CORE]
    vault, name = request.match_info["vault"], request.match_info["name"]
    body = await json_body(request)
    spec = load_seed({"secrets": {name: body}}, [vault])[vault][0]
    version = core.set_secret(vault, spec)
    return web.json_response({"vault": vault, "name": version.name, "version": version.version})


async def _info(request: web.Request) -> web.Response:
    return web.json_response(request.app[CORE].info)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """The one place the admin API turns errors into JSON 4xx answers."""
    try:
        response: web.StreamResponse = await handler(request)
    except KeyVaultError as error:
        return error_response(error)
    except UnknownVaultError as error:
        return _error(404, "VaultNotFound", str(error))
    except EmulatorError as error:  # FaultError and the rest: the request asked for the wrong thing
        return _error(400, "BadParameter", str(error))
    except web.HTTPException as error:
        return _error(error.status, error.reason.replace(" ", ""), error.reason)
    return response


def admin_app(core: Core) -> web.Application:
    """The admin API over core."""
    app = web.Application(middlewares=[_errors])
    app[CORE] = core
    app.router.add_get("/admin/info", _info)
    app.router.add_get("/admin/counters", _counters)
    app.router.add_post("/admin/counters/reset", _reset_counters)
    app.router.add_get("/admin/faults", _faults)
    app.router.add_post("/admin/faults", _inject)
    app.router.add_delete("/admin/faults", _clear)
    app.router.add_post("/admin/identity", _identity)
    app.router.add_put("/admin/vaults/{vault}/secrets/{name}", _put_secret)
    return app
