"""A local Azure Key Vault (secrets API) emulator for development and tests.

``with Emulator(vaults=("demo",)) as emu:`` serves each vault over HTTPS with its own CA, an
App Service style managed-identity token endpoint and a plain-HTTP admin API, with fault
injection and exact request counters.
"""

from ._cli import main
from ._config import DEFAULT_TENANT, EmulatorConfig
from ._emulator import Emulator
from ._exceptions import EmulatorError, FaultError, KeyVaultError, SeedError, UnknownVaultError
from ._faults import Fault

__all__ = [
    "DEFAULT_TENANT",
    "Emulator",
    "EmulatorConfig",
    "EmulatorError",
    "Fault",
    "FaultError",
    "KeyVaultError",
    "SeedError",
    "UnknownVaultError",
    "main",
]
