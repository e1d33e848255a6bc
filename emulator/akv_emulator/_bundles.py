"""JSON shapes of Key Vault's secrets API: SecretBundle, SecretItem, DeletedSecretBundle."""

from __future__ import annotations

from typing import Any

from ._store import RECOVERABLE_DAYS, DeletedSecret, SecretVersion

_RECOVERY_LEVEL = "Recoverable+Purgeable"


def _attributes(version: SecretVersion) -> dict[str, Any]:
    attributes: dict[str, Any] = {"enabled": version.enabled}
    if version.nbf is not None:
        attributes["nbf"] = version.nbf
    if version.exp is not None:
        attributes["exp"] = version.exp
    attributes.update(
        created=version.created,
        updated=version.updated,
        recoveryLevel=_RECOVERY_LEVEL,
        recoverableDays=RECOVERABLE_DAYS,
    )
    return attributes


def _common(version: SecretVersion, secret_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"id": secret_id, "attributes": _attributes(version)}
    if version.content_type is not None:
        body["contentType"] = version.content_type
    if version.tags is not None:
        body["tags"] = dict(version.tags)
    return body


def version_id(base_url: str, version: SecretVersion) -> str:
    return f"{base_url}/secrets/{version.name}/{version.version}"


def secret_bundle(
    base_url: str, version: SecretVersion, *, with_value: bool = True
) -> dict[str, Any]:
    """A SecretBundle; with_value=False for answers that must not carry the value (update)."""
    body = _common(version, version_id(base_url, version))
    if with_value:
        body["value"] = version.value
    return body


def secret_item(base_url: str, version: SecretVersion, *, versioned: bool) -> dict[str, Any]:
    """A SecretItem for list answers: never a value; versioned ids when listing versions."""
    secret_id = version_id(base_url, version) if versioned else f"{base_url}/secrets/{version.name}"
    return _common(version, secret_id)


def _deleted_fields(base_url: str, deleted: DeletedSecret) -> dict[str, Any]:
    return {
        "recoveryId": f"{base_url}/deletedsecrets/{deleted.secret.name}",
        "deletedDate": deleted.deleted_date,
        "scheduledPurgeDate": deleted.scheduled_purge_date,
    }


def deleted_bundle(base_url: str, deleted: DeletedSecret) -> dict[str, Any]:
    """A DeletedSecretBundle: the latest version's properties (no value) plus deletion data."""
    body = secret_bundle(base_url, deleted.secret.latest, with_value=False)
    body.update(_deleted_fields(base_url, deleted))
    return body


def deleted_item(base_url: str, deleted: DeletedSecret) -> dict[str, Any]:
    body = secret_item(base_url, deleted.secret.latest, versioned=False)
    body.update(_deleted_fields(base_url, deleted))
    return body
