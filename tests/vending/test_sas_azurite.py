"""A SAS from /v1/storage/sas against Azurite, which checks every SAS signature with its
development key: delta-rs writes and reads a Delta table with it, and Azurite refuses it outside
its container, beyond its permissions and after it expires."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from akv_emulator import Emulator
from tests.client.azurite import AzuriteBlob

from .conftest import ACCOUNT, Api, account, serve

pytestmark = pytest.mark.azurite
REFUSED = "(?i)authoriz|privileges|403"  # how delta-rs words Azurite's 403


@contextmanager
def signing(
    emulator: Emulator, tmp_path: Path, azurite: AzuriteBlob, **settings: Any
) -> Iterator[Api]:
    """A sidecar signing for Azurite's account with the key kept in the emulator."""
    with serve(emulator, tmp_path, [account(endpoint=azurite.endpoint, **settings)]) as api:
        yield api


def options(azurite: AzuriteBlob, sas: str) -> dict[str, str]:
    """delta-rs storage options for Azurite with a SAS and no key."""
    return {"account_name": ACCOUNT, "endpoint": azurite.endpoint, "allow_http": "true",
            "sas_token": sas}  # fmt: skip


def uri(container: str, table: str) -> str:
    return f"abfss://{container}@{ACCOUNT}.dfs.core.windows.net/{table}"


def sas_for(api: Api, container: str, permissions: str) -> str:
    answer = api.sas(container=container, permissions=permissions)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["sas_token"]
    return token


def listing(azurite: AzuriteBlob, container: str, sas: str) -> int:
    """The status of listing ``container``'s blobs with ``sas``."""
    url = f"{azurite.endpoint}/{container}?restype=container&comp=list&{sas}"
    return httpx.get(url, timeout=10).status_code


def test_delta_round_trip_with_a_sas(
    seeded: Emulator, tmp_path: Path, azurite: AzuriteBlob
) -> None:
    """delta-rs writes, appends to and reads a Delta table in the SAS's container."""
    with signing(seeded, tmp_path, azurite) as api:
        sas = sas_for(api, "lake", "racwdl")
        table_uri = uri("lake", "orders")
        write_deltalake(table_uri, pa.table({"id": [1, 2]}), storage_options=options(azurite, sas))
        write_deltalake(table_uri, pa.table({"id": [3]}), mode="append",
                        storage_options=options(azurite, sas))  # fmt: skip
        table = DeltaTable(table_uri, storage_options=options(azurite, sas))
        assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == [1, 2, 3]
        assert table.version() == 1
        assert sas_for(api, "lake", "racwdl") == sas  # asked again: the same SAS
        assert api.signatures == 1


def test_sas_is_refused_for_another_container(
    seeded: Emulator, tmp_path: Path, azurite: AzuriteBlob
) -> None:
    """A SAS for 'lake' does not open 'other': Azurite refuses the write and the listing."""
    with signing(seeded, tmp_path, azurite) as api:
        sas = sas_for(api, "lake", "racwdl")
    assert listing(azurite, "lake", sas) == 200
    assert listing(azurite, "other", sas) == 403
    with pytest.raises((OSError, DeltaError), match=REFUSED):
        write_deltalake(
            uri("other", "t"), pa.table({"id": [1]}), storage_options=options(azurite, sas)
        )


def test_read_only_sas_reads_but_cannot_write(
    seeded: Emulator, tmp_path: Path, azurite: AzuriteBlob
) -> None:
    """With permissions "rl" the table reads, and Azurite refuses the append."""
    with signing(seeded, tmp_path, azurite) as api:
        writer = sas_for(api, "lake", "racwdl")
        reader = sas_for(api, "lake", "rl")
    assert reader != writer
    table_uri = uri("lake", "readonly")
    write_deltalake(table_uri, pa.table({"id": [7]}), storage_options=options(azurite, writer))
    table = DeltaTable(table_uri, storage_options=options(azurite, reader))
    assert table.to_pyarrow_table().column("id").to_pylist() == [7]
    with pytest.raises((OSError, DeltaError), match=REFUSED):
        write_deltalake(table_uri, pa.table({"id": [8]}), mode="append",
                        storage_options=options(azurite, reader))  # fmt: skip
    assert DeltaTable(table_uri, storage_options=options(azurite, writer)).version() == 0


def test_sas_is_refused_after_it_expires(
    seeded: Emulator, tmp_path: Path, azurite: AzuriteBlob
) -> None:
    """With max_ttl 3 s the SAS lists the container, then Azurite refuses it once expires_on has
    passed (its start lies minutes back, for clock skew, so only se decides)."""
    with signing(seeded, tmp_path, azurite, max_ttl="3s") as api:
        answer = api.sas(container="lake", permissions="rl")
    assert answer.status_code == 200
    sas = answer.json()["sas_token"]
    expiry = datetime.fromisoformat(answer.json()["expires_on"].replace("Z", "+00:00"))
    assert 1.0 <= expiry.timestamp() - time.time() <= 3.5
    assert listing(azurite, "lake", sas) == 200
    time.sleep(max(expiry.timestamp() - time.time(), 0.0) + 1.5)
    assert listing(azurite, "lake", sas) == 403
