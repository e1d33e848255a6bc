"""The running service does what its README and OpenAPI document say: bodies that are not JSON
text are MalformedBody, a trailing slash is not found (never redirected), /metrics declares a token
only when it requires one, and the published name patterns accept exactly the names it serves."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .conftest import StartSidecar, bearer

READ = "/v1/vaults/{vault}/secrets/{name}"
VAULTS = {
    "kv1": True,
    "abc": True,
    "KV-1a": True,
    "a" * 24: True,
    "ab": False,
    "a" * 25: False,
    "1kv": False,
    "kv-": False,
    "kv--1": False,
    "k_v": False,
}
NAMES = {
    "bronze": True,
    "a": True,
    "Mixed-Case-9": True,
    "-lead": True,
    "a" * 127: True,
    "a" * 128: False,
    "bad_name": False,
    "with.dot": False,
    "sp ace": False,
}
VERSIONS = {
    "0" * 32: True,
    "aBcDeF0123456789" * 2: True,
    "0" * 31: False,
    "0" * 33: False,
    "g" * 32: False,
}


def _fullmatch(pattern: str, text: str) -> bool:
    """The pattern as JSON schema reads it (ECMA-262, where "$" ends the input)."""
    assert pattern.startswith("^"), pattern
    assert pattern.endswith("$"), pattern
    return re.match(pattern[:-1] + r"\Z", text) is not None


def _parameters(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    operation = document["paths"][READ]["get"]
    return {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"secrets": [{"vault": "kv1", "name": "\xff\xfe"}]}', id="invalid UTF-8"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="nested 5000 deep"),
        pytest.param(b'{"secrets": [', id="broken JSON"),
    ],
)
def test_a_batch_body_that_is_not_json_text_is_malformed_body(
    start: StartSidecar, body: bytes
) -> None:
    """Invalid UTF-8 and too deep nesting get 400 MalformedBody, as broken JSON does."""
    with start() as sidecar:
        response = httpx.post(
            f"{sidecar.url}/v1/secrets:batch",
            content=body,
            headers={**bearer(sidecar.token), "Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MalformedBody"


def test_a_trailing_slash_is_not_found_and_never_redirected(start: StartSidecar) -> None:
    """A known path with a trailing slash gets 404 NotFound JSON and no Location, whatever the
    Host header says."""
    with start() as sidecar:
        headers = {**bearer(sidecar.token), "Host": "evil.example"}
        answers = [
            httpx.request(method, f"{sidecar.url}{path}", headers=headers)
            for method, path in (
                ("GET", "/v1/vaults/kv1/secrets/bronze/"),
                ("GET", "/healthz/"),
                ("POST", "/v1/secrets:batch/"),
            )
        ]
    for response in answers:
        assert response.status_code == 404, response.headers
        assert response.json()["error"]["code"] == "NotFound"
        assert "location" not in response.headers


def test_metrics_declares_a_token_only_when_it_requires_one(start: StartSidecar) -> None:
    """By default /metrics declares no security and answers without a token; with
    metrics.require_token it declares bearer auth and refuses a request without one."""
    for required in (False, True):
        with start(metrics={"require_token": required}) as sidecar:
            operation = httpx.get(f"{sidecar.url}/openapi.json").json()["paths"]["/metrics"]["get"]
            anonymous = httpx.get(f"{sidecar.url}/metrics").status_code
        if required:
            assert (operation.get("security"), anonymous) == ([{"HTTPBearer": []}], 401)
        else:
            assert (operation.get("security"), anonymous) == (None, 200)


def test_published_name_patterns_accept_exactly_the_names_served(start: StartSidecar) -> None:
    """The vault, name and version patterns in the OpenAPI document (path, query and batch items
    alike) match a name exactly when the sidecar does not answer it 400 InvalidName."""
    with start() as sidecar, httpx.Client(base_url=sidecar.url, headers=sidecar.headers) as http:
        document = http.get("/openapi.json").json()
        published = _parameters(document)
        patterns = {key: published[key]["pattern"] for key in ("vault", "name", "version")}
        item = document["components"]["schemas"]["BatchRequestItem"]["properties"]
        assert {key: item[key]["pattern"] for key in patterns} == patterns
        served: dict[str, dict[str, bool]] = {"vault": {}, "name": {}, "version": {}}
        for vault in VAULTS:
            answer = http.get(f"/v1/vaults/{vault}/secrets/bronze")
            served["vault"][vault] = answer.status_code != 400
        for name in NAMES:
            answer = http.get(f"/v1/vaults/kv1/secrets/{name}")
            served["name"][name] = answer.status_code != 400
        for version in VERSIONS:
            answer = http.get("/v1/vaults/kv1/secrets/bronze", params={"version": version})
            served["version"][version] = answer.status_code != 400
    assert served == {"vault": VAULTS, "name": NAMES, "version": VERSIONS}
    for key, table in (("vault", VAULTS), ("name", NAMES), ("version", VERSIONS)):
        assert {text: _fullmatch(patterns[key], text) for text in table} == table, key
