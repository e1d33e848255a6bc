"""The sync SecretClient drives every secrets operation against the emulator."""

from __future__ import annotations

import datetime
import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from akv_emulator import Emulator

from .conftest import ClientFactory

_VERSION = re.compile(r"[0-9a-f]{32}")


def test_challenge_then_success_is_counted(emulator: Emulator, make_client: ClientFactory) -> None:
    """The first call is answered 401 with a challenge, then succeeds with an emulator token."""
    emulator.set_secret("kv1", "greeting", "hello")
    client = make_client()
    assert client.get_secret("greeting").value == "hello"
    assert emulator.calls(vault="kv1", op="challenge", status=401) == 1
    assert emulator.calls(vault="kv1", op="get", secret="greeting", status=200) == 1
    assert emulator.calls(vault="identity", op="token", status=200) == 1
    assert client.get_secret("greeting").value == "hello"
    assert emulator.calls(op="challenge") == 1
    assert emulator.calls(op="get") == 2


def test_set_and_get_round_trip_with_properties(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """set_secret stores value, content type and tags; ids carry the emulator's host and port."""
    client = make_client()
    stored = client.set_secret("db-password", "s3cret", content_type="text/plain", tags={"a": "b"})
    assert stored.value == "s3cret"
    base = emulator.vault_url("kv1")
    assert stored.id == f"{base}/secrets/db-password/{stored.properties.version}"
    assert _VERSION.fullmatch(stored.properties.version or "")
    fetched = client.get_secret("db-password")
    assert fetched.value == "s3cret"
    assert fetched.properties.content_type == "text/plain"
    assert fetched.properties.tags == {"a": "b"}
    assert fetched.properties.enabled is True
    assert fetched.properties.created_on is not None
    assert fetched.properties.recoverable_days == 90
    assert emulator.get_value("kv1", "db-password") == "s3cret"


def test_names_are_case_insensitive_and_keep_their_case(make_client: ClientFactory) -> None:
    """A secret created as MySecret is found as mysecret and keeps its original spelling."""
    client = make_client()
    client.set_secret("MySecret", "v1")
    fetched = client.get_secret("mysecret")
    assert fetched.value == "v1"
    assert fetched.name == "MySecret"


def test_get_by_version_and_list_versions(make_client: ClientFactory) -> None:
    """Each set adds a version; old versions stay readable and are all listed."""
    client = make_client()
    versions = [client.set_secret("rotating", f"value-{i}").properties.version for i in range(3)]
    assert client.get_secret("rotating").value == "value-2"
    assert client.get_secret("rotating", versions[0]).value == "value-0"
    listed = [p.version for p in client.list_properties_of_secret_versions("rotating")]
    assert sorted(listed) == sorted(versions)  # type: ignore[type-var]


def test_list_pages_through_60_secrets(emulator: Emulator, make_client: ClientFactory) -> None:
    """Listing 60 secrets follows absolute nextLinks: 3 pages of at most 25, all names once."""
    for i in range(60):
        emulator.set_secret("kv1", f"s-{i:02d}", "v")
    client = make_client()
    names = [p.name for p in client.list_properties_of_secrets()]
    assert sorted(names) == [f"s-{i:02d}" for i in range(60)]  # type: ignore[type-var]
    assert emulator.calls(op="list", status=200) == 3
    emulator.reset_counters()
    assert len(list(client.list_properties_of_secrets(max_page_size=7))) == 60
    assert emulator.calls(op="list", status=200) == 9


def test_update_properties(make_client: ClientFactory) -> None:
    """update_secret_properties changes content type, tags and expiry of the latest version."""
    client = make_client()
    client.set_secret("conn", "value")
    expires = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    updated = client.update_secret_properties(
        "conn", content_type="application/json", tags={"env": "dev"}, expires_on=expires
    )
    assert updated.expires_on == expires
    assert updated.content_type == "application/json"
    assert updated.tags == {"env": "dev"}
    fetched = client.get_secret("conn")
    assert fetched.properties.content_type == "application/json"
    assert fetched.properties.tags == {"env": "dev"}


def test_delete_hides_the_secret_and_reuse_needs_purge(
    emulator: Emulator, make_client: ClientFactory
) -> None:
    """Deleting soft-deletes: get is 404, the name is reserved until purge, recovery data is set."""
    client = make_client()
    client.set_secret("temp", "v")
    poller = client.begin_delete_secret("temp")
    deleted = poller.result()
    poller.wait()
    assert deleted.recovery_id is not None
    assert deleted.deleted_date is not None
    assert emulator.calls(op="delete", status=200) == 1
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("temp")
    with pytest.raises(ResourceExistsError):
        client.set_secret("temp", "again")
    client.purge_deleted_secret("temp")
    assert client.set_secret("temp", "again").value == "again"


def test_recover_brings_a_deleted_secret_back(make_client: ClientFactory) -> None:
    """A soft-deleted secret recovers with its value."""
    client = make_client()
    client.set_secret("keep", "v")
    client.begin_delete_secret("keep").wait()
    client.begin_recover_deleted_secret("keep").wait()
    assert client.get_secret("keep").value == "v"


def test_python_helpers_disable_and_delete(emulator: Emulator, make_client: ClientFactory) -> None:
    """set_enabled and delete_secret(purge=True) change what the SDK sees."""
    emulator.set_secret("kv1", "helper", "v1")
    client = make_client()
    emulator.set_enabled("kv1", "helper", False)
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("helper")
    assert caught.value.status_code == 403
    emulator.set_enabled("kv1", "helper", True)
    assert client.get_secret("helper").value == "v1"
    emulator.delete_secret("kv1", "helper", purge=True)
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("helper")
    assert client.set_secret("helper", "v2").value == "v2"


def test_list_deleted_secrets(make_client: ClientFactory) -> None:
    """Deleted secrets are listed with their recovery data until purged."""
    client = make_client()
    for name in ("d1", "d2"):
        client.set_secret(name, "v")
        client.begin_delete_secret(name).wait()
    deleted = {d.name: d for d in client.list_deleted_secrets()}
    assert set(deleted) == {"d1", "d2"}
    assert all(d.recovery_id for d in deleted.values())
    client.purge_deleted_secret("d1")
    assert [d.name for d in client.list_deleted_secrets()] == ["d2"]
