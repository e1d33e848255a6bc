"""Fixtures shared by every test folder.

``emulator``: a fresh Key Vault emulator serving one vault "kv1" (``emulator.vault_url("kv1")``,
``emulator.ca_file``). ``identity_env``: points azure-identity's ManagedIdentityCredential (and
DefaultAzureCredential) at that emulator's token endpoint and hides other Azure credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from akv_emulator import Emulator
    from tests.client.azurite import AzuriteBlob

# Variables through which azure-identity could pick some other credential than the emulator's.
_AZURE_ENV_PREFIXES = ("AZURE_", "MSI_", "IDENTITY_", "IMDS_")


@pytest.fixture(scope="module")
def azurite() -> Iterator[AzuriteBlob]:
    """Azurite's blob service on a free port (one per test module), with containers 'lake' and
    'other'."""
    from tests.client.azurite import AzuriteBlob

    with AzuriteBlob() as blob:
        assert blob.create_container("lake") == 201
        assert blob.create_container("other") == 201
        yield blob


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started emulator with one empty vault named "kv1"; stopped after the test."""
    from akv_emulator import Emulator

    with Emulator(vaults=("kv1",), random_seed=1234) as emu:
        yield emu


@pytest.fixture
def identity_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Set IDENTITY_ENDPOINT/IDENTITY_HEADER to the emulator's; clear other Azure credentials."""
    for name in list(os.environ):
        if name.startswith(_AZURE_ENV_PREFIXES):
            monkeypatch.delenv(name)
    env = emulator.identity_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
