"""The client's vended modes against the real sidecar and Azurite: AzureADLS(auth_mode=
"sidecar_sas") gives delta-rs storage options holding a SAS the sidecar signed, which Azurite
checks with its development key; the connection never holds the account key."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from akv_client import AzureADLS, SidecarClient
from akv_emulator import Emulator
from tests._leaks import credential_forms
from tests.client.azurite import ACCOUNT, DEV_KEY, AzuriteBlob

from .conftest import MINTED, account, serve

pytestmark = pytest.mark.azurite


def test_sidecar_sas_mode_writes_and_reads_delta_on_azurite(
    seeded: Emulator, tmp_path: Path, azurite: AzuriteBlob
) -> None:
    """Two writes and a read of a Delta table through storage_options() cost one SAS from the
    sidecar (reused while fresh); the options hold a SAS, never the account key."""
    with (
        serve(seeded, tmp_path, [account(endpoint=azurite.endpoint)]) as api,
        SidecarClient(api.sidecar.url, api.tokens["tests"]) as sidecar,
    ):
        lake = AzureADLS(
            ACCOUNT,
            "lake",
            auth_mode="sidecar_sas",
            sas_permissions="racwdl",
            endpoint=azurite.endpoint,
            sidecar=sidecar,
        )
        options = lake.storage_options()
        MINTED.update(credential_forms(options["sas_token"]))
        assert DEV_KEY not in options.values()
        assert "account_key" not in options
        table_uri = f"abfss://lake@{ACCOUNT}.dfs.core.windows.net/orders"
        write_deltalake(table_uri, pa.table({"id": [1, 2]}), storage_options=options)
        write_deltalake(
            table_uri, pa.table({"id": [3]}), mode="append", storage_options=lake.storage_options()
        )
        table = DeltaTable(table_uri, storage_options=lake.storage_options())
        assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]
        assert table.version() == 1
        assert api.signatures == 1
