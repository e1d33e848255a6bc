"""One version, pyproject.toml's (akv_sidecar.__version__ reads it): every mention agrees."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from akv_sidecar import __version__

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
# An image tag (akv-sidecar:1.2.3), a pip pin (akv-sidecar[service]==1.2.3), the image's label or
# the providers' jar (akv-sidecar-hadoop-1.2.3.jar).
MENTION = re.compile(
    r"akv-sidecar(?:\[[a-z,]+\])?(?::|==)(\d[\w.+-]*)|^ARG VERSION=(\S+)"
    r"|akv-sidecar-hadoop-(\d[\w.+-]*?)\.jar",
    re.M,
)
# Where the release is named, with how many mentions each file has at least.
KNOWN = {
    "Dockerfile": 3,
    "README.md": 3,
    "deploy/databricks/akv-sidecar-init.sh": 2,
    "deploy/kubernetes/driver-pod-template.yaml": 3,
    "deploy/kubernetes/executor-pod-template.yaml": 3,
    "deploy/kubernetes/executor-shared-pod-template.yaml": 2,
    "deploy/kubernetes/shared-sidecar.yaml": 1,
}


def mentions(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [next(filter(None, groups)) for groups in MENTION.findall(text)]


def test_the_package_reports_pyprojects_version() -> None:
    """akv_sidecar.__version__ (installed metadata) and `akv-sidecar --version` are pyproject's."""
    assert __version__ == VERSION
    shown = subprocess.run(
        [sys.executable, "-m", "akv_sidecar", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == f"akv-sidecar {VERSION}"


@pytest.mark.parametrize(("name", "at_least"), KNOWN.items())
def test_each_known_mention_is_the_version(name: str, at_least: int) -> None:
    """The image tags, ARG VERSION, the init script's pip pin and README's all name pyproject's."""
    found = mentions(REPO / name)
    assert len(found) >= at_least, f"{name}: expected {at_least} version mentions, found {found}"
    assert set(found) == {VERSION}, f"{name} names {found}; pyproject.toml says {VERSION}"


def test_no_other_tracked_file_names_another_version() -> None:
    """Across every tracked text file, no akv-sidecar tag or pin names another version."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, timeout=60, check=True
    ).stdout.decode()
    wrong = {
        name: found
        for name in filter(None, tracked.split("\0"))
        # This file names made-up versions on purpose, to prove the pattern catches them.
        if (REPO / name).is_file() and (REPO / name) != Path(__file__).resolve()
        for found in [set(mentions(REPO / name)) - {VERSION}]
        if found
    }
    assert wrong == {}


def test_mention_pattern_catches_a_stale_version() -> None:
    """The pattern reads tags, pins, ARG VERSION and jar names, so a stale one is reported."""
    text = (
        "image: x/akv-sidecar:0.0.9\npip install akv-sidecar[service]==0.0.8\nARG VERSION=0.0.7\n"
        "mountPath: /opt/spark/jars/akv-sidecar-hadoop-0.0.6.jar\n"
    )
    found = [next(filter(None, groups)) for groups in MENTION.findall(text)]
    assert found == ["0.0.9", "0.0.8", "0.0.7", "0.0.6"]
