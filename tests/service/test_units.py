"""The pure parts: fake clock, policy decisions, store entries and caller authentication."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from akv_sidecar import ApiError, ConfigError
from akv_sidecar.cache.policy import NegativeCache, RateLimit, SingleFlight, refresh_delay
from akv_sidecar.cache.store import Store, age_tenths, make_entry
from akv_sidecar.config.schema import AuthConfig, TokenConfig, VaultConfig
from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.bounded import BoundedMap
from akv_sidecar.http.auth import Authenticator, Caller
from akv_sidecar.keyvault.gate import VaultGate
from akv_sidecar.keyvault.secret import SecretData
from akv_sidecar.testing import FakeClock


async def test_fake_clock_wakes_due_sleepers_in_order_from_another_thread() -> None:
    """advance() from another thread wakes exactly the sleepers whose deadline passed, in order."""
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 2), ("a", 1), ("c", 3))]
    for _ in range(100):  # bounded: let the three tasks reach their sleep
        await asyncio.sleep(0)
    assert clock.sleeping == 3
    thread = threading.Thread(target=clock.advance, args=(2.0,))
    thread.start()
    thread.join()
    await asyncio.sleep(0.01)
    assert woke == ["a", "b"]
    assert clock.monotonic() == 2.0
    assert clock.sleeping == 1
    clock.advance(1.0)
    await asyncio.gather(*tasks)
    assert woke == ["a", "b", "c"]
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)


def test_backoff_full_jitter_and_refresh_jitter() -> None:
    """Backoff draws from [0, min(cap, base*2^n)]; refreshes come up to jitter early, never late."""
    backoff = Backoff(1.0, 30.0, lambda: 1.0)
    assert [backoff.delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert Backoff(1.0, 30.0, lambda: 0.25).delay(3) == 2.0
    assert refresh_delay(300, 0.1, lambda: 0.0) == 300
    assert refresh_delay(300, 0.1, lambda: 1.0) == pytest.approx(270)


def test_vault_gate_honours_retry_after_then_doubles_without_it() -> None:
    """A 429 closes the vault for Retry-After, else for 1, 2, 4... s; success resets doubling."""
    clock = FakeClock()
    gate = VaultGate(clock, Backoff(1.0, 60.0, lambda: 1.0))
    assert gate.throttled("kv1", 2.0) == 2.0
    assert gate.remaining("kv1") == 2.0
    assert gate.remaining("other") == 0
    clock.advance(2.0)
    assert [gate.throttled("kv1", None) for _ in range(3)] == [2.0, 4.0, 8.0]
    gate.succeeded("kv1")
    assert gate.throttled("kv1", None) == 1.0


def test_negative_cache_and_rate_limit_follow_the_clock() -> None:
    """Negative entries expire after their TTL; the rate limit allows one per interval per key."""
    clock = FakeClock()
    negative: NegativeCache[str, str] = NegativeCache(clock, 30.0, max_size=2)
    negative.remember("a", "gone")
    clock.advance(29.9)
    assert negative.recall("a") == "gone"
    clock.advance(0.2)
    assert negative.recall("a") is None
    for key in "xyz":
        negative.remember(key, key)
    assert negative.recall("x") is None
    assert negative.recall("z") == "z"
    clock = FakeClock()
    limit: RateLimit[str] = RateLimit(clock, 10.0)
    assert limit.acquire("s") == 0
    assert limit.acquire("t") == 0
    clock.advance(4)
    assert limit.acquire("s") == pytest.approx(6)
    clock.advance(6)
    assert limit.acquire("s") == 0


async def test_single_flight_shares_one_call_and_survives_a_cancelled_waiter() -> None:
    """Concurrent callers share one run; one caller giving up does not cancel it for the rest."""
    calls = 0
    release = asyncio.Event()
    tasks: set[asyncio.Task[int]] = set()

    def spawn(work: Coroutine[Any, Any, int]) -> asyncio.Task[int]:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        return task

    flights: SingleFlight[str, int] = SingleFlight(spawn)

    async def work() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    waiters = [asyncio.create_task(flights.run("k", work)) for _ in range(10)]
    await asyncio.sleep(0.01)
    waiters[0].cancel()
    release.set()
    results = await asyncio.gather(*waiters[1:])
    assert calls == 1
    assert results == [42] * 9
    assert not flights.in_flight("k")


def test_entry_prebuilt_body_and_masked_repr() -> None:
    """An entry serialises once; each render adds age and staleness; no repr shows the value."""
    secret = SecretData("Bronze", "s3cr3t-value", "ab" * 16, "text/plain", {"env": "dev"})
    assert "s3cr3t-value" not in repr(secret)
    entry = make_entry("kv1", secret, fetched_at=1_700_000_000.0, fetched_mono=5.0)
    assert "s3cr3t-value" not in repr(entry)
    body = json.loads(entry.render(age_tenths(entry.age(7.5)), stale=True))
    assert body == {
        "vault": "kv1",
        "name": "Bronze",
        "value": "s3cr3t-value",
        "version": "ab" * 16,
        "content_type": "text/plain",
        "tags": {"env": "dev"},
        "enabled": True,
        "not_before": None,
        "expires_on": None,
        "updated_on": None,
        "fetched_at": "2023-11-14T22:13:20.000Z",
        "age_seconds": 2.5,
        "stale": True,
    }
    store = Store(max_versions=1)
    store.put(entry)
    assert store.get(("kv1", "bronze")) is entry
    store.mark_stale(("kv1", "bronze"))
    assert store.get(("kv1", "bronze")).stale  # type: ignore[union-attr]
    store.put_version(entry)
    store.put_version(make_entry("kv1", SecretData("Bronze", "x", "cd" * 16), 0.0, 0.0))
    assert store.get_version(("kv1", "bronze", "ab" * 16)) is None  # the bound: oldest-written goes


def test_authenticator_keeps_hashes_and_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens: 401 absent or malformed, 403 unknown or outside allow; only hashes kept."""
    token = "t" * 20 + "-jobs"
    (tmp_path / "token").write_text(token + "\n")
    monkeypatch.setenv("OTHER_TOKEN", "o" * 24)
    auth = Authenticator(
        AuthConfig(
            (
                TokenConfig("jobs", token_file=str(tmp_path / "token"), allow=("kv1/bronze-*",)),
                TokenConfig("ops", token_env="OTHER_TOKEN"),
            )
        ),
        "test.yaml",
    )
    assert token not in repr(vars(auth))
    for header in (None, b"", b"Basic abc", b"Bearer", b"Bearer  "):
        with pytest.raises(ApiError) as caught:
            auth.authenticate(header)
        assert caught.value.status == 401
        assert caught.value.headers == {"WWW-Authenticate": "Bearer"}
    with pytest.raises(ApiError) as caught:
        auth.authenticate(b"Bearer wrong-token-value")
    assert caught.value.status == 403
    jobs = auth.authenticate(f"bearer {token}".encode())
    assert jobs.name == "jobs"
    ops = auth.identify(f"Bearer {'o' * 24}".encode())
    assert ops is not None
    assert ops.name == "ops"
    assert auth.allowed(jobs, "kv1", "bronze-key")
    assert not auth.allowed(jobs, "kv1", "silver-key")
    with pytest.raises(ApiError, match="may not read 'KV1/silver-key'"):
        auth.authorize(jobs, "KV1", "silver-key")


