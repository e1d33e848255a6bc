"""POST /v1/tokens: access tokens of the sidecar's own identity from the emulator's token
endpoint, cached and shared by concurrent callers, refreshed in the background before they expire
(the sidecar on a FakeClock started at the real time, which the emulator's expiries use)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from azure.core.credentials import AccessToken

from akv_emulator import Emulator
from akv_sidecar.core.clock import FakeClock
from akv_sidecar.core.tasks import Tasks
from akv_sidecar.vending.outcomes import Refused
from akv_sidecar.vending.tokens import MIN_LEFT, RETRY_AFTER, TokenVendor
from tests._waiting import wait_for

from .conftest import KEY_SECRET, STORAGE_SCOPE, Api, account, audit_lines, serve

STORAGE = "https://storage.azure.com"
VAULT_SCOPE = "https://vault.azure.net/.default"
DAY = 86400


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def storage_tokens(emulator: Emulator, status: int | None = 200) -> int:
    """Token requests the emulator answered for Azure Storage."""
    return emulator.calls(vault="identity", op="token", secret=STORAGE, status=status)


def issued(api: Api) -> tuple[str, float]:
    answer = api.token()
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"], epoch(answer.json()["expires_on"])


def test_tokens_returns_the_emulators_storage_token(
    seeded: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A storage token from one request to the emulator's endpoint, with its 24 h expiry; asking
    again is answered from the cache; one audit line each, without the token."""
    with serve(seeded, tmp_path, []) as api:
        answer = api.token()
        assert answer.status_code == 200
        assert set(answer.json()) == {"access_token", "expires_on", "scope"}
        assert answer.json()["scope"] == STORAGE_SCOPE
        assert abs(epoch(answer.json()["expires_on"]) - (time.time() + DAY)) < 60
        assert api.token().json()["access_token"] == answer.json()["access_token"]
        assert storage_tokens(seeded) == 1
    lines = audit_lines(capsys.readouterr().out, "token issued")
    assert [(line["caller"], line["scope"], line["outcome"]) for line in lines] == [
        ("tests", STORAGE_SCOPE, "ok")
    ] * 2


def test_200_concurrent_requests_cost_one_token_request(seeded: Emulator, tmp_path: Path) -> None:
    """200 callers at once with nothing cached: one request to the identity endpoint, one token
    for all of them."""
    with serve(seeded, tmp_path, []) as api:
        answers = api.post_many("/v1/tokens", {"scope": STORAGE_SCOPE}, 200)
        assert [status for status, _ in answers] == [200] * 200
        assert len({document["access_token"] for _, document in answers}) == 1
        assert storage_tokens(seeded) == 1
        assert api.sidecar.sidecar.vending.tokens.requests == 1


def test_token_is_refreshed_before_callers_see_it_expire(seeded: Emulator, tmp_path: Path) -> None:
    """Four minutes before expiry a request is answered at once with the cached token and starts
    one refresh; the next callers get the new token, and nobody got the old one near its end."""
    clock = FakeClock(start=time.time())
    with serve(seeded, tmp_path, [], clock=clock) as api:
        first, expires_on = issued(api)
        clock.advance(expires_on - clock.time() - 240)
        assert issued(api)[0] == first  # valid for 4 more minutes: served, not waited for
        wait_for(lambda: storage_tokens(seeded) == 2, what="the background refresh")
        _, renewed = wait_for(lambda: (t := issued(api))[0] != first and t)
        assert renewed >= expires_on
        assert renewed - clock.time() > MIN_LEFT
        assert storage_tokens(seeded) == 2  # one refresh, however many asked


def test_failed_refresh_keeps_the_valid_token_and_never_hands_out_a_dying_one(
    seeded: Emulator, tmp_path: Path
) -> None:
    """While the identity endpoint fails, callers keep the cached token (one retry per 30 s, in
    the background); with under a minute left it is no longer handed out (502)."""
    clock = FakeClock(start=time.time())
    with serve(seeded, tmp_path, [], clock=clock) as api:
        first, expires_on = issued(api)
        seeded.fail_identity(400)
        clock.advance(expires_on - clock.time() - 240)
        assert issued(api)[0] == first
        wait_for(lambda: storage_tokens(seeded, 400) == 1, what="the failed refresh")
        assert [issued(api)[0] for _ in range(5)] == [first] * 5
        clock.advance(RETRY_AFTER)
        assert issued(api)[0] == first
        wait_for(lambda: storage_tokens(seeded, 400) == 2, what="the retried refresh")
        clock.advance(expires_on - clock.time() - MIN_LEFT / 2)
        dying = api.token()
        assert (dying.status_code, dying.json()["error"]["code"]) == (502, "TokenUnavailable")
        # (Recovery is shown by the refresh test: here the fake clock runs a day ahead of the
        # emulator's, so any token it issues now looks to the sidecar as if about to expire.)


