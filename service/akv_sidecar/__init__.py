"""akv-sidecar: Azure Key Vault secrets for Spark drivers, prefetched, cached, served on loopback.

The service is normally run as ``akv-sidecar serve --config FILE``; this package's public surface
is what that command is built from. Test helpers live in ``akv_sidecar.testing``.

Names are imported when first used (PEP 562): ``from akv_sidecar import Config`` costs the config
schema, not FastAPI and the Azure SDK, so a process that needs one part (the bench's bare app, the
CLI's ``--version``) does not pay for all of them at start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import akv_sidecar._python  # noqa: F401  (the Python version guard, first)

if TYPE_CHECKING:
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

_SCHEMA = "akv_sidecar.config.schema"
_WHERE = {
    "ApiError": "akv_sidecar.http.errors",
    "AuthConfig": _SCHEMA,
    "CacheConfig": _SCHEMA,
    "Clock": "akv_sidecar.core.clock",
    "Config": _SCHEMA,
    "ConfigError": "akv_sidecar.core.errors",
    "CredentialConfig": _SCHEMA,
    "FakeClock": "akv_sidecar.core.clock",
    "LimitsConfig": _SCHEMA,
    "ListenConfig": _SCHEMA,
    "Sidecar": "akv_sidecar.server.sidecar",
    "SidecarError": "akv_sidecar.core.errors",
    "SystemClock": "akv_sidecar.core.clock",
    "TokenConfig": _SCHEMA,
    "UpstreamConfig": _SCHEMA,
    "VaultConfig": _SCHEMA,
    "__version__": "akv_sidecar.core.version",
    "create_app": "akv_sidecar.http.app",
    "load_config": "akv_sidecar.config.loading",
}
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'akv_sidecar' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
