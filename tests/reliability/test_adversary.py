"""The adversarial checks of ``bench.adversary`` (hostile Retry-After, slowloris, a caller
spending the vault's budget, ambiguous and relayed requests, malformed bodies, redirects, status
visibility), run against a real sidecar and emulator on every ``make test``."""

from __future__ import annotations

from pathlib import Path

from bench.adversary import run_checks, target


def test_every_adversarial_check_passes(tmp_path: Path) -> None:
    """Each check of the adversarial run holds; a failure names the check and what was seen."""
    with (tmp_path / "audit.log").open("w") as audit, target(tmp_path, audit) as checked:
        outcomes = run_checks(checked)
    failed = [f"{outcome.name}: {outcome.detail}" for outcome in outcomes if not outcome.passed]
    assert len(outcomes) >= 12
    assert not failed, failed
