"""The fast path: cache hits answered below ASGI, and the outermost ASGI layer for the rest.

A ``GET /v1/vaults/{vault}/secrets/{name}`` that is a cache hit for an authorised caller, within
every request limit (the request checks of ``checks``, the same the guard applies), with no body,
is answered by the server's connection protocol (``server.connections``) from bytes an earlier
read rendered (see `Reads.fast`): no task, no ASGI scope, no message. ``Hits.answer`` is what it
asks: one pass over the headers, a hash of the Authorization header and a few dict lookups, since
a request target is split and checked when it first served a hit and remembered after.

Everything else (misses, errors, other routes, requests over a limit, relayed ones, hits pipelined
behind a request still being answered) reaches the ASGI app: ``FastPath``, which adds
``Cache-Control: no-store`` (as the hits carry) and hands it to the request guard and FastAPI. It
answers no hit itself: a server other than the sidecar's own serves every read on the full path,
the same answers, only slower; one implementation of a hit is enough.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from akv_sidecar.cache.store import Key
from akv_sidecar.config.fields import SECRET_NAME, VAULT_NAME
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.http.checks import Admitted, RequestChecks
from akv_sidecar.http.guard import RequestGuard
from akv_sidecar.http.reads import Reads, Rendered
from akv_sidecar.ops.metrics import Metrics

__all__ = ["FastPath", "Hits", "secret_names"]

_NO_STORE = (b"cache-control", b"no-store")
_SECRETS_ROOT = ["", "v1", "vaults"]  # /v1/vaults/{vault}/secrets/{name}
_MAX_KNOWN_TARGETS = 4096  # read paths repeat


class Hits:
    """Recognises a cache hit from a GET request's raw target and headers, for the protocol."""

    def __init__(self, reads: Reads, metrics: Metrics, checks: RequestChecks) -> None:
        self._fast = reads.fast
        self._metrics = metrics
        self._inspect = checks.inspect
        self._known: BoundedMap[bytes, Key] = BoundedMap(_MAX_KNOWN_TARGETS)  # -> (vault, name)

    def answer(
        self, target: bytes, headers: list[tuple[bytes, bytes]], client: str
    ) -> Rendered | None:
        """The rendered hit for a GET of ``target`` (its bytes as sent) from ``client`` (the peer
        address, or "unix"), or None: the full path answers it, refusals included.

        The checks are the guard's own: whatever they refuse, the guard answers.
        """
        key = self._known.get(target)
        known = key is not None
        if key is None:
            key = _secret_key(target)
            if key is None:
                return None
        checked = self._inspect(headers)
        if type(checked) is not Admitted:
            return None
        authorization, length, chunked, forwarded = checked  # one unpack, not four lookups
        if authorization is None or length or chunked or forwarded:
            return None
        served = self._fast(authorization, key, client)
        if served is not None:
            self._metrics.fast_hits += 1
            if not known:  # only targets that served a caller: no one fills the map
                self._known[target] = key
        return served


class FastPath:
    """The ASGI app: ``Cache-Control: no-store`` on every answer, in front of the guard.

    ``.app`` is the request guard, ``.hits`` what the server's protocol asks about a request.
    """

    def __init__(self, app: RequestGuard, reads: Reads, metrics: Metrics) -> None:
        self.app = app
        self.hits = Hits(reads, metrics, app.checks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)


def _secret_key(target: bytes) -> Key | None:
    """The cache key of a well-formed secret read target, or None for anything else.

    The names' patterns admit letters, digits and hyphens only, so a target they accept has no
    query, fragment or escape, and is the very path the full path would route. Names are checked
    before lower-casing: str.lower() maps some non-ASCII letters to ASCII ones (the Kelvin sign to
    "k"), and the full path would refuse those names.
    """
    if not target.isascii():
        return None
    names = secret_names(target.decode("ascii"))
    return None if names is None else (names[0].lower(), names[1].lower())


def secret_names(path: str) -> tuple[str, str] | None:
    """(vault, name) as written in a secret read path ``/v1/vaults/{vault}/secrets/{name}`` whose
    names FastAPI's route accepts, or None for any other path."""
    parts = path.split("/")
    if len(parts) != 6 or parts[:3] != _SECRETS_ROOT or parts[4] != "secrets":
        return None
    if not VAULT_NAME.match(parts[3]) or not SECRET_NAME.match(parts[5]):
        return None
    return parts[3], parts[5]
