"""The Dockerfile: hadolint-clean and shaped as the deployment issue asks (no Docker engine)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ._dockerfile import Dockerfile, DockerIgnore

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HADOLINT = [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "style"]


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile.read(REPO / "Dockerfile")


def hadolint(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HADOLINT, "-"], input=text, capture_output=True, text=True, timeout=60, check=False
    )


def test_hadolint_reports_nothing() -> None:
    """hadolint finds no error, warning, info or style issue in the Dockerfile."""
    result = hadolint((REPO / "Dockerfile").read_text(encoding="utf-8"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_is_really_checking() -> None:
    """The same hadolint call fails on an unpinned base and an unpinned pip install."""
    result = hadolint("FROM python:latest\nRUN pip install uv\n")
    assert result.returncode != 0
    assert "DL3007" in result.stdout
    assert "DL3013" in result.stdout


def test_multi_stage_on_a_pinned_slim_python(dockerfile: Dockerfile) -> None:
    """Build and runtime stages both use one slim Python base pinned to a patch version."""
    assert [stage.name for stage in dockerfile.stages] == ["jar", "build", "runtime"]
    bases = {stage.base for stage in dockerfile.stages[1:]}
    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+", bases.pop())


def test_the_jar_stage_uses_a_pinned_maven_on_the_poms_jdk(dockerfile: Dockerfile) -> None:
    """The jar stage's base pins Maven's patch release and a JDK of the pom's compiler release."""
    pom = (REPO / "jvm" / "pom.xml").read_text(encoding="utf-8")
    release = re.findall(r"<maven\.compiler\.release>(\d+)</", pom)
    match = re.fullmatch(r"maven:3\.\d+\.\d+-eclipse-temurin-(\d+)", dockerfile.stage("jar").base)
    assert match, dockerfile.stage("jar").base
    assert [match.group(1)] == release


def test_dependencies_are_installed_before_the_source_is_copied(dockerfile: Dockerfile) -> None:
    """The dependency layer sees only install.sh and locks/service.txt: code edits keep it."""
    build = dockerfile.stage("build").instructions
    runs = [i for i, item in enumerate(build) if "akv-sidecar-install deps" in item.argument]
    assert len(runs) == 1
    copied_before = [item.words()[:-1] for item in build[: runs[0]] if item.keyword == "COPY"]
    assert copied_before == [["deploy/docker/install.sh"], ["locks/service.txt"]]
    source_copies = [
        i for i, item in enumerate(build) if item.keyword == "COPY" and "service/" in item.argument
    ]
    assert source_copies
    assert source_copies[0] > runs[0]


def test_runtime_runs_as_a_numeric_non_root_user(dockerfile: Dockerfile) -> None:
    """USER is a numeric uid:gid other than 0, so Kubernetes runAsNonRoot can verify it."""
    user = dockerfile.final.one("USER").argument
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert gid.isdigit()
    assert int(uid) != 0


def test_runtime_needs_no_writable_root(dockerfile: Dockerfile) -> None:
    """No bytecode writes at run time, and HOME is /tmp (the only writable mount)."""
    env = dockerfile.final.env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOME"] == "/tmp"
    install = (REPO / "deploy/docker/install.sh").read_text(encoding="utf-8")
    assert "--compile-bytecode" in install


def test_healthcheck_uses_python_not_curl(dockerfile: Dockerfile) -> None:
    """HEALTHCHECK runs the bundled probe on /healthz with python; neither curl nor wget is used."""
    command = dockerfile.final.one("HEALTHCHECK").exec_form()
    assert command == ["python", "/opt/akv-sidecar/probe.py", "/healthz"]
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert "curl" not in text
    assert "wget" not in text


def test_entrypoint_serves_the_config_path(dockerfile: Dockerfile) -> None:
    """ENTRYPOINT is akv-sidecar serve; CMD passes the default config path; one process."""
    assert dockerfile.final.one("ENTRYPOINT").exec_form() == ["akv-sidecar", "serve"]
    assert dockerfile.final.one("CMD").exec_form() == ["--config", "/etc/akv-sidecar/config.yaml"]
    assert "worker" not in (REPO / "Dockerfile").read_text(encoding="utf-8")


def test_oci_labels(dockerfile: Dockerfile) -> None:
    """The image carries the standard OCI annotations."""
    labels = " ".join(item.argument for item in dockerfile.final.all("LABEL"))
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerignore_admits_what_is_copied_and_nothing_else(dockerfile: Dockerfile) -> None:
    """Every COPY source is in the build context; .venv, .git, tests, bytecode, caches and any
    locally built providers jar are not."""
    context = DockerIgnore.read(REPO / ".dockerignore")
    sources = [
        word.rstrip("/")
        for stage in dockerfile.stages
        for item in stage.all("COPY")
        if not item.argument.startswith("--from")
        for word in item.words()[:-1]
    ]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert context.admits(source), source
    assert context.admits("service/akv_sidecar/__init__.py")
    assert context.admits("jvm/src/main/java/org/akvsidecar/hadoop/SidecarClient.java")
    for excluded in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "bench/bare_app.py",
        "service/akv_sidecar/__pycache__/x.pyc",
        "deploy/kubernetes/token",
        "jvm/target/provider.jar",
        "jvm/target/classes/org/akvsidecar/hadoop/SidecarClient.class",
        "client/akv_client/jars/provider.jar",
        ".cache/m2/org/apache/hadoop/hadoop-azure/3.5.0/hadoop-azure-3.5.0.jar",
    ):
        assert not context.admits(excluded), excluded
