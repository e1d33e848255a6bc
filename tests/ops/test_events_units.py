"""Unit tests of Event Grid / CloudEvents parsing and the receiver's decisions."""

from __future__ import annotations

import json

import pytest

from akv_sidecar.ops.events import EventGridReceiver, EventPayloadError, SecretEvent, parse_events
from akv_sidecar.ops.metrics import Metrics

NEW = "Microsoft.KeyVault.SecretNewVersionCreated"


def body(document: object) -> bytes:
    """JSON bytes of a document."""
    return json.dumps(document).encode()


def test_event_grid_schema_with_pascal_case_data() -> None:
    """The documented Event Grid shape yields vault, secret and version."""
    parsed = parse_events(
        body(
            [
                {
                    "id": "1",
                    "topic": "/subscriptions/x/providers/Microsoft.KeyVault/vaults/KV1",
                    "subject": "bronze",
                    "eventType": NEW,
                    "data": {
                        "Id": "https://kv1.vault.azure.net/secrets/bronze/" + "a" * 32,
                        "VaultName": "KV1",
                        "ObjectType": "Secret",
                        "ObjectName": "bronze",
                        "Version": "a" * 32,
                        "NBF": 1700000000,
                        "EXP": 1800000000,
                    },
                }
            ]
        )
    )
    assert parsed.events == (SecretEvent(NEW, "kv1", "bronze", "a" * 32),)
    assert parsed.validation_code is None


def test_lenient_parsing_of_case_spaces_and_string_numbers() -> None:
    """camelCase or odd-case keys, stray spaces, numbers as strings and data as a string parse."""
    event = {
        " EventType ": f" {NEW} ",
        "data": json.dumps(
            {"vaultname": " kv1 ", "OBJECTNAME": " silver ", "nbf": "17", "Exp": " 18 "}
        ),
    }
    assert parse_events(body(event)).events == (SecretEvent(NEW, "kv1", "silver", None),)


def test_names_fall_back_to_the_object_id_and_envelope() -> None:
    """Without VaultName/ObjectName the id URL (or topic and subject) supplies them."""
    by_id = {
        "eventType": NEW,
        "data": {"id": "https://kv2.vault.azure.net/secrets/gold/" + "b" * 32},
    }
    by_envelope = {
        "specversion": "1.0",
        "type": NEW,
        "source": "/subscriptions/x/providers/Microsoft.KeyVault/vaults/kv3",
        "subject": "iron",
        "data": {},
    }
    parsed = parse_events(body([by_id, by_envelope]))
    assert parsed.events == (
        SecretEvent(NEW, "kv2", "gold", "b" * 32),
        SecretEvent(NEW, "kv3", "iron", None),
    )


def test_subscription_validation_code_is_found() -> None:
    """The SubscriptionValidationEvent's code is returned for the handshake."""
    parsed = parse_events(
        body(
            [
                {
                    "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                    "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
                }
            ]
        )
    )
    assert parsed.validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", body([{"eventType": NEW, "data": {}}])])
def test_unusable_payloads_raise(raw: bytes) -> None:
    """Non-JSON, non-object events and secret events naming nothing are payload errors."""
    with pytest.raises(EventPayloadError):
        parse_events(raw)


async def test_receiver_refreshes_served_secrets_and_ignores_others() -> None:
    """Only served secrets are refreshed; expiry events are counted; unknown ones ignored."""
    refreshed: list[tuple[str, str]] = []

    async def refresh(vault: str, secret: str) -> None:
        refreshed.append((vault, secret))

    metrics = Metrics()
    receiver = EventGridReceiver(
        "hook-secret",
        refresh=refresh,
        is_served=lambda vault, secret: (vault, secret) == ("kv1", "bronze"),
        metrics=metrics,
    )
    events = [
        {"eventType": NEW, "data": {"VaultName": "kv1", "ObjectName": "bronze"}},
        {"eventType": NEW, "data": {"VaultName": "other", "ObjectName": "bronze"}},
        {
            "eventType": "Microsoft.KeyVault.SecretNearExpiry",
            "data": {"VaultName": "kv1", "ObjectName": "bronze"},
        },
        {"eventType": "Microsoft.Storage.BlobCreated", "data": {}},
    ]
    answer = await receiver.receive(body(events))
    assert refreshed == [("kv1", "bronze")]
    assert answer == {"received": 4, "refreshed": 1, "ignored": 2}
    assert metrics.events == {
        ("SecretNewVersionCreated", "refreshed"): 1,
        ("SecretNewVersionCreated", "ignored"): 1,
        ("SecretNearExpiry", "logged"): 1,
    }
    assert receiver.code_matches("hook-secret")
    assert not receiver.code_matches("hook-secreT")
    assert not receiver.code_matches(None)
