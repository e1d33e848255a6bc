"""The distribution carries the akv-sidecar-hadoop jar: `make jvm` puts it into the client package,
the sdist and the wheel built from it hold it, and `hadoop_jar()` finds it in an installed wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"
VERSION = re.search(r'(?m)^version = "(.+)"$', (REPO / "pyproject.toml").read_text())[1]  # type: ignore[index]
JAR_NAME = f"akv-sidecar-hadoop-{VERSION}.jar"
BUNDLED = REPO / "client" / "akv_client" / "jars" / JAR_NAME
PROVIDERS = ("SidecarSasTokenProvider", "SidecarTokenProvider", "SidecarKeyProvider")


def run(*args: str | Path, cwd: Path = REPO, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def bundled() -> Path:
    """The jar `make jvm` copied into the client package."""
    if not BUNDLED.is_file():
        pytest.fail(f"No {BUNDLED.relative_to(REPO)}: run `make jvm` (make test does).")
    return BUNDLED


@pytest.fixture(scope="module")
def dist(bundled: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`uv build` of this checkout: an sdist, then a wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    run(UV, "build", "--quiet", "--out-dir", out)
    return out


def test_sdist_and_wheel_carry_the_jar(dist: Path) -> None:
    """Both archives hold the bundled jar byte for byte, at the package path hadoop_jar() reads."""
    (sdist,) = dist.glob("akv_sidecar-*.tar.gz")
    (wheel,) = dist.glob("akv_sidecar-*.whl")
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"akv_sidecar-{VERSION}/client/akv_client/jars/{JAR_NAME}")
        assert member is not None
        assert member.read() == BUNDLED.read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        jars = [name for name in archive.namelist() if name.endswith(".jar")]
        assert jars == [f"akv_client/jars/{JAR_NAME}"]
        assert archive.read(jars[0]) == BUNDLED.read_bytes()


def test_the_bundled_jar_holds_the_providers_and_their_classes_load(bundled: Path) -> None:
    """The jar lists the three providers, and javap loads each of them from it."""
    with zipfile.ZipFile(bundled) as jar:
        names = set(jar.namelist())
    for provider in PROVIDERS:
        assert f"org/akvsidecar/hadoop/{provider}.class" in names
    classes = [f"org.akvsidecar.hadoop.{provider}" for provider in PROVIDERS]
    shown = run("javap", "-cp", bundled, *classes)
    for provider in classes:
        assert f"class {provider}" in shown


def test_an_installed_wheel_finds_its_own_jar(dist: Path, tmp_path: Path) -> None:
    """hadoop_jar() in a venv holding only the wheel (httpx lent by the test venv) is its jar."""
    (wheel,) = dist.glob("akv_sidecar-*.whl")
    venv = tmp_path / "venv"
    run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "--quiet", "--no-deps", "--python", python, wheel)
    # The test venv's site-packages lends httpx; its editable akv-sidecar is a .pth file, which
    # PYTHONPATH does not read, so akv_client can only come from the wheel.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKV_SIDECAR_", "PYTHON"))}
    env["PYTHONPATH"] = sysconfig.get_paths()["purelib"]
    probe = "import akv_client; print(akv_client.__file__); print(akv_client.hadoop_jar())"
    module, jar = run(python, "-c", probe, cwd=tmp_path, env=env).split()
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    installed = Path(str(site).strip()) / "akv_client"
    assert Path(module).parent == installed
    assert Path(jar) == installed / "jars" / JAR_NAME
    assert Path(jar).read_bytes() == BUNDLED.read_bytes()


def test_the_override_wins_and_a_missing_one_is_none(bundled: Path, tmp_path: Path) -> None:
    """AKV_SIDECAR_HADOOP_JAR names the jar when it is a file; a path to nothing gives None."""
    probe = "import akv_client; print(akv_client.hadoop_jar())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKV_SIDECAR_")}
    given = tmp_path / "custom.jar"
    given.write_bytes(bundled.read_bytes())
    found = run(sys.executable, "-c", probe, env=env | {"AKV_SIDECAR_HADOOP_JAR": str(given)})
    assert found.strip() == str(given)
    missing = run(
        sys.executable, "-c", probe, env=env | {"AKV_SIDECAR_HADOOP_JAR": str(tmp_path / "no.jar")}
    )
    assert missing.strip() == "None"