def test_identify_knows_every_form_of_a_bearer_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path's identify and the full path's authenticate agree on every header form."""
    token = "k" * 24
    monkeypatch.setenv("JOBS_TOKEN", token)
    auth = Authenticator(AuthConfig((TokenConfig("jobs", token_env="JOBS_TOKEN"),)), "t.yaml")
    accepted = (f"Bearer {token}", f"bearer {token}", f"BEARER   {token} ")
    refused = (f"Bearer {token}x", f"Bearer {token} x", f"Basic {token}", "", "Bearer ", token)
    for header in accepted + refused:
        fast = auth.identify(header.encode())
        try:
            full: Caller | None = auth.authenticate(header.encode())
        except ApiError:
            full = None
        assert fast == full, header
        assert (fast is not None) == (header in accepted), header
    monkeypatch.setenv("JOBS_TOKEN", "n" * 24)
    auth.reload()
    assert auth.identify(f"Bearer {token}".encode()) is None  # the old header's digest is gone


def test_tokens_that_cannot_travel_in_a_header_refuse_to_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token with a space, a tab or a non-ASCII character is a ConfigError naming its key."""
    for bad in ("abcdefgh ijklmnop", "abcdefgh\tijklmnop", "abcdefgh-ijklmnöp"):
        monkeypatch.setenv("ODD_TOKEN", bad)
        with pytest.raises(ConfigError, match=r"auth\.tokens\[0\]\.token_env.*printable ASCII"):
            Authenticator(AuthConfig((TokenConfig("odd", token_env="ODD_TOKEN"),)), "t.yaml")


def test_short_or_missing_tokens_refuse_to_start(tmp_path: Path) -> None:
    """A missing token file or a short token is a ConfigError naming the key and source."""
    with pytest.raises(
        ConfigError, match=r"'auth.tokens\[0\].token_file' in cfg.yaml: cannot read"
    ):
        Authenticator(AuthConfig((TokenConfig("a", token_file=str(tmp_path / "no")),)), "cfg.yaml")
    (tmp_path / "short").write_text("abc")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        Authenticator(
            AuthConfig((TokenConfig("a", token_file=str(tmp_path / "short")),)), "cfg.yaml"
        )


def test_a_cached_rendering_never_shows_the_value_in_its_repr() -> None:
    """The fast path's kept response (headers and body) is left out of its repr."""
    from akv_sidecar.http.reads import Rendered

    secret = SecretData("Bronze", "s3cr3t-value", "ab" * 16)
    entry = make_entry("kv1", secret, fetched_at=0.0, fetched_mono=0.0)
    head = b"content-type: application/json\r\n"
    rendering = Rendered(entry, 0, head, head + b"\r\n" + entry.render(0, stale=False))
    assert b"s3cr3t-value" in rendering.tail
    assert "s3cr3t-value" not in repr(rendering)


def test_listed_names_join_the_configured_ones_ignoring_case() -> None:
    """check and serve fetch the same names: listed ones join unless a configured one matches."""
    vault = VaultConfig("kv1", secrets=("Bronze", "*"))
    assert vault.lists_all
    assert vault.names_with() == ["Bronze"]
    assert vault.names_with(["bronze", "silver", "SILVER-2"]) == ["Bronze", "silver", "SILVER-2"]
    assert not VaultConfig("kv1", secrets=("bronze",)).lists_all


def test_bounded_map_drops_the_least_recently_written_entry() -> None:
    """A full map drops the entry written longest ago; reads never reorder; repr hides values."""
    bounded: BoundedMap[str, str] = BoundedMap(2)
    bounded["a"] = "value-a"
    bounded["b"] = "value-b"
    assert bounded.get("a") == "value-a"  # a read: "a" is still the oldest write
    bounded["c"] = "value-c"
    assert list(bounded) == ["b", "c"]
    bounded["b"] = "value-b2"  # a rewrite makes "b" the newest
    bounded["d"] = "value-d"
    assert list(bounded) == ["b", "d"]
    assert "value" not in repr(bounded)
    with pytest.raises(ValueError, match="at least one"):
        BoundedMap(0)
