"""A storage key fetched through the sidecar writes and reads a Delta table in Azurite (delta-rs);
Azurite checks SharedKey signatures, so a wrong key is refused."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from akv_client import AzureADLS
from tests.client.azurite import ACCOUNT, DEV_KEY, AzuriteBlob
from tests.client.conftest import CountingClient

pytestmark = pytest.mark.azurite


@pytest.fixture(scope="module")
def azurite() -> Iterator[AzuriteBlob]:
    """Azurite's blob service on a free port, with a container 'lake'."""
    with AzuriteBlob() as blob:
        assert blob.create_container("lake") == 201
        yield blob


def test_delta_round_trip_with_key_from_the_sidecar(
    azurite: AzuriteBlob, client: CountingClient
) -> None:
    """Write, append and read a Delta table with the account key the sidecar served."""
    conn = AzureADLS(
        ACCOUNT, "lake", "tables", key_vault_name="kv1", secret_name="azurite-key",
        endpoint=azurite.endpoint, sidecar=client,
    )  # fmt: skip
    uri = conn.uri("orders")
    options = conn.storage_options()
    assert options["account_key"] == DEV_KEY
    write_deltalake(uri, pa.table({"id": [1, 2, 3]}), storage_options=options)
    write_deltalake(uri, pa.table({"id": [4]}), mode="append", storage_options=options)
    table = DeltaTable(uri, storage_options=conn.storage_options())
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3, 4]
    assert table.version() == 1
    assert client.calls == {"get_secret": 1}


def test_wrong_key_is_refused(azurite: AzuriteBlob, client: CountingClient) -> None:
    """The same table with a wrong account key: Azurite rejects the signature."""
    good = AzureADLS(
        ACCOUNT, "lake", key_vault_name="kv1", secret_name="azurite-key",
        endpoint=azurite.endpoint, sidecar=client,
    )  # fmt: skip
    write_deltalake(
        good.uri("refused"), pa.table({"id": [1]}), storage_options=good.storage_options()
    )
    wrong_key = base64.b64encode(b"\x01" * 64).decode()
    wrong = AzureADLS(
        ACCOUNT, "lake", auth_mode="direct_key", account_key=wrong_key, endpoint=azurite.endpoint
    )
    with pytest.raises(OSError, match="lacked the necessary privileges"):
        DeltaTable(wrong.uri("refused"), storage_options=wrong.storage_options())
    assert azurite.create_container("other", key=wrong_key) == 403
