"""The async SecretClient (aiohttp transport) drives every secrets operation on the emulator."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from akv_emulator import Emulator, EmulatorError

from .conftest import AsyncClientFactory


async def test_async_crud_and_challenge(
    emulator: Emulator, make_async_client: AsyncClientFactory
) -> None:
    """set, get, get-version, update and delete work through the async client after a challenge."""
    client = make_async_client()
    first = await client.set_secret("api-key", "one")
    await client.set_secret("api-key", "two")
    assert (await client.get_secret("api-key")).value == "two"
    assert (await client.get_secret("api-key", first.properties.version)).value == "one"
    updated = await client.update_secret_properties("api-key", enabled=False)
    assert updated.enabled is False
    with pytest.raises(HttpResponseError) as disabled:
        await client.get_secret("api-key")
    assert disabled.value.status_code == 403
    deleted = await client.delete_secret("api-key")
    assert deleted.recovery_id is not None
    with pytest.raises(ResourceNotFoundError):
        await client.get_secret("api-key")
    assert emulator.calls(op="challenge", status=401) == 1
    assert emulator.calls(op="set", status=200) == 2
    assert emulator.calls(op="update", status=200) == 1


async def test_async_list_pages_and_versions(
    emulator: Emulator, make_async_client: AsyncClientFactory
) -> None:
    """Async listing follows nextLinks across 60 secrets and lists every version of one."""
    for i in range(60):
        emulator.set_secret("kv1", f"item-{i:02d}", "v")
    emulator.set_secret("kv1", "item-00", "v2")
    client = make_async_client()
    names = [p.name async for p in client.list_properties_of_secrets(max_page_size=25)]
    assert sorted(names) == [f"item-{i:02d}" for i in range(60)]  # type: ignore[type-var]
    assert emulator.calls(op="list", status=200) == 3
    versions = [p.version async for p in client.list_properties_of_secret_versions("item-00")]
    assert len(versions) == 2
    assert emulator.calls(op="list_versions", secret="item-00", status=200) == 1


async def test_async_with_starts_and_stops() -> None:
    """`async with Emulator()` serves while inside the block and stops on exit."""
    async with Emulator(vaults=("a",)) as emu:
        url = emu.vault_url("a")
        assert url.startswith("https://127.0.0.1:")
    with pytest.raises(EmulatorError, match="not running"):
        emu.vault_url("a")
