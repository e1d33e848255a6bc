"""Reading Key Vault directly, for when the sidecar is unreachable and AKV_SIDECAR_FALLBACK=direct.

azure-identity and azure-keyvault-secrets are imported only here and only when the fallback is
used, so `import akv_client` needs httpx alone. Azure's exceptions become `SidecarError`s here.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._config import FallbackConfig
from ._exceptions import (
    Forbidden,
    SecretNotFound,
    SidecarError,
    SidecarTimeout,
    SidecarUnavailable,
    Unauthorized,
    UpstreamError,
)
from ._secret import Secret

__all__ = ["DirectKeyVault"]

_MAX_WORKERS = 8


class DirectKeyVault:
    """One SecretClient per vault, made on first use and shared by every thread."""

    def __init__(self, config: FallbackConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._credential: Any = None
        self._clients: dict[str, Any] = {}

    def fetch_all(
        self, items: Sequence[tuple[str, str, str | None]], timeout: float
    ) -> list[Secret | SidecarError]:
        if len(items) == 1:
            return [self.fetch(*items[0], timeout=timeout)]
        with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(items))) as pool:
            return list(pool.map(lambda item: self.fetch(*item, timeout=timeout), items))

    def fetch(
        self, vault: str, name: str, version: str | None, *, timeout: float
    ) -> Secret | SidecarError:
        try:
            client = self._client(vault, timeout)
            bundle = client.get_secret(name, version, read_timeout=timeout)
        except ImportError:
            return SidecarUnavailable(
                vault,
                name,
                detail="the direct fallback needs azure-identity and azure-keyvault-secrets "
                "(pip install 'akv-sidecar[fallback]')",
            )
        except Exception as exc:  # every Azure error is translated below
            return _translate(exc, vault, name, timeout)
        props = bundle.properties
        return Secret(
            vault=vault,
            name=name,
            value=bundle.value or "",
            version=props.version,
            content_type=props.content_type,
            tags=dict(props.tags or {}),
            enabled=bool(props.enabled),
            cache="direct",
        )

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            if self._credential is not None:
                self._credential.close()
                self._credential = None

    def _client(self, vault: str, timeout: float) -> Any:
        from azure.identity import DefaultAzureCredential
        from azure.keyvault.secrets import SecretClient

        with self._lock:
            if vault not in self._clients:
                if self._credential is None:
                    self._credential = DefaultAzureCredential()
                url = self._config.vault_url(vault)
                options: dict[str, Any] = {"retry_total": 0, "connection_timeout": timeout}
                if not url.split("/")[2].endswith(".vault.azure.net"):
                    options["verify_challenge_resource"] = False
                if self._config.ca_file:
                    options["connection_verify"] = self._config.ca_file
                self._clients[vault] = SecretClient(url, self._credential, **options)
            return self._clients[vault]


def _translate(exc: Exception, vault: str, name: str, timeout: float) -> SidecarError:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    kind = type(exc).__name__
    if isinstance(exc, ResourceNotFoundError):
        return SecretNotFound(vault, name, detail="direct read: SecretNotFound", status=404)
    if isinstance(exc, ClientAuthenticationError):
        return Unauthorized(vault, name, detail=f"direct read: no Azure credential ({kind})")
    if isinstance(exc, HttpResponseError) and exc.status_code == 403:
        return Forbidden(vault, name, detail="direct read: Key Vault denied access", status=403)
    if isinstance(exc, ServiceResponseError) and "timed out" in str(exc).lower():
        return SidecarTimeout(vault, name, detail=f"direct read: no answer within {timeout:g}s")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return SidecarUnavailable(
            vault, name, detail=f"direct read: cannot reach the vault ({kind})"
        )
    return UpstreamError(vault, name, detail=f"direct read failed ({kind})")