def test_token_comes_from_the_key_vault_clients_credential(
    seeded: Emulator, tmp_path: Path
) -> None:
    """A vault-scope token is the very one the sidecar's Key Vault client holds: no second token
    request, and the emulator's vault accepts it."""
    with serve(seeded, tmp_path, [account()], scopes=(VAULT_SCOPE,)) as api:
        answer = api.token(VAULT_SCOPE)
        assert answer.status_code == 200
        vault_tokens = seeded.calls(vault="identity", op="token", secret="https://vault.azure.net")
        assert vault_tokens == 1  # the one the prefetch of the account key needed
        read = httpx.get(
            f"{seeded.vault_url('kv1')}/secrets/{KEY_SECRET}",
            params={"api-version": "7.4"},
            headers={"Authorization": f"Bearer {answer.json()['access_token']}"},
            verify=seeded.client_ssl_context(),
        )
        assert read.status_code == 200


def test_scopes_and_callers_are_checked(seeded: Emulator, tmp_path: Path) -> None:
    """An unlisted scope is 404; a caller whose allow lacks token/<scope> is 403; one with it gets
    the token; refusals mint nothing."""
    callers = (
        {"name": "storage-token", "allow": [f"token/{STORAGE_SCOPE}"]},
        {"name": "secrets-only", "allow": ["kv1/*"]},
    )
    with serve(seeded, tmp_path, [], callers=callers) as api:
        unlisted = api.token("https://management.azure.com/.default")
        assert (unlisted.status_code, unlisted.json()["error"]["code"]) == (
            404,
            "ScopeNotConfigured",
        )
        refused = api.token(caller="secrets-only")
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "Forbidden")
        assert storage_tokens(seeded, None) == 0
        assert api.token(caller="storage-token").status_code == 200
        assert api.token(STORAGE_SCOPE.upper(), caller="storage-token").status_code == 200
        assert storage_tokens(seeded) == 1


def test_emulator_issues_storage_and_vault_tokens_only(emulator: Emulator) -> None:
    """The emulator's identity endpoint issues tokens for Key Vault and Azure Storage (the latter
    marked for refresh at once, so azure-identity keeps no copy), refuses other resources, and
    counts each request under its resource."""
    ask = {"X-IDENTITY-HEADER": emulator.identity_header}

    def token(resource: str) -> httpx.Response:
        params = {"api-version": "2019-08-01", "resource": resource}
        return httpx.get(emulator.identity_endpoint, headers=ask, params=params)

    storage, vault = token(STORAGE), token("https://vault.azure.net")
    assert (storage.status_code, storage.json()["refresh_in"]) == (200, 0)
    assert vault.status_code == 200
    assert "refresh_in" not in vault.json()
    other = token("https://management.azure.com")
    assert (other.status_code, other.json()["statusCode"]) == (400, 400)
    assert storage_tokens(emulator) == 1
    assert emulator.calls(vault="identity", op="token", secret="https://management.azure.com") == 1


def test_credential_answering_from_its_cache_is_asked_again_only_every_30_s(
    seeded: Emulator, tmp_path: Path
) -> None:
    """A vault token is cached by azure-identity on the real clock: in the refresh window the
    credential hands back the token held, which is kept, and asked for again only RETRY_AFTER
    later, however many callers come; the identity endpoint is never asked."""
    clock = FakeClock(start=time.time())
    with serve(seeded, tmp_path, [account()], clock=clock, scopes=(VAULT_SCOPE,)) as api:
        vendor = api.sidecar.sidecar.vending.tokens
        held = api.token(VAULT_SCOPE).json()
        clock.advance(epoch(held["expires_on"]) - clock.time() - 240)
        for _ in range(5):
            assert api.token(VAULT_SCOPE).json()["access_token"] == held["access_token"]
        wait_for(lambda: vendor.requests == 2, what="the one background attempt")
        clock.advance(RETRY_AFTER - 1)
        assert api.token(VAULT_SCOPE).json()["access_token"] == held["access_token"]
        assert vendor.requests == 2
        clock.advance(1)
        assert api.token(VAULT_SCOPE).json()["access_token"] == held["access_token"]
        wait_for(lambda: vendor.requests == 3, what="the attempt 30 s later")
        vault_tokens = seeded.calls(vault="identity", op="token", secret="https://vault.azure.net")
        assert vault_tokens == 1


class _CachedCredential:
    """Stands in for azure-identity answering from its own cache while its refresh fails (its
    get_token returns the token it holds, however little it has left): what the real credential
    does cannot be produced on demand by the emulator, whose storage tokens are never cached."""

    def __init__(self, expires_on: float) -> None:
        self.expires_on = expires_on

    async def get_token(self, *scopes: str, **_: object) -> AccessToken:
        return AccessToken("cached-token-3f9a1c", int(self.expires_on))

    async def close(self) -> None:
        return None


async def test_a_token_with_under_a_minute_left_is_never_handed_out() -> None:
    """A credential answering with a token 30 s from expiry gets the caller a refusal, not it."""
    clock = FakeClock(start=1_700_000_000.0)
    credential = _CachedCredential(clock.time() + MIN_LEFT / 2)
    tasks = Tasks()
    vendor = TokenVendor([STORAGE_SCOPE], lambda: credential, clock, tasks, timeout=5.0)
    outcome = await vendor.token(STORAGE_SCOPE)
    await tasks.cancel_all()
    assert isinstance(outcome, Refused)
    assert "cached-token-3f9a1c" not in repr(outcome)
