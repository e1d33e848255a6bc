"""Callers: who presents which bearer token, and which secrets each may read.

Tokens are read at start (and again when a token file is replaced) and kept only as SHA-256
digests, of the token and of its header 'Bearer <token>'. A presented header is looked up by its
digest; any other form of it has its token hashed and compared in constant time against every
caller.
``allow`` holds fnmatch patterns over "<vault>/<secret>"; decisions are memoised per
(caller, vault, secret).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from akv_sidecar.config.loading import read_secret_setting
from akv_sidecar.config.schema import AuthConfig, TokenConfig
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.http.errors import ApiError

__all__ = ["Authenticator", "Caller", "authorization_header", "read_token"]

MIN_TOKEN_LENGTH = 16
_MAX_DECISIONS = 100_000
_BEARER = b"bearer "
_UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    """A configured caller: its name, allow patterns (lower-cased), whether it is an admin, and
    the most a vended SAS may grant it (None: any permission)."""

    name: str
    allow: tuple[str, ...]
    admin: bool = False
    allow_permissions: str | None = None


def read_token(token: TokenConfig, path: str, source: str) -> str:
    """The caller's token from its file or environment variable; errors name the key."""
    value, where = read_secret_setting(token.token_file, token.token_env, f"{path}.token", source)
    if len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"Invalid value for '{where}' in {source}: the token must have at least "
            f"{MIN_TOKEN_LENGTH} characters (e.g. from `openssl rand -hex 32`)."
        )
    if not (value.isascii() and value.isprintable()) or " " in value:
        # Anything else cannot travel as one 'Bearer <token>' header value.
        raise ConfigError(
            f"Invalid value for '{where}' in {source}: the token must be printable ASCII "
            "without spaces (e.g. from `openssl rand -hex 32`)."
        )
    return value


class Authenticator:
    """Turns an Authorization header into a Caller and answers allow decisions."""

    def __init__(self, config: AuthConfig, source: str) -> None:
        self._config = config
        self._source = source
        self._callers, self._by_header = self._read_callers()
        if not self._callers:
            raise ConfigError(
                f"No caller token configured in {source}: add one under 'auth.tokens'."
            )
        self._decisions: BoundedMap[tuple[str, str, str], bool] = BoundedMap(_MAX_DECISIONS)
        # Set by the token file watcher: looks for replaced token files, True if it reloaded.
        self.recheck: Callable[[], bool] | None = None

    def _read_callers(self) -> tuple[list[tuple[bytes, Caller]], dict[bytes, Caller]]:
        """(token digest, caller) pairs, and callers by the digest of 'Bearer <token>'.

        The hot path looks the whole header's digest up in a dict, comparing digests in variable
        time: that tells an attacker only how much of a SHA-256 output they matched, which says
        nothing about any token. Every other header form is compared in constant time.
        """
        callers, by_header = [], {}
        for index, token in enumerate(self._config.tokens):
            value = read_token(token, f"auth.tokens[{index}]", self._source).encode()
            allow = tuple(pattern.lower() for pattern in token.allow)
            caller = Caller(token.name, allow, token.admin, token.allow_permissions)
            callers.append((_digest(value), caller))
            by_header[_digest(b"Bearer " + value)] = caller
        return callers, by_header

    @property
    def token_files(self) -> list[str]:
        return [token.token_file for token in self._config.tokens if token.token_file is not None]

    def reload(self) -> None:
        """Read every token again and swap the digests in at once; a ConfigError keeps the old."""
        self._callers, self._by_header = self._read_callers()

    def identify(self, authorization: bytes) -> Caller | None:
        """The caller presenting this raw header, or None (malformed or unknown token).

        The one decision of who a caller is, for the fast path and (through ``authenticate``)
        for every other route.
        """
        caller = self._by_header.get(_digest(authorization))
        if caller is not None:  # the usual 'Bearer <token>': one hash and one lookup
            return caller
        token = _bearer_token(authorization)
        return None if token is None else self._match(token)

    def authenticate(self, authorization: bytes | None) -> Caller:
        """The caller of this raw header, or the 401/403 ApiError to answer."""
        if authorization is None or _bearer_token(authorization) is None:
            raise ApiError(
                401,
                "Unauthenticated",
                "Send 'Authorization: Bearer <token>' with a caller token from the sidecar's "
                "auth.tokens configuration.",
                _UNAUTHENTICATED,
            )
        caller = self.identify(authorization)
        if caller is None and self.recheck is not None and self.recheck():
            caller = self.identify(authorization)  # a token rotated a moment ago
        if caller is None:
            raise ApiError(
                403,
                "Forbidden",
                "The bearer token is not one of the sidecar's caller tokens; check the token "
                "file or variable the caller reads.",
            )
        return caller

    def _match(self, token: bytes) -> Caller | None:
        digest = _digest(token)
        found = None
        for expected, caller in self._callers:  # no early exit: timing says nothing about which
            if hmac.compare_digest(digest, expected):
                found = caller
        return found

    def allowed(self, caller: Caller, vault: str, name: str) -> bool:
        """Whether the caller may read vault/name (both lower-cased)."""
        key = (caller.name, vault, name)
        decision = self._decisions.get(key)
        if decision is None:
            target = f"{vault}/{name}"
            decision = any(fnmatch.fnmatchcase(target, pattern) for pattern in caller.allow)
            self._decisions[key] = decision
        return decision

    def may_vend(self, caller: Caller, kind: str, target: str) -> bool:
        """Whether the caller may get a ``kind`` credential ("storage" or "token") for ``target``
        (lower-cased): only a bare "*" or patterns starting with "<kind>/" count, so a pattern
        written for secrets (``*/bronze``, ``*prod*``) never grants a SAS or a token."""
        key = (caller.name, f"{kind}/", target)  # vault names hold no "/": no clash with reads
        decision = self._decisions.get(key)
        if decision is None:
            prefix, full = f"{kind}/", f"{kind}/{target}"
            decision = any(
                pattern == "*"
                or (pattern.startswith(prefix) and fnmatch.fnmatchcase(full, pattern))
                for pattern in caller.allow
            )
            self._decisions[key] = decision
        return decision

    def authorize(self, caller: Caller, vault: str, name: str) -> None:
        """Raise the 403 ApiError unless the caller may read vault/name."""
        if not self.allowed(caller, vault.lower(), name.lower()):
            raise ApiError(
                403,
                "Forbidden",
                f"Caller '{caller.name}' may not read '{vault}/{name}'; add a matching pattern "
                "to its 'allow' list in the sidecar's configuration.",
            )


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _bearer_token(authorization: bytes) -> bytes | None:
    """The token of 'Bearer <token>' as the bytes the caller sent, or None if malformed."""
    if authorization[:7].lower() != _BEARER:
        return None
    token = authorization[7:].strip()
    return token if token and b" " not in token else None


def authorization_header(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The raw Authorization header (the request checks refused any request with two)."""
    for name, value in headers:
        if name == b"authorization":
            return value
    return None
