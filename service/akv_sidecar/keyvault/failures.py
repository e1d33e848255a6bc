"""Azure's exceptions as the service's outcomes: the one place that reads them.

Details keep the HTTP status, Key Vault's error code and a clipped message, never a response body.
"""

from __future__ import annotations

import ssl

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)

from akv_sidecar.keyvault.outcomes import Failed, Failure
from akv_sidecar.keyvault.wire import clean_text, retry_after_seconds

__all__ = ["translate"]

_MESSAGE_CHARS = 200  # of Key Vault's error message in a failure's detail


def translate(error: Exception, timeout: float) -> Failed:
    """Azure's exceptions as outcomes; details keep status, code and a clipped message, never
    response bodies."""
    if isinstance(error, TimeoutError | ServiceRequestTimeoutError | ServiceResponseTimeoutError):
        return Failed(Failure.TIMEOUT, f"no answer within {timeout:g} s")
    if isinstance(error, ClientAuthenticationError) and error.status_code is None:
        return Failed(
            Failure.ERROR, f"the credential could not get a token ({type(error).__name__})"
        )
    if isinstance(error, HttpResponseError):
        return _translate_status(error)
    if (refused := _certificate_error(error)) is not None:
        reason = getattr(refused, "verify_message", None) or "certificate verify failed"
        return Failed(
            Failure.UNTRUSTED,
            f"Key Vault's TLS certificate is not trusted ({reason}); check the vault's ca_file, "
            "or a TLS-inspecting proxy on the way",
        )
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return Failed(Failure.ERROR, f"Key Vault could not be reached ({type(error).__name__})")
    return Failed(Failure.ERROR, f"unexpected {type(error).__name__}")


def _certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The innermost certificate verification failure in the error's chain, if any (the
    innermost is ssl's own, which carries the reason; aiohttp's wrapper is one too)."""
    found, seen = None, set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            found = current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return found


def _translate_status(error: HttpResponseError) -> Failed:
    status = error.status_code
    body = error.error
    code = message = ""
    if body is not None:
        code = clean_text(str(body.code or ""), 64)
        message = clean_text(str(body.message or ""), _MESSAGE_CHARS)
    inner = body.innererror if body is not None else {}
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    # Key Vault's code and message say what is wrong (a version it does not know, a firewall);
    # the message is clipped: the body itself is never kept.
    detail = f"HTTP {status} {code}".strip() + (f": {message}" if message else "")
    if status == 429:
        headers = getattr(error.response, "headers", None) or {}
        return Failed(Failure.THROTTLED, detail, retry_after_seconds(headers.get("Retry-After")))
    if status == 403 and (inner_code == "SecretDisabled" or "disabled" in str(error).lower()):
        return Failed(Failure.DISABLED, detail)
    if status in (401, 403):
        return Failed(Failure.FORBIDDEN, detail)
    if status == 404:
        return Failed(Failure.NOT_FOUND, detail)
    return Failed(Failure.ERROR, detail)
