"""Unit tests of the status board with a fake clock."""

from __future__ import annotations

from akv_sidecar.cache.store import make_entry
from akv_sidecar.core.clock import FakeClock
from akv_sidecar.keyvault.secret import SecretData
from akv_sidecar.ops.records import ReadRecord
from akv_sidecar.ops.status import MAX_UNTRACKED, StatusBoard


def test_status_lists_versions_errors_calls_reads_and_next_refresh() -> None:
    """Per secret: version, age, stale, last error, next refresh, calls and reads; no value."""
    clock = FakeClock(start=1_700_000_000.0)
    board = StatusBoard(clock)
    secret = SecretData(name="Bronze", value="hunter2-value", version="a" * 32)
    entry = make_entry("kv1", secret, clock.time(), clock.monotonic())
    board.record_call("kv1", "Bronze", "ok", None)
    board.record_call("kv1", "bronze", "throttled", "HTTP 429 Throttled")
    board.record_next_refresh("kv1", "bronze", 300.0)
    board.record_call("kv1", "ghost", "not_found", "not found in Key Vault")
    record = ReadRecord(clock.time(), "spark", "kv1", "bronze", "a" * 32, "ok", "hit", 0.001, "x")
    board.count_reads([record, record, record._replace(outcome="Forbidden")])
    clock.advance(12.5)
    document = board.render([entry], ready=True)
    assert "hunter2-value" not in repr(document)
    assert document == {
        "ready": True,
        "vaults": [],
        "callers": [],
        "secrets": [
            {
                "vault": "kv1",
                "name": "Bronze",
                "version": "a" * 32,
                "fetched_at": "2023-11-14T22:13:20.000Z",
                "age_seconds": 12.5,
                "stale": False,
                "last_error": "throttled: HTTP 429 Throttled",
                "last_error_at": "2023-11-14T22:13:20.000Z",
                "next_refresh_at": "2023-11-14T22:18:20.000Z",
                "keyvault_calls": 2,
                "reads": 2,
            },
            {
                "vault": "kv1",
                "name": "ghost",
                "version": None,
                "fetched_at": None,
                "age_seconds": None,
                "stale": None,
                "last_error": "not_found: not found in Key Vault",
                "last_error_at": "2023-11-14T22:13:20.000Z",
                "next_refresh_at": None,
                "keyvault_calls": 1,
                "reads": 0,
            },
        ],
    }


def test_names_never_tracked_are_bounded_and_tracked_ones_kept() -> None:
    """A flood of one-off names (e.g. missing ones) cannot grow the board past its bound."""
    clock = FakeClock()
    board = StatusBoard(clock)
    board.record_call("kv1", "bronze", "ok", None)
    board.record_next_refresh("kv1", "bronze", 300.0)
    for index in range(3 * MAX_UNTRACKED):
        board.record_call("kv1", f"missing-{index}", "not_found", "not found in Key Vault")
    names = [row["name"] for row in board.render([], ready=True)["secrets"]]
    assert len(names) <= MAX_UNTRACKED + 1
    assert "bronze" in names
    assert f"missing-{3 * MAX_UNTRACKED - 1}" in names  # the newest are the ones shown
