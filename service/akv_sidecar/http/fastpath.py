"""The outermost ASGI layer: cache hits served from prebuilt bytes, in front of the guarded app.

A ``GET /v1/vaults/{vault}/secrets/{name}`` that is a cache hit for an authorised caller, within
every request limit (the request checks of ``checks``, the same the guard applies), with no body,
costs one pass over the headers, a hash of the Authorization header and a few
dict lookups: its path was split and checked when it first served a hit, and its headers and body
were rendered by an earlier read (see `Reads.fast`). Everything else
(misses, errors, other routes, requests over a limit) goes to the request guard and FastAPI behind
it, with ``Cache-Control: no-store`` added.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from akv_sidecar.cache.store import Key
from akv_sidecar.config.fields import SECRET_NAME, VAULT_NAME
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.http.checks import Admitted
from akv_sidecar.http.guard import RequestGuard
from akv_sidecar.http.reads import Reads, Rendered, peer
from akv_sidecar.ops.metrics import Metrics

__all__ = ["FastPath"]

_NO_STORE = (b"cache-control", b"no-store")
_SECRETS_ROOT = ["v1", "vaults"]  # /v1/vaults/{vault}/secrets/{name}
_MAX_KNOWN_PATHS = 4096  # read paths repeat


class FastPath:
    def __init__(self, app: RequestGuard, reads: Reads, metrics: Metrics) -> None:
        self.app = app
        self._reads = reads
        self._metrics = metrics
        self._inspect = app.checks.inspect
        self._known_paths: BoundedMap[str, Key] = BoundedMap(_MAX_KNOWN_PATHS)  # -> (vault, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            path = scope["path"]
            key = self._known_paths.get(path)
            served = self._first_hit(scope, path) if key is None else self._hit(scope, key)
            if served is not None:
                await send(served.start)
                await send(served.body)
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _NO_STORE]
            await send(message)

        await self.app(scope, receive, send_no_store)

    def _first_hit(self, scope: Scope, path: str) -> Rendered | None:
        """A hit on a path not seen yet: parsed, and remembered once it served a hit.

        Only paths that served a caller are kept, so no one can fill the map with made-up paths.
        """
        key = _secret_key(path)
        if key is None:
            return None
        served = self._hit(scope, key)
        if served is not None:
            self._known_paths[path] = key
        return served

    def _hit(self, scope: Scope, key: Key) -> Rendered | None:
        """The prebuilt response of a cache hit within every limit, or None for the full path.

        The checks are the guard's own: whatever they refuse, the guard answers.
        """
        checked = self._inspect(scope["headers"])
        if (
            type(checked) is not Admitted
            or checked.authorization is None
            or checked.chunked
            or checked.content_length
        ):
            return None
        served = self._reads.fast(checked.authorization, key, peer(scope))
        if served is not None:
            self._metrics.fast_hits += 1
        return served


def _secret_key(path: str) -> Key | None:
    """The cache key of a well-formed secret read path, or None for anything else.

    Names are checked before lower-casing: str.lower() maps some non-ASCII letters to ASCII ones
    (the Kelvin sign to "k"), and the full path would refuse those names.
    """
    parts = path.split("/")
    if len(parts) != 6 or parts[1:3] != _SECRETS_ROOT or parts[4] != "secrets":
        return None
    vault, name = parts[3], parts[5]
    if not VAULT_NAME.match(vault) or not SECRET_NAME.match(name):
        return None
    return vault.lower(), name.lower()
