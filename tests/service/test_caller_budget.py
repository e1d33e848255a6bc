"""Each caller has a budget of Key Vault calls its reads may start (limits.upstream_rate/burst)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import httpx

from akv_sidecar.testing import FakeClock, run_sidecar

from .conftest import Vault, client


def test_a_caller_over_its_budget_gets_429_while_hits_and_others_go_on(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """Burst 5: the sixth miss is 429 CallerOverBudget with Retry-After, costing Key Vault
    nothing; cached reads still answer; the budget refills at upstream_rate on the clock."""
    kv.seed("bronze")
    clock = FakeClock()
    config = make_config("bronze", limits={"upstream_rate": 2, "upstream_burst": 5})
    with run_sidecar(config, clock=clock) as sidecar, client(sidecar) as http:
        gets_before = kv.gets()
        misses = [http.get(f"/v1/vaults/kv1/secrets/absent-{i}") for i in range(5)]
        assert [r.status_code for r in misses] == [404] * 5
        refused = http.get("/v1/vaults/kv1/secrets/absent-5")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "CallerOverBudget"
        assert refused.headers["retry-after"] == "1"
        assert kv.gets() == gets_before + 5  # the refused read never reached Key Vault
        assert http.get("/v1/vaults/kv1/secrets/bronze").status_code == 200  # a hit
        assert http.get("/v1/vaults/kv1/secrets/bronze?x=1").status_code == 200  # full path hit
        clock.advance(1.0)  # two calls' worth at 2/s
        refilled = [http.get(f"/v1/vaults/kv1/secrets/absent-{i}").status_code for i in (6, 7, 8)]
        assert refilled == [404, 404, 429]


def test_joining_a_call_in_flight_costs_no_budget(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """With a burst of 1, twenty concurrent reads of one slow secret share one call: none is 429."""
    kv.seed("bronze", "slow")
    kv.emulator.inject(vault="kv1", secret="slow", latency=0.5)
    config = make_config("bronze", limits={"upstream_rate": 1, "upstream_burst": 1})
    with run_sidecar(config, clock=FakeClock()) as sidecar:

        def read(_: int) -> int:
            with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as http:
                return http.get("/v1/vaults/kv1/secrets/slow").status_code

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(read, range(20)))
    assert statuses == [200] * 20
    assert kv.gets("slow") == 1


def test_each_caller_has_its_own_budget(
    kv: Vault, make_config: Callable[..., dict[str, Any]], tmp_path: Any
) -> None:
    """One caller spending its budget leaves another's untouched."""
    other_token = "other-caller-token-5f2a91c7"
    (tmp_path / "other").write_text(other_token)
    config = make_config(limits={"upstream_rate": 1, "upstream_burst": 2})
    config["auth"]["tokens"].append(
        {"name": "other", "token_file": str(tmp_path / "other"), "allow": ["*"]}
    )
    with run_sidecar(config, clock=FakeClock()) as sidecar, client(sidecar) as http:
        spent = [http.get(f"/v1/vaults/kv1/secrets/gone-{i}").status_code for i in range(3)]
        assert spent == [404, 404, 429]
        other = {"Authorization": f"Bearer {other_token}"}
        fresh = [
            http.get(f"/v1/vaults/kv1/secrets/gone-{i}", headers=other).status_code
            for i in range(10, 12)
        ]
        assert fresh == [404, 404]


def test_status_shows_who_is_held_to_its_budget(
    kv: Vault, make_config: Callable[..., dict[str, Any]]
) -> None:
    """After a refusal, /v1/status lists the caller with its count of refused reads."""
    config = make_config(limits={"upstream_rate": 1, "upstream_burst": 1})
    with run_sidecar(config, clock=FakeClock()) as sidecar, client(sidecar) as http:
        assert http.get("/v1/vaults/kv1/secrets/gone-1").status_code == 404
        assert http.get("/v1/vaults/kv1/secrets/gone-2").status_code == 429
        assert http.get("/v1/vaults/kv1/secrets/gone-3").status_code == 429
        sidecar.sidecar.records.drain()  # what the drain task does every 0.2 s
        callers = http.get("/v1/status").json()["callers"]
    assert [(row["name"], row["over_budget"]) for row in callers] == [("tests", 2)]
    assert callers[0]["last_over_budget_at"] is not None
