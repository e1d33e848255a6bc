"""akv-sidecar: Azure Key Vault secrets for Spark drivers, prefetched, cached, served on loopback.

The service is normally run as ``akv-sidecar serve --config FILE``; this package's public surface
is what that command is built from. Test helpers live in ``akv_sidecar.testing``.
"""

import akv_sidecar._python  # noqa: F401  (the Python version guard, first)
from akv_sidecar.config.loading import load_config
from akv_sidecar.config.schema import (
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
from akv_sidecar.core.clock import Clock, FakeClock, SystemClock
from akv_sidecar.core.errors import ConfigError, SidecarError
from akv_sidecar.core.version import __version__
from akv_sidecar.http.app import create_app
from akv_sidecar.http.errors import ApiError
from akv_sidecar.server.sidecar import Sidecar

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
    "__version__",
    "create_app",
    "load_config",
]
