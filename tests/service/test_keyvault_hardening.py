"""What Key Vault sends is not trusted: Retry-After values and API versions it refuses.

Every answer is real: the emulator sends the header or the 400, the sidecar's async SDK reads it
over HTTPS. The sidecar runs on a FakeClock where a throttled vault's reopening matters.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.keyvault.secrets import ApiVersion

from akv_emulator import Emulator
from akv_sidecar.cli.check import run_check
from akv_sidecar.config.fields import API_VERSIONS
from akv_sidecar.config.loading import load_config
from akv_sidecar.core.backoff import Backoff
from akv_sidecar.core.clock import FakeClock
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.keyvault.gate import VaultGate
from akv_sidecar.keyvault.wire import clean_text, retry_after_seconds
from akv_sidecar.testing import RunningSidecar, emulator_config, run_sidecar

from .conftest import Vault, client, max_rand, wait_for

BACKOFF_MAX = 5.0
THROTTLING = {"refresh_interval": "10s", "backoff_max": f"{BACKOFF_MAX:g}s"}
NOT_RECOGNIZED = (
    "HTTP 400 BadParameter: The specified version (2026-04-01) is not recognized. "
    "Consider using the latest supported version (7.4)."
)


def test_retry_after_is_read_as_rfc_9110_allows() -> None:
    """delay-seconds and HTTP-dates are read; inf, nan, 1e9, signs, fractions are not."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 -0000", now) == 30.0
    assert retry_after_seconds("Wed, 31 Dec 2025 23:00:00 GMT", now) == 0.0
    huge = retry_after_seconds("9" * 5000)
    assert huge is not None
    assert math.isfinite(huge)
    assert huge > 86400
    for unusable in ("inf", "nan", "1e9", "-5", "+5", "1.5", "\u0663", "soon", "", None):
        assert retry_after_seconds(unusable) is None, unusable


def test_vault_gate_never_closes_past_backoff_max() -> None:
    """A Retry-After beyond backoff_max closes the gate for backoff_max; inf, nan and 0 back off."""
    clock = FakeClock()
    gate = VaultGate(clock, Backoff(1.0, BACKOFF_MAX, lambda: 1.0))
    assert gate.throttled("kv1", 1e9) == BACKOFF_MAX
    assert gate.remaining("kv1") == BACKOFF_MAX
    assert gate.closed() == {"kv1": BACKOFF_MAX}
    clock.advance(BACKOFF_MAX)
    assert gate.closed() == {}
    assert gate.throttled("kv1", math.inf) == 2.0  # the second strike's backoff
    clock.advance(2.0)
    assert gate.throttled("kv1", math.nan) == 4.0
    assert gate.remaining("kv1") == 4.0
    clock.advance(4.0)
    assert gate.throttled("kv1", 0.0) == BACKOFF_MAX  # "at once" after a 429: still a backoff
    assert gate.remaining("kv1") == BACKOFF_MAX


def _advance_until(clock: FakeClock, done: Callable[[], bool], limit: float, what: str) -> None:
    """Move the fake clock in small steps (letting the refresh schedule run) until ``done``."""
    while not done():
        assert clock.monotonic() < limit, f"not {what} by t={limit:g}"
        wait_for(lambda: clock.sleeping >= 1 or done(), what="the refresh schedule to sleep")
        clock.advance(0.25)


