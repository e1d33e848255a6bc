"""A storage key fetched through the sidecar writes and reads a Delta table in Azurite (delta-rs);
Azurite checks SharedKey and SAS signatures, so a wrong key or SAS is refused. The vended SAS comes
from a scripted sidecar until the real one vends (it is signed here as the sidecar signs it)."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from akv_client import AzureADLS, SidecarClient
from tests.client.azurite import ACCOUNT, DEV_KEY, AzuriteBlob, container_sas
from tests.client.conftest import CountingClient
from tests.client.scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.azurite


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


def vended_sas(sas: str, expires: datetime) -> Reply:
    body = {"account": ACCOUNT, "container": "lake", "path": None, "permissions": "racwdl"}
    return Reply(200, body | {"sas_token": sas, "expires_on": expires.isoformat()})


def test_delta_round_trip_with_a_vended_sas(azurite: AzuriteBlob) -> None:
    """sidecar_sas: delta-rs writes and reads with the SAS the sidecar vends (object_store's
    `sas_token` key), through the URI form object_store reads in every cloud."""
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    sas = container_sas("lake", "racwdl", expires)
    with (
        ScriptedServer([vended_sas(sas, expires)]) as server,
        SidecarClient(server.url, "t") as sidecar,
    ):
        conn = AzureADLS(
            ACCOUNT, "lake", "vended", auth_mode="sidecar_sas", sas_permissions="racwdl",
            endpoint=azurite.endpoint, endpoint_suffix="core.chinacloudapi.cn", sidecar=sidecar,
        )  # fmt: skip
        uri = conn.object_store_uri("orders")
        write_deltalake(uri, pa.table({"id": [1, 2]}), storage_options=conn.storage_options())
        table = DeltaTable(uri, storage_options=conn.storage_options())
        assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2]
    assert [seen.path for seen in server.seen] == ["/v1/storage/sas"]


def test_a_sas_signed_with_another_key_is_refused(azurite: AzuriteBlob) -> None:
    """The same kind of SAS signed with a wrong key: Azurite rejects it, so the SAS is what
    authorised the round trip above."""
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    forged = container_sas("lake", "racwdl", expires, key=base64.b64encode(b"\x02" * 64).decode())
    with (
        ScriptedServer([vended_sas(forged, expires)]) as server,
        SidecarClient(server.url, "t") as sidecar,
    ):
        conn = AzureADLS(
            ACCOUNT, "lake", auth_mode="sidecar_sas", endpoint=azurite.endpoint, sidecar=sidecar
        )
        with pytest.raises(OSError, match=r"lacked the necessary privileges|403"):
            write_deltalake(
                conn.object_store_uri("forged"),
                pa.table({"id": [1]}),
                storage_options=conn.storage_options(),
            )
