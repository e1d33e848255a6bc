"""The request checks: one implementation, applied to every request on both paths.

The fast path (``fastpath``, in the server's protocol) and the request guard (``guard``) both call
``RequestChecks.inspect`` on a request's headers, so a request gets the same answer whether or not
it is a cache hit: the fast path serves only what ``inspect`` admits and leaves every refusal to the
guard, which answers it. In the order they are applied, a request is refused when

- it was relayed (`X-Forwarded-For`, `Forwarded` or `X-Real-IP`, the headers proxies add) and
  limits.forwarded_for is `reject` (400 ForwardedRequest): a sidecar reached through a proxy is
  usually a request forgery (SSRF);
- its headers exceed limits.max_headers or limits.max_header_bytes, names and values summed (431);
- it carries more than one `Authorization` header (400 DuplicateAuthorization): servers and
  proxies disagree on which one counts, so no caller is guessed;
- its announced body (`Content-Length`) exceeds limits.max_body_bytes, whatever the method (413);
  a chunked body is counted as it arrives, by the guard;
- more than limits.max_connections connections are open (429, `Retry-After: 1`), unless it is a
  probe: the server closes idle connections first (``server.connections``), so this means every
  connection is busy, and a pod whose probes failed then would be restarted and lose its cache.

What is admitted comes back as ``Admitted``: the one `Authorization` header, as the caller's bytes,
whether a body follows, and whether it was relayed (admitted only with limits.forwarded_for
`allow`; uvicorn then names the client from the relay's headers, so only the full path serves it).
Who the caller is (``auth.Authenticator.identify``) and how old a value is
(``cache.store.age_tenths``) are likewise one function each, used by both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from akv_sidecar.config.schema import LimitsConfig
from akv_sidecar.http.errors import ApiError

__all__ = ["Admitted", "RequestChecks", "body_too_large_error", "too_busy_error"]

Headers = Iterable[tuple[bytes, bytes]]
# Every header a proxy adds to name the client: refusing one of them only would be no defence.
_FORWARDING = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})
_NOTED = _FORWARDING | {b"content-length", b"transfer-encoding"}


class Admitted(NamedTuple):
    """A request within every limit: its Authorization header, what its body announces, and
    whether a proxy relayed it."""

    authorization: bytes | None
    content_length: int | None
    chunked: bool
    forwarded: bool

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


# tuple.__new__ skips the NamedTuple constructor's Python frame: this runs on every cache hit.
_admitted = tuple.__new__


class RequestChecks:
    """The limits of one service, checked over a request's raw headers in one pass."""

    def __init__(
        self, limits: LimitsConfig, open_connections: Callable[[], int] | None = None
    ) -> None:
        self._limits = limits
        self._reject_forwarded = limits.forwarded_for == "reject"
        self._open_connections = open_connections

    def inspect(
        self, headers: list[tuple[bytes, bytes]], *, probe: bool = False
    ) -> Admitted | ApiError:
        """``Admitted`` for a request within every limit, else the error to answer it with;
        a ``probe`` (answered from memory) is not refused for the connection limit."""
        limits = self._limits
        size = 0
        authorization, authorizations = None, 0
        length, chunked, forwarded = None, False, False
        for name, value in headers:
            size += len(name) + len(value)
            if name == b"authorization":
                authorization = value
                authorizations += 1
            elif name in _NOTED:  # one set lookup for every other header: the hit path runs this
                if name == b"content-length":
                    length = int(value) if value.isdigit() else None
                elif name == b"transfer-encoding":
                    chunked = True
                else:
                    forwarded = True
        if forwarded and self._reject_forwarded:
            return ApiError(
                400,
                "ForwardedRequest",
                "Requests relayed through a proxy (X-Forwarded-For, Forwarded, X-Real-IP) are"
                " refused. Call the sidecar directly, or set limits.forwarded_for: allow if it"
                " runs behind a trusted proxy.",
            )
        if size > limits.max_header_bytes or len(headers) > limits.max_headers:
            return ApiError(431, "HeadersTooLarge", "The request headers are too large.")
        if authorizations > 1:
            return ApiError(
                400,
                "DuplicateAuthorization",
                f"The request carries {authorizations} Authorization headers; send exactly one.",
            )
        if length is not None and length > limits.max_body_bytes:
            return body_too_large_error(limits)
        connections = self._open_connections
        if not probe and connections is not None and connections() > limits.max_connections:
            return too_busy_error()
        return _admitted(Admitted, (authorization, length, chunked, forwarded))


def body_too_large_error(limits: LimitsConfig) -> ApiError:
    return ApiError(
        413,
        "PayloadTooLarge",
        f"The request body is larger than {limits.max_body_bytes} bytes;"
        " send fewer secrets per batch.",
    )


def too_busy_error() -> ApiError:
    return ApiError(
        429, "TooManyRequests", "The sidecar is at capacity; retry shortly.", {"Retry-After": "1"}
    )
