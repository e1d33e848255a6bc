"""Unit tests of the token file watcher (the check itself; the service test covers the wiring)."""

from __future__ import annotations

from pathlib import Path

from akv_sidecar.config.watcher import TokenFileWatcher
from akv_sidecar.core.clock import SystemClock
from akv_sidecar.core.errors import ConfigError


def test_reloads_once_per_change_and_retries_a_failed_reload(tmp_path: Path) -> None:
    """Unchanged files cause no reload; a change one; a failed reload is retried next look."""
    token_file = tmp_path / "token"
    token_file.write_text("a" * 32)
    outcomes: list[str] = []

    def reload() -> None:
        text = token_file.read_text()
        if not text:
            outcomes.append("failed")
            raise ConfigError("empty token file")
        outcomes.append(text[0])

    watcher = TokenFileWatcher([str(token_file)], reload, SystemClock(), interval=1.0)
    assert not watcher.check()
    replacement = tmp_path / "token.new"
    replacement.write_text("")
    replacement.replace(token_file)  # the mid-rotation moment: an empty file
    assert not watcher.check()
    replacement.write_text("b" * 32)
    replacement.replace(token_file)
    assert watcher.check()
    assert not watcher.check()
    assert outcomes == ["failed", "b"]