@pytest.mark.parametrize("header", ["inf", "nan", "1e9", "99999999999"])
def test_any_retry_after_is_answered_and_refreshing_resumes(
    kv: Vault, make_config: Callable[..., dict[str, Any]], header: str
) -> None:
    """A 429 with Retry-After: inf/nan/1e9/huge: 503 not 500, the vault shows as throttled for
    at most backoff_max, and refreshing resumes once Key Vault stops throttling."""
    value = kv.seed("bronze", "silver")["bronze"]
    clock = FakeClock()
    config = make_config("bronze", cache=THROTTLING)
    with run_sidecar(config, clock=clock, rand=max_rand) as sidecar, client(sidecar) as http:
        kv.emulator.inject(vault="kv1", throttle=(0, 3600), retry_after=header)
        clock.advance(9.0)
        wait_for(lambda: kv.gets(status=429) == 1, what="the throttled refresh")
        miss = http.get("/v1/vaults/kv1/secrets/silver")
        assert miss.status_code == 503, miss.text
        assert miss.json()["error"]["code"] == "Unavailable"
        assert 1 <= int(miss.headers["retry-after"]) <= BACKOFF_MAX
        hit = http.get("/v1/vaults/kv1/secrets/bronze")
        assert hit.status_code == 200
        assert hit.json()["stale"] is True
        assert http.get("/readyz").status_code == 200
        throttled = sidecar.sidecar.cache.readiness()["throttled"]
        assert [item["vault"] for item in throttled] == ["kv1"]
        assert 0 < throttled[0]["seconds"] <= BACKOFF_MAX
        assert 0 < _vault_status(sidecar)["throttled_for_seconds"] <= BACKOFF_MAX
        kv.emulator.clear_faults()
        _advance_until(
            clock, lambda: kv.gets("bronze", status=200) == 2, 9.0 + 3 * BACKOFF_MAX, "refreshed"
        )
        fresh = http.get("/v1/vaults/kv1/secrets/bronze")
        assert fresh.json()["stale"] is False
        assert fresh.json()["value"] == value
        assert sidecar.sidecar.cache.readiness()["throttled"] == []
        assert _vault_status(sidecar) == {"name": "kv1", "throttled_for_seconds": 0.0}


