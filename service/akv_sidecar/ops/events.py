"""Push rotation: Azure Event Grid webhooks (Event Grid schema and CloudEvents 1.0).

`POST /v1/events/eventgrid?code=<webhook secret>` receives Key Vault events. A
`Microsoft.KeyVault.SecretNewVersionCreated` event refreshes that secret at once; `SecretNearExpiry`
and `SecretExpired` are logged and counted; events for vaults or secrets the sidecar does not serve
are acknowledged and ignored. Both subscription handshakes are answered: the Event Grid
`SubscriptionValidationEvent` (`{"validationResponse": code}`) and the CloudEvents OPTIONS request
(`WebHook-Allowed-Origin`). Payloads are parsed leniently because producers differ: key case, stray
spaces and numbers sent as strings are all accepted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from akv_sidecar.cache.outcomes import Declined, Hit, Unserved
from akv_sidecar.config.loading import read_secret_setting
from akv_sidecar.config.schema import EventsConfig
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.keyvault.outcomes import Failed
from akv_sidecar.ops.metrics import Metrics

__all__ = [
    "EventGridReceiver",
    "EventPayloadError",
    "SecretEvent",
    "parse_events",
    "read_webhook_secret",
]

NEW_VERSION = "Microsoft.KeyVault.SecretNewVersionCreated"
NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
EXPIRED = "Microsoft.KeyVault.SecretExpired"
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
_SECRET_EVENTS = (NEW_VERSION, NEAR_EXPIRY, EXPIRED)
MIN_WEBHOOK_SECRET = 16

logger = logging.getLogger("akv_sidecar.events")


class EventPayloadError(ValueError):
    """The body is not an Event Grid or CloudEvents payload."""


@dataclass(frozen=True)
class SecretEvent:
    """A Key Vault secret event, reduced to what the sidecar acts on."""

    event_type: str
    vault: str
    secret: str
    version: str | None


@dataclass(frozen=True)
class ParsedPayload:
    validation_code: str | None
    events: tuple[SecretEvent, ...]
    other: int  # events of types the sidecar does not act on


def _folded(mapping: dict[str, Any]) -> dict[str, Any]:
    """Keys lower-cased and stripped, string values stripped: PascalCase and camelCase alike."""
    return {
        str(key).strip().lower(): value.strip() if isinstance(value, str) else value
        for key, value in mapping.items()
    }


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _tail_after(marker: str, text: str) -> str:
    """The path segment following `marker`, e.g. the vault name in a topic or source."""
    _, found, rest = text.lower().partition(marker)
    return rest.split("/")[0] if found else ""


def _secret_event(event_type: str, envelope: dict[str, Any], data: dict[str, Any]) -> SecretEvent:
    object_id = _text(data.get("id"))  # https://<vault>.vault.azure.net/secrets/<name>/<version>
    host = object_id.split("//", 1)[-1].split("/", 1)[0]
    vault_in_id = host.split(".vault.", 1)[0] if ".vault." in host else ""
    path = object_id.split("/secrets/", 1)[1].split("/") if "/secrets/" in object_id else []
    vault = (
        _text(data.get("vaultname"))
        or vault_in_id
        or _tail_after("/vaults/", _text(envelope.get("topic") or envelope.get("source")))
    )
    secret = _text(data.get("objectname")) or (path[0] if path else _text(envelope.get("subject")))
    version = _text(data.get("version")) or (path[1] if len(path) > 1 else "")
    if not vault or not secret:
        raise EventPayloadError(f"a {event_type} event names no vault and secret")
    return SecretEvent(event_type, vault.lower(), secret, version or None)


def _data(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope.get("data")
    if isinstance(data, str):  # some relays deliver data as a JSON string
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    return _folded(data) if isinstance(data, dict) else {}


def parse_events(body: bytes) -> ParsedPayload:
    """Parse a single event or an array, in Event Grid or CloudEvents 1.0 form."""
    try:
        document = json.loads(body)
    except ValueError as error:
        raise EventPayloadError("the body is not JSON") from error
    items: Iterable[Any] = document if isinstance(document, list) else [document]
    validation_code, events, other = None, [], 0
    for item in items:
        if not isinstance(item, dict):
            raise EventPayloadError("every event must be a JSON object")
        envelope = _folded(item)
        event_type = _text(envelope.get("eventtype") or envelope.get("type"))
        data = _data(envelope)
        if event_type == VALIDATION and data.get("validationcode"):
            validation_code = _text(data["validationcode"])
        elif event_type in _SECRET_EVENTS:
            events.append(_secret_event(event_type, envelope, data))
        else:
            other += 1
    return ParsedPayload(validation_code, tuple(events), other)


def _short(event_type: str) -> str:
    return event_type.rsplit(".", 1)[-1]


def read_webhook_secret(events: EventsConfig, source: str) -> str:
    """The webhook secret from events.webhook_secret_file or _env; errors name the key."""
    value, key = read_secret_setting(
        events.webhook_secret_file, events.webhook_secret_env, "events.webhook_secret", source
    )
    if len(value) < MIN_WEBHOOK_SECRET:
        raise ConfigError(
            f"Invalid value for '{key}' in {source}: the webhook secret must have at least"
            f" {MIN_WEBHOOK_SECRET} characters (e.g. from `openssl rand -hex 16`)."
        )
    return value


class EventGridReceiver:
    """Checks the webhook code and acts on parsed events through the service's callbacks."""

    def __init__(
        self,
        webhook_secret: str,
        *,
        refresh: Callable[[str, str], Awaitable[Hit | Unserved]],
        is_served: Callable[[str, str], bool],
        metrics: Metrics,
    ) -> None:
        self._secret = webhook_secret.encode()
        self._refresh = refresh
        self._is_served = is_served
        self._metrics = metrics

    def code_matches(self, code: str | None) -> bool:
        """Constant-time comparison with the configured webhook secret."""
        return hmac.compare_digest(self._secret, (code or "").encode())

    async def receive(self, body: bytes) -> dict[str, Any]:
        """Handle one delivery; returns the JSON answer. Raises EventPayloadError."""
        payload = parse_events(body)
        if payload.validation_code is not None:
            self._metrics.count_event(_short(VALIDATION), "validated")
            logger.info("Event Grid subscription validated")
            return {"validationResponse": payload.validation_code}
        served = [e for e in payload.events if self._is_served(e.vault, e.secret)]
        for event in payload.events:
            if event not in served:
                self._metrics.count_event(_short(event.event_type), "ignored")
        rotations = [e for e in served if e.event_type == NEW_VERSION]
        for event in served:
            if event.event_type != NEW_VERSION:
                self._metrics.count_event(_short(event.event_type), "logged")
                logger.warning(
                    "Key Vault reports %s",
                    _short(event.event_type),
                    extra={"vault": event.vault, "secret": event.secret, "version": event.version},
                )
        outcomes = await asyncio.gather(*(self._rotate(e) for e in rotations))
        return {
            "received": len(payload.events) + payload.other,
            "refreshed": sum(outcomes),
            "ignored": len(payload.events) - len(served) + payload.other,
        }

    async def _rotate(self, event: SecretEvent) -> bool:
        outcome = await self._refresh(event.vault, event.secret)
        if isinstance(outcome, Failed | Declined):
            # The scheduled refresh still runs; Event Grid needs no retry.
            self._metrics.count_event(_short(event.event_type), "failed")
            reason = outcome.kind.value if isinstance(outcome, Failed) else outcome.refusal.value
            logger.warning(
                "refresh after a new-version event failed",
                extra={"vault": event.vault, "secret": event.secret, "error": reason},
            )
            return False
        self._metrics.count_event(_short(event.event_type), "refreshed")
        logger.info(
            "secret refreshed after a new-version event",
            extra={"vault": event.vault, "secret": event.secret, "version": event.version},
        )
        return True
