"""akv-sidecar: Azure Key Vault secrets for Spark drivers, prefetched, cached, served on loopback.

The service is normally run as ``akv-sidecar serve --config FILE``; this package's public surface
is what that command is built from. Test helpers live in ``akv_sidecar.testing``.
"""

from ._app import create_app
from ._clock import Clock, FakeClock, SystemClock
from ._config import (
    AuthConfig,
    CacheConfig,
    Config,
    CredentialConfig,
    LimitsConfig,
    ListenConfig,
    TokenConfig,
    UpstreamConfig,
    VaultConfig,
)
from ._exceptions import ApiError, ConfigError, SidecarError
from ._loading import load_config
from ._service import Sidecar

__all__ = [
    "ApiError",
    "AuthConfig",
    "CacheConfig",
    "Clock",
    "Config",
    "ConfigError",
    "CredentialConfig",
    "FakeClock",
    "LimitsConfig",
    "ListenConfig",
    "Sidecar",
    "SidecarError",
    "SystemClock",
    "TokenConfig",
    "UpstreamConfig",
    "VaultConfig",
    "create_app",
    "load_config",
]
