"""`SidecarClient`: reads secrets from the akv-sidecar over loopback HTTP (or a Unix socket)."""

from __future__ import annotations

import atexit
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpcore
import httpx

from ._config import ClientConfig
from ._deadline import Deadline, backoff_delay, deadline_scope
from ._errors import RETRY_STATUSES, from_error_body, from_network_error, from_status
from ._exceptions import SidecarError, SidecarTimeout, SidecarUnavailable
from ._fallback import DirectKeyVault
from ._secret import AccessToken, Secret, VendedSas
from ._transport import DeadlineTransport

__all__ = ["FallbackWarning", "SecretRef", "SidecarClient", "SidecarStatus", "shared_client"]

SecretRef = tuple[str, str] | tuple[str, str, str | None]
STORAGE_SCOPE = "https://storage.azure.com/.default"
_V = TypeVar("_V")
_NETWORK_ERRORS = (httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError)


class FallbackWarning(UserWarning):
    """The sidecar was unreachable and AKV_SIDECAR_FALLBACK=direct read Key Vault directly."""


@dataclass(frozen=True)
class SidecarStatus:
    """What `GET /healthz` and `GET /readyz` said; `detail` is the readiness body."""

    url: str
    reachable: bool
    ready: bool
    detail: Any = None


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: httpx.Headers
    body: Any


