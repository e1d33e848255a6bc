"""/v1/status shows each caller only the secrets it may read; an admin token sees every one."""

from __future__ import annotations

from pathlib import Path

import httpx

from .conftest import Output, StartSidecar, bearer


def test_status_lists_only_what_the_caller_may_read(
    start: StartSidecar, tmp_path: Path, output: Output
) -> None:
    """A caller allowed kv1/bronze sees bronze alone; an admin allowed only gold sees all three."""
    tokens = {"reader": "reader-token-1f4c8e2a9b", "ops": "ops-token-7d3e5a1c0f9b"}
    output.private += list(tokens.values())
    callers = []
    for name, token in tokens.items():
        (tmp_path / name).write_text(token)
        allow = ["kv1/bronze"] if name == "reader" else ["kv1/gold"]
        entry = {"name": name, "token_file": str(tmp_path / name), "allow": allow}
        callers.append({**entry, "admin": name == "ops"})
    with start(auth={"tokens": callers}) as sidecar:
        url = f"{sidecar.url}/v1/status"
        httpx.get(f"{sidecar.url}/v1/vaults/kv1/secrets/gold", headers=bearer(tokens["ops"]))
        reader = httpx.get(url, headers=bearer(tokens["reader"]))
        admin = httpx.get(url, headers=bearer(tokens["ops"]))
    assert reader.status_code == admin.status_code == 200
    assert [row["name"] for row in reader.json()["secrets"]] == ["bronze"]
    assert {row["name"] for row in admin.json()["secrets"]} == {"bronze", "silver", "gold"}
