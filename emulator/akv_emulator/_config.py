"""The emulator's settings, with every default in one place."""

from __future__ import annotations

from dataclasses import dataclass

from ._identity import IDENTITY_COUNTER_VAULT
from ._seed import SeedSource

# A made-up tenant: challenges name it, nothing checks it.
DEFAULT_TENANT = "00000000-0000-4000-8000-0000000a4e11"


@dataclass(frozen=True)
class EmulatorConfig:
    """What to serve and where. port > 0 gives the first vault that port, the next vault +1, ...

    cert_dir None writes the CA and server certificate to a temporary directory removed at stop.
    random_seed makes latency ranges and error rates repeatable. api_versions, newest first, makes
    the vaults refuse every other api-version with 400 BadParameter, as a Key Vault that lags
    behind the SDK does (Azure Stack Hub, sovereign clouds); None accepts what Azure accepts.
    """

    vaults: tuple[str, ...] = ("demo",)
    seed: SeedSource = None
    cert_dir: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    admin_port: int = 0
    identity_port: int = 0
    tenant_id: str = DEFAULT_TENANT
    random_seed: int | None = None
    api_versions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.vaults:
            raise ValueError("vaults: at least one vault name is needed")
        if IDENTITY_COUNTER_VAULT in self.vaults:
            raise ValueError(
                f"vaults: {IDENTITY_COUNTER_VAULT!r} names the token endpoint's counters"
            )
        if len({v.lower() for v in self.vaults}) != len(self.vaults):
            raise ValueError(f"vaults: names must be unique, got {list(self.vaults)}")
        if self.api_versions is not None and not self.api_versions:
            raise ValueError("api_versions: name at least one version, or None for any")
        ports = (("port", self.port), ("admin_port", self.admin_port))
        for name, port in (*ports, ("identity_port", self.identity_port)):
            if not 0 <= port <= 65535:
                raise ValueError(f"{name}: must be 0..65535, got {port}")


DEFAULTS = EmulatorConfig()