class SidecarClient:
    """Thread-safe, connection-pooled client of the sidecar; use it as a context manager.

    Arguments left out come from AKV_SIDECAR_URL (default http://127.0.0.1:8787),
    AKV_SIDECAR_TOKEN or AKV_SIDECAR_TOKEN_FILE (`token_file=` reads the token from a file and beats
    both). `timeout` is the overall deadline of each call, retries and backoff included; `retries`
    applies to connection errors and 502/503/504 only.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        uds: str | None = None,
        token_file: str | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            url, token, timeout=timeout, retries=retries, uds=uds, token_file=token_file
        )
        headers = {"Accept": "application/json", "User-Agent": "akv-client"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        self._http = httpx.Client(
            base_url=self.config.url,
            headers=headers,
            transport=DeadlineTransport(uds=self.config.uds),
        )
        self._direct_lock = threading.Lock()
        self._direct: DirectKeyVault | None = None

    @property
    def url(self) -> str:
        return self.config.url

    def __repr__(self) -> str:
        via = f", uds={self.config.uds!r}" if self.config.uds else ""
        return f"SidecarClient(url={self.config.url!r}{via})"

    def __enter__(self) -> SidecarClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        if self._direct is not None:
            self._direct.close()

    def get_secret(
        self, vault: str, name: str, version: str | None = None, *, timeout: float | None = None
    ) -> Secret:
        """The secret's current (or given) version, from the sidecar's cache."""
        path = f"/v1/vaults/{_segment(vault)}/secrets/{_segment(name)}"
        params = {"version": version} if version else None
        deadline = self._deadline(timeout)
        try:
            answer = self._call("GET", path, vault, name, deadline, params=params)
        except SidecarUnavailable as exc:
            (direct,) = self._fallback(exc, [(vault, name, version)], deadline)
            if isinstance(direct, SidecarError):
                raise direct from None
            return direct
        return Secret.from_json(answer.body, cache=answer.headers.get("X-Cache"))

    def get_secrets(
        self, refs: Iterable[SecretRef], *, timeout: float | None = None
    ) -> list[Secret | SidecarError]:
        """Many secrets in one batch request: in request order, each a Secret or the error for it.

        `refs` are `(vault, name)` or `(vault, name, version)`. An error that hits the whole request
        (unreachable sidecar, bad token, deadline) is returned for every item.
        """
        items = [_ref(ref) for ref in refs]
        if not items:
            return []
        payload = {"secrets": [_batch_item(*item) for item in items]}
        deadline = self._deadline(timeout)
        try:
            batch = "/v1/secrets:batch"
            answer = self._call("POST", batch, None, None, deadline, json_body=payload)
        except SidecarUnavailable as exc:
            return self._fallback(exc, items, deadline)
        except SidecarError as exc:
            return [_for_item(exc, vault, name) for vault, name, _ in items]
        results = answer.body.get("results") if isinstance(answer.body, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            error = SidecarError(detail="the batch answer does not match the request")
            return [_for_item(error, vault, name) for vault, name, _ in items]
        return [
            _batch_outcome(result, vault, name)
            for result, (vault, name, _) in zip(results, items, strict=True)
        ]

    def refresh_secret(self, vault: str, name: str, *, timeout: float | None = None) -> Secret:
        """Make the sidecar fetch the secret from Key Vault now (once per 10 s per secret)."""
        path = f"/v1/vaults/{_segment(vault)}/secrets/{_segment(name)}/refresh"
        answer = self._call("POST", path, vault, name, self._deadline(timeout))
        return Secret.from_json(answer.body, cache=answer.headers.get("X-Cache"))

    def get_sas(
        self,
        account: str,
        container: str,
        path: str | None = None,
        permissions: str = "rl",
        ttl: float | None = None,
        *,
        timeout: float | None = None,
    ) -> VendedSas:
        """A SAS for the container (or `path` in it) that the sidecar signs: `permissions` are
        letters of "racwdl", `ttl` seconds (the sidecar's default and maximum apply)."""
        body: dict[str, Any] = {"account": account, "container": container}
        body |= {"path": path} if path else {}
        body["permissions"] = permissions
        body |= {} if ttl is None else {"ttl": int(ttl)}
        subject = f"a SAS for storage container '{account}/{container}'"
        answer = self._vend("/v1/storage/sas", body, subject, timeout)
        return _vended(VendedSas.from_json, answer, subject)

    def get_token(self, scope: str = STORAGE_SCOPE, *, timeout: float | None = None) -> AccessToken:
        """An Entra ID access token of the sidecar's identity for `scope` (default: Storage)."""
        subject = f"an access token for scope '{scope}'"
        answer = self._vend("/v1/tokens", {"scope": scope}, subject, timeout)
        return _vended(AccessToken.from_json, answer, subject)

    def _vend(self, path: str, body: Any, subject: str, timeout: float | None) -> _Answer:
        deadline = self._deadline(timeout)
        return self._call("POST", path, None, None, deadline, json_body=body, subject=subject)

    def status(self, timeout: float = 2.0) -> SidecarStatus:
        """Whether the sidecar answers /healthz and whether /readyz says ready (never raises)."""
        try:
            self._call("GET", "/healthz", None, None, Deadline(timeout), retry=False)
        except SidecarError:
            return SidecarStatus(self.url, reachable=False, ready=False)
        try:
            ready = self._call("GET", "/readyz", None, None, Deadline(timeout), retry=False)
        except SidecarError as exc:
            return SidecarStatus(self.url, reachable=True, ready=False, detail=exc.detail)
        return SidecarStatus(self.url, reachable=True, ready=True, detail=ready.body)

    def wait_until_ready(self, timeout: float = 30.0, *, poll_interval: float = 0.1) -> None:
        """Return once /readyz answers 200; raise SidecarTimeout if it does not within `timeout`."""
        deadline = Deadline(timeout)
        while True:
            try:
                self._call("GET", "/readyz", None, None, deadline, retry=False)
            except SidecarTimeout:
                break
            except SidecarError:
                if deadline.remaining() <= poll_interval:
                    break
                time.sleep(poll_interval)
            else:
                return
        raise SidecarTimeout(detail=f"{self.url}/readyz did not answer 200 within {timeout:g}s")

    def _call(
        self,
        method: str,
        path: str,
        vault: str | None,
        name: str | None,
        deadline: Deadline,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        retry: bool = True,
        subject: str | None = None,
    ) -> _Answer:
        attempts = 1 + (self.config.retries if retry else 0)
        with deadline_scope(deadline):
            for attempt in range(attempts):
                try:
                    answer = self._exchange(method, path, params, json_body, deadline)
                except _NETWORK_ERRORS as exc:
                    failure = from_network_error(
                        exc, self.url, deadline.timeout, vault, name, subject=subject
                    )
                    if isinstance(failure, SidecarTimeout):
                        raise failure from None
                else:
                    if answer.status < 400:
                        return answer
                    failure = from_status(answer.status, answer.body, vault, name, subject=subject)
                    if answer.status not in RETRY_STATUSES:
                        raise failure
                delay = backoff_delay(attempt, self.config.backoff_base, self.config.backoff_max)
                if attempt + 1 == attempts or delay >= deadline.remaining():
                    break
                time.sleep(delay)
        raise failure

    def _exchange(
        self, method: str, path: str, params: Any, json_body: Any, deadline: Deadline
    ) -> _Answer:
        left = deadline.remaining()
        if left <= 0.0:
            raise httpcore.ConnectTimeout("the call's deadline passed before sending")
        response = self._http.request(
            method, path, params=params, json=json_body, timeout=httpx.Timeout(left)
        )
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        return _Answer(response.status_code, response.headers, body)

    def _fallback(
        self,
        failure: SidecarUnavailable,
        items: Sequence[tuple[str, str, str | None]],
        deadline: Deadline,
    ) -> list[Secret | SidecarError]:
        """Read Key Vault directly when allowed and the sidecar is unreachable; else re-raise."""
        if not self.config.fallback.enabled or failure.status is not None:
            raise failure
        if deadline.expired:  # the sidecar attempts used the whole budget: none left to go direct
            raise failure
        with self._direct_lock:
            if self._direct is None:
                self._direct = DirectKeyVault(self.config.fallback)
        warnings.warn(
            f"The sidecar at {self.url} is unreachable; reading Key Vault directly because "
            "AKV_SIDECAR_FALLBACK=direct.",
            FallbackWarning,
            stacklevel=3,
        )
        return self._direct.fetch_all(items, deadline.remaining())

    def _deadline(self, timeout: float | None) -> Deadline:
        return Deadline(self.config.timeout if timeout is None else timeout)


_shared_lock = threading.Lock()
_shared: dict[tuple[str, str | None, str | None], SidecarClient] = {}


def shared_client() -> SidecarClient:
    """The process-wide client for the current AKV_SIDECAR_* settings, made on first use."""
    config = ClientConfig.resolve()
    key = (config.url, config.token, config.uds)
    with _shared_lock:
        if key not in _shared:
            if not _shared:
                atexit.register(_close_shared)
            _shared[key] = SidecarClient(config.url, config.token, uds=config.uds)
        return _shared[key]


def _close_shared() -> None:
    with _shared_lock:
        for client in _shared.values():
            client.close()
        _shared.clear()


def _segment(value: str) -> str:
    return quote(value, safe="")


def _ref(ref: SecretRef) -> tuple[str, str, str | None]:
    vault, name, *rest = ref
    return vault, name, rest[0] if rest else None


def _batch_item(vault: str, name: str, version: str | None) -> dict[str, str]:
    return {"vault": vault, "name": name} | ({"version": version} if version else {})


def _batch_outcome(result: Any, vault: str, name: str) -> Secret | SidecarError:
    if isinstance(result, dict) and "error" in result:
        return from_error_body(result["error"], vault, name)
    if isinstance(result, dict) and "value" in result:
        return Secret.from_json(result)
    return SidecarError(vault, name, detail="the batch answer has no value for this item")


def _vended(parse: Callable[[Any], _V], answer: _Answer, subject: str) -> _V:
    """The vended credential in the answer; a malformed answer's content is never repeated."""
    try:
        return parse(answer.body)
    except (KeyError, TypeError, ValueError, AttributeError):
        detail = "its answer is not the credential the API describes"
        raise SidecarError(detail=detail, status=answer.status, subject=subject) from None


def _for_item(error: SidecarError, vault: str, name: str) -> SidecarError:
    return type(error)(vault, name, detail=error.detail, code=error.code, status=error.status)
