"""SidecarClient against the real sidecar and Key Vault emulator (HTTPS, real Azure SDK)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from akv_client import (
    Forbidden,
    InvalidRequest,
    RateLimited,
    SecretNotFound,
    SidecarClient,
    SidecarTimeout,
    Unauthorized,
)
from tests.client.conftest import SEEDED, CountingClient, seed, sidecar_config

if TYPE_CHECKING:
    from akv_emulator import Emulator
    from akv_sidecar.testing import RunningSidecar


def test_get_secret_serves_the_cache(client: CountingClient, emulator: Emulator) -> None:
    """Prefetched reads return the vault's value from the cache: no further Key Vault call."""
    gets_before = emulator.calls(vault="kv1", op="get", secret="bronze-key")
    for _ in range(20):
        secret = client.get_secret("kv1", "bronze-key")
    assert secret.value == SEEDED["bronze-key"]
    assert secret.cache == "hit"
    assert (secret.vault, secret.name, secret.stale) == ("kv1", "bronze-key", False)
    assert SEEDED["bronze-key"] not in repr(secret)
    assert emulator.calls(vault="kv1", op="get", secret="bronze-key") == gets_before


def test_get_secret_by_version(client: CountingClient, emulator: Emulator) -> None:
    """version= returns that version even after the secret was rotated."""
    old = client.get_secret("kv1", "silver-key")
    emulator.set_secret("kv1", "silver-key", "silver-rotated")
    assert client.refresh_secret("kv1", "silver-key").value == "silver-rotated"
    pinned = client.get_secret("kv1", "silver-key", version=old.version)
    assert pinned.value == SEEDED["silver-key"]
    assert pinned.version == old.version


def test_get_secrets_is_one_batch(client: CountingClient) -> None:
    """get_secrets returns each secret or its own error, in request order."""
    outcomes = client.get_secrets(
        [("kv1", "bronze-key"), ("kv1", "no-such-secret"), ("kv1", "silver-key")]
    )
    bronze, missing, silver = outcomes
    assert not isinstance(bronze, Exception)
    assert not isinstance(silver, Exception)
    assert (bronze.value, silver.value) == (SEEDED["bronze-key"], SEEDED["silver-key"])
    assert isinstance(missing, SecretNotFound)
    assert "'kv1/no-such-secret'" in str(missing)
    assert client.calls == {"get_secrets": 1}


def test_refresh_secret_fetches_now_and_is_rate_limited(
    client: CountingClient, emulator: Emulator
) -> None:
    """refresh_secret returns a rotated value at once; a second refresh within 10 s is 429."""
    emulator.set_secret("kv1", "bronze-key", "bronze-rotated")
    assert client.get_secret("kv1", "bronze-key").value == SEEDED["bronze-key"]
    gets = emulator.calls(vault="kv1", op="get", secret="bronze-key")
    assert client.refresh_secret("kv1", "bronze-key").value == "bronze-rotated"
    assert emulator.calls(vault="kv1", op="get", secret="bronze-key") == gets + 1
    with pytest.raises(RateLimited, match="'kv1/bronze-key'"):
        client.refresh_secret("kv1", "bronze-key")


def test_errors_name_vault_and_secret(sidecar: RunningSidecar) -> None:
    """Missing/wrong tokens, bad names and unknown vaults each raise their own exception."""
    with SidecarClient(sidecar.url, None) as anonymous, pytest.raises(Unauthorized) as info:
        anonymous.get_secret("kv1", "bronze-key")
    assert "'kv1/bronze-key'" in str(info.value)
    with SidecarClient(sidecar.url, "wrong-token") as wrong, pytest.raises(Forbidden):
        wrong.get_secret("kv1", "bronze-key")
    with SidecarClient(sidecar.url, sidecar.token) as client:
        with pytest.raises(InvalidRequest, match="'kv1/bad_name'"):
            client.get_secret("kv1", "bad_name")
        with pytest.raises(SecretNotFound, match="not configured"):
            client.get_secret("kv9", "bronze-key")
        with pytest.raises(SecretNotFound, match="'kv1/never-set' was not found"):
            client.get_secret("kv1", "never-set")


def test_allow_list_denial_is_forbidden(
    emulator: Emulator, identity_env: dict[str, str], tmp_path: Path
) -> None:
    """A token whose allow list excludes the secret gets Forbidden naming it."""
    from akv_sidecar.testing import run_sidecar

    seed(emulator)
    (tmp_path / "narrow").write_text("narrow-token-0123456789")
    config = sidecar_config(emulator, tmp_path)
    config["auth"]["tokens"].append(
        {"name": "narrow", "token_file": str(tmp_path / "narrow"), "allow": ["kv1/silver-*"]}
    )
    with (
        run_sidecar(config) as running,
        SidecarClient(running.url, "narrow-token-0123456789") as client,
    ):
        assert client.get_secret("kv1", "silver-key").value == SEEDED["silver-key"]
        with pytest.raises(Forbidden, match="'kv1/bronze-key'"):
            client.get_secret("kv1", "bronze-key")


def test_timeout_holds_when_key_vault_hangs(client: CountingClient, emulator: Emulator) -> None:
    """With Key Vault hanging, a 1 s call raises SidecarTimeout (a TimeoutError) within 2 s."""
    emulator.inject("kv1", secret="slow-key", hang=True)
    start = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        client.get_secret("kv1", "slow-key", timeout=1.0)
    assert time.monotonic() - start < 2.0
    assert isinstance(info.value, SidecarTimeout)
    assert "'kv1/slow-key'" in str(info.value)


def test_defaults_come_from_the_environment(
    sidecar: RunningSidecar, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SidecarClient() reads AKV_SIDECAR_URL and AKV_SIDECAR_TOKEN_FILE."""
    token_file = tmp_path / "caller-token"
    token_file.write_text(sidecar.token + "\n")
    monkeypatch.setenv("AKV_SIDECAR_URL", sidecar.url)
    monkeypatch.delenv("AKV_SIDECAR_TOKEN", raising=False)
    monkeypatch.setenv("AKV_SIDECAR_TOKEN_FILE", str(token_file))
    with SidecarClient() as client:
        assert client.url == sidecar.url
        assert client.get_secret("kv1", "bronze-key").value == SEEDED["bronze-key"]


def test_one_client_serves_many_threads(client: CountingClient) -> None:
    """8 threads x 25 reads through one pooled client all get the right value."""
    names = ["bronze-key", "silver-key"] * 100
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(lambda name: client.get_secret("kv1", name).value, names))
    assert values == [SEEDED[name] for name in names]


def test_wait_until_ready_waits_for_prefetch(
    emulator: Emulator, identity_env: dict[str, str], tmp_path: Path
) -> None:
    """wait_until_ready returns only after the sidecar's slow prefetch finished."""
    from akv_sidecar.testing import run_sidecar

    seed(emulator)
    emulator.inject("kv1", latency=0.8)
    with (
        run_sidecar(sidecar_config(emulator, tmp_path), wait_ready=False) as running,
        SidecarClient(running.url, running.token) as client,
    ):
        assert not client.status().ready
        client.wait_until_ready(timeout=10)
        status = client.status()
        assert status.reachable
        assert status.ready
        assert client.get_secret("kv1", "bronze-key").value == SEEDED["bronze-key"]
