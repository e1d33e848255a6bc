"""Unit tests of the log formats (JSON lines by default, text on request)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from akv_sidecar.cli.main import _parser
from akv_sidecar.ops.logs import configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    """Put the root logger's handlers and level back (pytest's capture lives there)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root")
def test_json_lines_carry_time_level_logger_message_and_extras() -> None:
    """Each record is one JSON object with its extra= fields; the level filters."""
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    log = logging.getLogger("akv_sidecar.test")
    log.debug("hidden")
    log.info("prefetched %s", "kv1/bronze", extra={"version": "abc", "ms": 12})
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "INFO"
    assert record["logger"] == "akv_sidecar.test"
    assert record["message"] == "prefetched kv1/bronze"
    assert (record["version"], record["ms"]) == ("abc", 12)
    assert record["time"].endswith("Z")


@pytest.mark.usefixtures("restore_root")
def test_text_format_for_terminals() -> None:
    """--log-format text gives `time LEVEL logger: message key=value`."""
    stream = io.StringIO()
    configure_logging("text", "warning", stream)
    logging.getLogger("akv_sidecar.test").warning("slow vault", extra={"vault": "kv1"})
    (line,) = stream.getvalue().splitlines()
    assert line.endswith("WARNING akv_sidecar.test: slow vault vault=kv1")
    assert not line.startswith("{")


def test_cli_takes_log_format_and_rejects_others(capsys: pytest.CaptureFixture[str]) -> None:
    """`serve --log-format text` parses; an unknown format is a usage error."""
    assert _parser().parse_args(["serve", "--log-format", "text"]).log_format == "text"
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--log-format", "xml"])
    assert "invalid choice" in capsys.readouterr().err
