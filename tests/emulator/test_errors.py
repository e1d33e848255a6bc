"""Key Vault error answers surface as the SDK's own exceptions with Azure's error codes."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from akv_emulator import Emulator

from .conftest import ClientFactory


def test_missing_secret_is_resource_not_found(make_client: ClientFactory) -> None:
    """A get of an unknown secret raises ResourceNotFoundError with code SecretNotFound."""
    with pytest.raises(ResourceNotFoundError) as caught:
        make_client().get_secret("nope")
    assert caught.value.status_code == 404
    assert caught.value.error is not None
    assert caught.value.error.code == "SecretNotFound"
    assert "(name/id) nope was not found" in str(caught.value.error.message)


def test_unknown_version_is_not_found(emulator: Emulator, make_client: ClientFactory) -> None:
    """A get of an unknown version of a known secret is a 404 SecretNotFound."""
    emulator.set_secret("kv1", "known", "v")
    with pytest.raises(ResourceNotFoundError) as caught:
        make_client().get_secret("known", "0" * 32)
    assert caught.value.error is not None
    assert caught.value.error.code == "SecretNotFound"


def test_disabled_secret_is_forbidden(emulator: Emulator, make_client: ClientFactory) -> None:
    """A get of a disabled secret is 403 Forbidden with inner error SecretDisabled, no value."""
    emulator.set_secret("kv1", "off", "TOPSECRETVALUE", enabled=False)
    with pytest.raises(HttpResponseError) as caught:
        make_client().get_secret("off")
    error = caught.value.error
    assert caught.value.status_code == 403
    assert error is not None
    assert error.code == "Forbidden"
    assert error.message == "Operation get is not allowed on a disabled secret."
    assert error.innererror == {"code": "SecretDisabled"}
    assert "TOPSECRETVALUE" not in str(caught.value)


def test_invalid_name_is_bad_parameter(emulator: Emulator, make_client: ClientFactory) -> None:
    """A name outside [0-9a-zA-Z-]{1,127} is a 400 BadParameter, for get and set alike."""
    client = make_client()
    with pytest.raises(HttpResponseError) as bad_get:
        client.get_secret("bad_name")
    with pytest.raises(HttpResponseError) as bad_set:
        client.set_secret("x" * 128, "v")
    for caught in (bad_get, bad_set):
        assert caught.value.status_code == 400
        assert caught.value.error is not None
        assert caught.value.error.code == "BadParameter"
    assert emulator.calls(op="get", status=400) == 1
    assert emulator.calls(op="set", status=400) == 1


def test_throttled_is_429_with_code(emulator: Emulator, make_client: ClientFactory) -> None:
    """A throttled request surfaces as HttpResponseError 429 with code Throttled."""
    emulator.set_secret("kv1", "busy", "v")
    client = make_client(retry_total=0)
    client.get_secret("busy")
    emulator.inject("kv1", throttle=(0, 60.0))
    with pytest.raises(HttpResponseError) as caught:
        client.get_secret("busy")
    assert caught.value.status_code == 429
    assert caught.value.error is not None
    assert caught.value.error.code == "Throttled"
