"""Push rotation through the Event Grid webhook, against a running sidecar and the emulator."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from akv_sidecar.testing import RunningSidecar

from .conftest import HOOK_SECRET, ROTATED, StartSidecar, bearer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from akv_emulator import Emulator

NEW = "Microsoft.KeyVault.SecretNewVersionCreated"
EVENTS = "/v1/events/eventgrid"


@pytest.fixture
def sidecar(start: StartSidecar, tmp_path: Path) -> Iterator[RunningSidecar]:
    """A sidecar with the webhook secret in a file and a refresh interval of an hour."""
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(HOOK_SECRET + "\n")
    with start(events={"webhook_secret_file": str(secret_file)}) as running:
        yield running


def key_vault_event(secret: str, version: str, **changes: Any) -> dict[str, Any]:
    """An Event Grid schema event as Key Vault sends it (PascalCase data)."""
    event = {
        "id": "7d0c7a4e-5a0f-4bd2-9b55-7f3c1d4b8a11",
        "topic": "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv1",
        "subject": secret,
        "eventType": NEW,
        "eventTime": "2024-05-01T12:00:00Z",
        "dataVersion": "1",
        "metadataVersion": "1",
        "data": {
            "Id": f"https://kv1.vault.azure.net/secrets/{secret}/{version}",
            "VaultName": "kv1",
            "ObjectType": "Secret",
            "ObjectName": secret,
            "Version": version,
            "NBF": None,
            "EXP": None,
        },
    }
    event.update(changes)
    return event


def test_validation_handshake_then_new_version_is_served_at_once(
    sidecar: RunningSidecar, kv: Emulator
) -> None:
    """The SubscriptionValidation handshake is answered; a SecretNewVersionCreated event makes
    the new value readable within 1 s, with one Key Vault call, long before the refresh interval."""
    url = f"{sidecar.url}{EVENTS}?code={HOOK_SECRET}"
    with httpx.Client(headers=bearer(sidecar.token)) as client:
        validation = [
            {
                "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
                "topic": "/subscriptions/s",
                "subject": "",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "eventTime": "2024-05-01T12:00:00Z",
                "data": {
                    "validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                    "validationUrl": "https://rp-eastus2.eventgrid.azure.net/api/validate?id=x",
                },
                "dataVersion": "2",
                "metadataVersion": "1",
            }
        ]
        answer = client.post(url, json=validation)
        assert answer.status_code == 200
        assert answer.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}

        old = client.get(f"{sidecar.url}/v1/vaults/kv1/secrets/bronze").json()
        version = kv.set_secret("kv1", "bronze", ROTATED["bronze"])
        gets = kv.calls(vault="kv1", op="get", secret="bronze")
        started = time.monotonic()
        delivered = client.post(url, json=[key_vault_event("bronze", version)])
        served = client.get(f"{sidecar.url}/v1/vaults/kv1/secrets/bronze").json()
        elapsed = time.monotonic() - started
    assert delivered.status_code == 200
    assert delivered.json() == {"received": 1, "refreshed": 1, "ignored": 0}
    assert served["version"] == version != old["version"]
    assert served["value"] == kv.get_value("kv1", "bronze")
    assert elapsed < 1.0
    assert kv.calls(vault="kv1", op="get", secret="bronze") - gets == 1


def test_cloudevents_handshake_and_delivery(sidecar: RunningSidecar, kv: Emulator) -> None:
    """OPTIONS echoes WebHook-Request-Origin in WebHook-Allowed-Origin; a CloudEvents 1.0 event
    with lenient fields (string numbers, stray spaces, camelCase) refreshes the secret."""
    url = f"{sidecar.url}{EVENTS}?code={HOOK_SECRET}"
    with httpx.Client() as client:
        handshake = client.options(url, headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
        assert handshake.status_code == 200
        assert handshake.headers["webhook-allowed-origin"] == "eventgrid.azure.net"
        version = kv.set_secret("kv1", "silver", ROTATED["silver"])
        event = {
            "specversion": "1.0",
            "type": f" {NEW} ",
            "source": "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv1",
            "id": "1a0b",
            "subject": "silver",
            "data": {"vaultName": " kv1", "objectName": "silver ", "version": version, "nbf": "0"},
        }
        delivered = client.post(
            url,
            content=json.dumps(event),
            headers={"Content-Type": "application/cloudevents+json; charset=utf-8"},
        )
        served = client.get(
            f"{sidecar.url}/v1/vaults/kv1/secrets/silver", headers=bearer(sidecar.token)
        )
    assert delivered.json()["refreshed"] == 1
    assert served.json()["version"] == version


def test_wrong_or_missing_code_is_403(sidecar: RunningSidecar, kv: Emulator) -> None:
    """A wrong or missing webhook code gets a 403 JSON error and causes no Key Vault call."""
    gets = kv.calls(vault="kv1", op="get")
    with httpx.Client() as client:
        wrong = client.post(
            f"{sidecar.url}{EVENTS}?code=guess", json=[key_vault_event("bronze", "a" * 32)]
        )
        missing = client.post(f"{sidecar.url}{EVENTS}", json=[key_vault_event("bronze", "a" * 32)])
        options = client.options(
            f"{sidecar.url}{EVENTS}?code=guess", headers={"WebHook-Request-Origin": "x"}
        )
    for response in (wrong, missing, options):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "Forbidden"
    assert kv.calls(vault="kv1", op="get") == gets


def test_unconfigured_and_expiry_events_are_acknowledged_and_counted(
    sidecar: RunningSidecar, kv: Emulator
) -> None:
    """Events for other vaults or unserved secrets are ignored; expiry events are counted."""
    url = f"{sidecar.url}{EVENTS}?code={HOOK_SECRET}"
    gets = kv.calls(vault="kv1", op="get")
    events = [
        key_vault_event("bronze", "a" * 32, topic="/subscriptions/s/vaults/elsewhere")
        | {"data": {"VaultName": "elsewhere", "ObjectName": "bronze"}},
        key_vault_event("not-served", "b" * 32),
        key_vault_event("bronze", "c" * 32, eventType="Microsoft.KeyVault.SecretNearExpiry"),
        key_vault_event("silver", "d" * 32, eventType="Microsoft.KeyVault.SecretExpired"),
    ]
    with httpx.Client() as client:
        answer = client.post(url, json=events)
        metrics = client.get(f"{sidecar.url}/metrics").text
    assert answer.json() == {"received": 4, "refreshed": 0, "ignored": 2}
    assert kv.calls(vault="kv1", op="get") == gets
    assert 'akv_sidecar_events_total{action="logged",type="SecretNearExpiry"} 1.0' in metrics
    assert 'akv_sidecar_events_total{action="logged",type="SecretExpired"} 1.0' in metrics
    assert (
        'akv_sidecar_events_total{action="ignored",type="SecretNewVersionCreated"} 2.0' in metrics
    )


def test_events_off_without_a_webhook_secret(start: StartSidecar) -> None:
    """Without events configured the webhook answers 404 EventsNotConfigured."""
    with start() as sidecar:
        response = httpx.post(f"{sidecar.url}{EVENTS}?code=x", json=[])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "EventsNotConfigured"
