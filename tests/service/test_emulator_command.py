"""`akv-sidecar emulator` is the emulator's command line under the sidecar's name."""

from __future__ import annotations

import pytest

from akv_sidecar.cli.main import main


def test_emulator_help_through_the_sidecar_names_that_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`akv-sidecar emulator --help` shows `usage: akv-sidecar emulator`, not akv_emulator."""
    with pytest.raises(SystemExit) as exited:
        main(["emulator", "--help"])
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: akv-sidecar emulator ")
    assert "--api-version VERSION" in shown


def test_emulator_errors_through_the_sidecar_name_that_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad port through `akv-sidecar emulator` exits 2 naming `akv-sidecar emulator`."""
    assert main(["emulator", "--port", "70000"]) == 2
    assert capsys.readouterr().err.startswith("akv-sidecar emulator: error: port: must be")
