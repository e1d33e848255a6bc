"""Every error the client raises, one tree:

    SidecarError            anything that went wrong talking to the sidecar
    ├── SidecarUnavailable  cannot connect, or 503: the sidecar is not ready or has no value
    ├── SidecarTimeout      the call's deadline passed, or 504 (also a builtin TimeoutError)
    ├── Unauthorized        401: no or malformed token
    ├── Forbidden           403: unknown token, or the secret is outside the caller's allow list
    ├── SecretNotFound      404: no such secret (or vault not configured, or secret disabled)
    ├── UpstreamError       502: Key Vault answered with an error
    ├── InvalidRequest      400: a name Key Vault would reject
    └── RateLimited         429: e.g. a refresh of the same secret within 10 s

Each message names the vault and secret (or, for vended credentials, the storage container or the
token scope: `subject`) and says what to check; none contains a secret value, SAS or token.
"""

from __future__ import annotations

__all__ = [
    "Forbidden",
    "InvalidRequest",
    "RateLimited",
    "SecretNotFound",
    "SidecarError",
    "SidecarTimeout",
    "SidecarUnavailable",
    "Unauthorized",
    "UpstreamError",
]


class SidecarError(Exception):
    """Base of every client error; `vault`, `name` and the sidecar's `code` travel with it.

    `subject` replaces the vault and secret in messages for calls about something else, e.g.
    "a SAS for storage container 'acct/data'"; such errors give `vend_advice` where it differs.
    """

    advice = "Check the sidecar's logs."
    vend_advice: str | None = None

    def __init__(
        self,
        vault: str | None = None,
        name: str | None = None,
        *,
        detail: str = "",
        code: str | None = None,
        status: int | None = None,
        subject: str | None = None,
    ) -> None:
        self.vault = vault
        self.name = name
        self.detail = detail
        self.code = code
        self.status = status
        self.subject = subject
        if subject and self.vend_advice:
            self.advice = self.vend_advice
        super().__init__(self._message())

    @property
    def target(self) -> str:
        """What the call was about, for messages: `'kv1/bronze'` or the whole sidecar."""
        if self.subject:
            return self.subject
        if self.vault and self.name:
            return f"Key Vault secret '{self.vault}/{self.name}'"
        if self.vault:
            return f"Key Vault '{self.vault}'"
        return "the sidecar"

    def _message(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.summary()}{detail}. {self.advice}"

    def summary(self) -> str:
        return f"Request for {self.target} failed"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep pickling (multiprocessing, Spark) working with keyword-only fields.
        fields = (self.vault, self.name, self.detail, self.code, self.status, self.subject)
        return (_rebuild, (type(self), *fields))


def _rebuild(
    cls: type[SidecarError],
    vault: str | None,
    name: str | None,
    detail: str,
    code: str | None,
    status: int | None,
    subject: str | None = None,
) -> SidecarError:
    return cls(vault, name, detail=detail, code=code, status=status, subject=subject)


class SidecarUnavailable(SidecarError):
    advice = (
        "Check that the sidecar is running and AKV_SIDECAR_URL points at it "
        "(default http://127.0.0.1:8787), and GET /readyz for secrets that failed to load."
    )

    def summary(self) -> str:
        return f"The sidecar could not serve {self.target}"


class SidecarTimeout(SidecarError, TimeoutError):
    advice = (
        "Check that the sidecar is healthy (GET /healthz) and that Key Vault is reachable from it, "
        "or allow a longer timeout."
    )

    def summary(self) -> str:
        return f"Timed out waiting for {self.target}"


class Unauthorized(SidecarError):
    advice = "Check AKV_SIDECAR_TOKEN or AKV_SIDECAR_TOKEN_FILE: a caller token is required."

    def summary(self) -> str:
        return f"The sidecar refused the request for {self.target}: missing or malformed token"


class Forbidden(SidecarError):
    advice = (
        "Check that the token is one the sidecar knows and that its allow list permits this "
        "vault/secret."
    )
    vend_advice = (
        "Check that the token is one the sidecar knows and that its allow list permits this "
        "storage account and container (or token scope), with these permissions."
    )

    def summary(self) -> str:
        return f"The sidecar denied access to {self.target}"


class SecretNotFound(SidecarError):
    advice = "Check the secret name and that the sidecar's allow list permits it."
    vend_advice = (
        "Check the account and container names and that the sidecar is configured to vend "
        "credentials for that storage account."
    )

    def summary(self) -> str:
        if self.subject:
            route = ": it has no such route (a sidecar older than credential vending?)"
            return f"The sidecar cannot vend {self.target}" + (
                route if self.code == "NotFound" else ""
            )
        if self.code == "VaultNotConfigured":
            return f"{self.target} is in a vault the sidecar is not configured for"
        if self.code == "SecretDisabled":
            return f"{self.target} is disabled in Key Vault"
        return f"{self.target} was not found"


class UpstreamError(SidecarError):
    advice = "Check the sidecar's logs and its identity's access policy/RBAC on the vault."
    vend_advice = (
        "Check the sidecar's logs: it signs a SAS with the account key it reads from Key Vault "
        "and gets tokens with its own identity."
    )

    def summary(self) -> str:
        if self.subject:
            return f"Azure returned an error for {self.target}"
        return f"Key Vault returned an error for {self.target}"


class InvalidRequest(SidecarError):
    advice = "Names are 1-127 characters of letters, digits and hyphens."
    vend_advice = (
        "Check the account and container names, the permissions (letters of 'racwdl') and the ttl "
        "(seconds, within the sidecar's maximum)."
    )

    def summary(self) -> str:
        return f"The sidecar rejected the request for {self.target} as invalid"


class RateLimited(SidecarError):
    advice = "A secret can be refreshed at most once every 10 seconds; read it instead."
    vend_advice = "This caller is over its budget of sidecar calls to Azure; retry in a moment."

    def summary(self) -> str:
        return f"The sidecar rate-limited the request for {self.target}"