def test_a_refresh_held_back_by_a_closed_vault_is_served_stale(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """A 429 for one secret closes the vault; another secret due meanwhile is served stale:true
    and listed stale in /readyz (not stale:false at a growing age), then refreshed."""
    kv.seed("bronze", "silver")
    clock = FakeClock()
    config = make_config("bronze", "silver", cache={"refresh_interval": "10s"})
    with run_sidecar(config, clock=clock, rand=max_rand) as sidecar, client(sidecar) as http:
        kv.emulator.inject(vault="kv1", secret="silver", throttle=(0, 3600), retry_after="30")
        clock.advance(9.0)
        wait_for(lambda: kv.gets("silver", status=429) == 1, what="silver's throttled refresh")

        def bronze_stale() -> bool:
            return any(item["name"] == "bronze" for item in http.get("/readyz").json()["stale"])

        _advance_until(clock, bronze_stale, 30.0, "bronze held back")
        held = http.get("/v1/vaults/kv1/secrets/bronze")
        assert held.status_code == 200
        assert held.json()["stale"] is True
        assert held.headers["x-cache"] == "stale"
        stale = {item["name"]: item["error"] for item in sidecar.sidecar.cache.readiness()["stale"]}
        assert stale["bronze"] == "throttled by Key Vault"
        assert stale["silver"].startswith("HTTP 429 Throttled: ")  # Key Vault's own words kept
        assert set(stale) == {"bronze", "silver"}
        calls = kv.gets("bronze")
        _advance_until(clock, lambda: clock.monotonic() >= 35.0, 36.0, "t=35")
        assert kv.gets("bronze") == calls  # no call goes to the vault before it reopens at 39 s
        kv.emulator.clear_faults()
        _advance_until(clock, lambda: kv.gets("bronze") == calls + 1, 60.0, "bronze refreshed")
        assert http.get("/v1/vaults/kv1/secrets/bronze").json()["stale"] is False


def _vault_status(sidecar: RunningSidecar) -> dict[str, Any]:
    """kv1's row in the /v1/status document (as the status board renders it)."""
    live = sidecar.sidecar
    document = live.status.render(live.cache.store.entries(), ready=live.cache.ready)
    rows = [row for row in document["vaults"] if row["name"] == "kv1"]
    assert len(rows) == 1, document["vaults"]
    return dict(rows[0])


# --- API versions ------------------------------------------------------------------------------


def test_config_api_versions_are_the_sdks() -> None:
    """The versions the config accepts are exactly the ones the installed SDK can speak."""
    assert set(API_VERSIONS) == {version.value for version in ApiVersion}


def test_api_version_is_validated_with_a_clear_error(
    emulator: Emulator, tmp_path: Any, identity_env: dict[str, str]
) -> None:
    """vaults[].api_version takes 7.4 (a YAML number) or a date; 7.9 is refused by name."""
    config = emulator_config(emulator, tmp_path, {"kv1": []})
    config["vaults"][0]["api_version"] = 7.4
    assert load_config(data=config, environ={}).vaults[0].api_version == "7.4"
    config["vaults"][0]["api_version"] = datetime(2016, 10, 1).date()
    assert load_config(data=config, environ={}).vaults[0].api_version == "2016-10-01"
    config["vaults"][0]["api_version"] = "7.9"
    with pytest.raises(ConfigError, match=r"vaults\[0\]\.api_version.*7\.4") as refused:
        load_config(data=config, environ={})
    assert "Expected a Key Vault API version" in str(refused.value)


@pytest.fixture
def lagging(identity_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator whose vault kv1 speaks only api-version 7.4, like a Key Vault that lags."""
    with Emulator(vaults=("kv1",), api_versions=("7.4", "7.3")) as emu:
        for name, value in emu.identity_env().items():
            monkeypatch.setenv(name, value)
        emu.set_secret("kv1", "bronze", "lagging-value-5b9e")
        yield emu


def test_check_names_the_refused_api_version_and_works_with_the_vaults(
    lagging: Emulator, tmp_path: Any
) -> None:
    """`check` against a vault that lags prints Key Vault's code and message; api_version 7.4
    makes it pass."""
    config = emulator_config(lagging, tmp_path, {"kv1": ["bronze"]})
    out = io.StringIO()
    assert run_check(load_config(data=config, environ={}), out) == 1
    assert f"FAILED error: {NOT_RECOGNIZED}" in out.getvalue()
    config["vaults"][0]["api_version"] = "7.4"
    out = io.StringIO()
    assert run_check(load_config(data=config, environ={}), out) == 0, out.getvalue()
    assert "lagging-value" not in out.getvalue()


def test_readyz_status_and_logs_carry_key_vaults_message(
    lagging: Emulator, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The refused version's code and message show in /readyz, /v1/status and the log."""
    caplog.set_level(logging.WARNING, logger="akv_sidecar")
    config = emulator_config(lagging, tmp_path, {"kv1": ["bronze"]})
    with run_sidecar(config) as sidecar, client(sidecar) as http:
        failed = http.get("/readyz").json()["failed"]
        assert [item["error"] for item in failed] == [NOT_RECOGNIZED]
        rows = http.get("/v1/status").json()["secrets"]
        assert [row["last_error"] for row in rows] == [f"error: {NOT_RECOGNIZED}"]
        read = http.get("/v1/vaults/kv1/secrets/bronze")
        assert read.status_code == 502
        assert NOT_RECOGNIZED in read.json()["error"]["message"]
    assert any(NOT_RECOGNIZED in record.getMessage() for record in caplog.records)


def test_key_vaults_message_is_clipped_and_stripped_of_control_characters(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """A 600-character message with newlines and escapes becomes one clipped, clean line."""
    message = "Firewall\r\nsays\x1b[31m no\u202e" + " blocked" * 80
    kv.emulator.inject(vault="kv1", status=403, code="ForbiddenByFirewall", message=message)
    with run_sidecar(make_config("bronze")) as sidecar, client(sidecar) as http:
        error = http.get("/readyz").json()["failed"][0]["error"]
    assert error.startswith("HTTP 403 ForbiddenByFirewall: Firewall says [31m no blocked")
    assert error.endswith("...")
    assert len(error) <= len("HTTP 403 ForbiddenByFirewall: ") + 200
    assert not any(ord(char) < 32 or char == "\u202e" for char in error)
    assert clean_text("a\u2028b\tc", 10) == "a b c"
