"""The Dockerfile recipe replayed without Docker: the image would build its jar, install, start,
answer /readyz, and hand the pod templates' init container the jar.

Every stage is replayed in order, each in a temporary root that stands in for its filesystem (the
stages on the runtime's Python base share one, so the venv's absolute paths are where the image has
them; the jar stage has its own): COPY copies what .dockerignore admits from the repo, or with
--from out of an earlier stage's root; RUN runs the same deploy/docker/install.sh, and the jar
stage's Maven for real (the host's mvn, the pom pinning every plugin, `--offline` on the repo's
.cache/m2 in place of the cache mount: `make jvm`, which `make test` runs first, fills it); ENV
and WORKDIR apply; then ENTRYPOINT + CMD run against the emulator. Only what needs a Docker engine
is not replayed: `pip install uv` (the dev venv's uv stands in, with its local cache instead of
UV_NO_CACHE) and `useradd` (the uid is checked statically in test_dockerfile.py).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import pytest
import tomllib
import yaml

from akv_sidecar.testing import free_port

from ._dockerfile import Dockerfile, DockerIgnore, Stage
from ._processes import clean_environ, fingerprint, http_status, wait_for_status

if TYPE_CHECKING:
    from akv_emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
DEV_BIN = Path(sys.executable).parent
CONTEXT = DockerIgnore.read(REPO / ".dockerignore")
# Maven's local repository as `make jvm` fills it (-Dmaven.repo.local): the jar stage's cache mount.
M2_CACHE = REPO / ".cache" / "m2"
JAR = f"akv-sidecar-hadoop-{VERSION}.jar"
POD_TEMPLATES = (
    "deploy/kubernetes/driver-pod-template.yaml",
    "deploy/kubernetes/executor-pod-template.yaml",
    "deploy/kubernetes/executor-shared-pod-template.yaml",
)
NOT_REPLAYED = ("pip install", "useradd")
IGNORED = {"ARG", "LABEL", "USER", "EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "ENTRYPOINT", "CMD"}
SECRET_NAMES = ("bronze-storage-key", "silver-storage-key")

pytestmark = pytest.mark.slow


@dataclass
class Image:
    """The temporary root standing in for the image filesystem, and the runtime settings."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def argument(self, word: str) -> str:
        """An absolute path that exists in the image maps into the root; anything else stays."""
        if word.startswith("/") and self.path(word).exists():
            return str(self.path(word))
        return word

    def build_argument(self, word: str) -> str:
        """Build steps take paths only: every absolute word maps into the root."""
        return str(self.path(word)) if word.startswith("/") else word

    def command(self, words: list[str]) -> list[str]:
        program = shutil.which(words[0], path=self.env["PATH"])
        assert program, f"{words[0]} is not on the image's PATH"
        assert Path(program).is_relative_to(self.root), f"{program} is not inside the image"
        return [program, *map(self.argument, words[1:])]


def copy(image: Image, words: list[str], stage_root: Path | None) -> None:
    """COPY from the build context (what .dockerignore admits), or from another stage's root."""
    *sources, destination = words
    assert image.workdir is not None
    target = image.path(destination) if destination.startswith("/") else image.workdir / destination
    for source in sources:
        if stage_root is None:
            matches = [p for p in glob(REPO, source) if CONTEXT.admits(relative(p))]
        else:
            matches = glob(stage_root, source.lstrip("/"))
        assert matches, f"COPY {source}: no such file in the {'stage' if stage_root else 'context'}"
        into_folder = destination.endswith("/") or len(sources) > 1 or len(matches) > 1
        for origin in matches:
            if origin == target:
                continue  # a stage sharing the root copies a path onto itself
            if origin.is_dir():
                copy_folder(origin, target, admitted=stage_root is None)
            else:
                path = target / origin.name if into_folder else target
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, path)


def glob(root: Path, pattern: str) -> list[Path]:
    """COPY's sources: the path itself, or what its wildcards match."""
    if any(char in pattern for char in "*?["):
        return sorted(root.glob(pattern))
    return [root / pattern] if (root / pattern).exists() else []


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def copy_folder(origin: Path, target: Path, *, admitted: bool) -> None:
    """A folder's files (from the context: those .dockerignore admits), symlinks as symlinks."""
    for path in sorted(origin.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        if admitted and not CONTEXT.admits(relative(path)):
            continue
        destination = target / path.relative_to(origin)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination, follow_symlinks=False)


def maven(words: list[str], flags: dict[str, str], image: Image, env: dict[str, str]) -> None:
    """RUN mvn: the host's Maven, offline, with the repo's .cache/m2 for the cache mount."""
    assert list(flags) == ["mount"], f"teach this test RUN {flags}"
    options = dict(option.split("=", 1) for option in flags["mount"].split(","))
    assert options["type"] == "cache", f"teach this test the RUN --mount {options}"
    cache = options["target"]
    assert f"-Dmaven.repo.local={cache}" in words, "the cache mount is Maven's local repository"
    assert M2_CACHE.is_dir(), "no .cache/m2 for an offline build: run `make jvm` (make test does)"
    program = shutil.which("mvn")
    assert program, "no mvn on PATH: the jar stage is replayed with the host's Maven"
    arguments = [word.replace(cache, str(M2_CACHE)) for word in words[1:]]
    command = [program, "--offline", *arguments]
    subprocess.run(command, env=env, cwd=image.workdir, check=True, timeout=240)


def replay(stage: Stage, image: Image, build_env: dict[str, str], done: dict[str, Image]) -> None:
    """Apply one stage's instructions to the image root; `done` holds the earlier stages."""
    image.workdir = image.root  # a stage starts at / (neither base image sets a WORKDIR)
    for item in stage.instructions:
        if item.keyword == "WORKDIR":
            image.workdir = image.path(item.argument)
            image.workdir.mkdir(parents=True, exist_ok=True)
        elif item.keyword == "COPY":
            flags, words = item.flags()
            assert set(flags) <= {"from"}, f"teach this test COPY {flags}"
            copy(image, words, done[flags["from"]].root if "from" in flags else None)
        elif item.keyword == "RUN":
            flags, words = item.flags()
            if " ".join(words).startswith(NOT_REPLAYED):
                continue
            if words[0] == "mvn":
                maven(words, flags, image, build_env)
                continue
            assert not flags, f"teach this test RUN {flags}"
            script = image.path(f"/usr/local/bin/{words[0]}")
            assert script.exists(), f"teach this test the RUN {item.argument!r}"
            command = ["bash", str(script), *map(image.build_argument, words[1:])]
            subprocess.run(command, env=build_env, cwd=image.workdir, check=True, timeout=240)
        elif item.keyword != "ENV":
            assert item.keyword in IGNORED, f"teach this test the {item.keyword} instruction"


def runtime_env(stage: Stage, image: Image, extra: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in stage.env().items():
        if key == "PATH":
            parts = value.replace("$PATH", os.environ["PATH"]).split(":")
            value = ":".join(image.argument(part) for part in parts)
        elif key == "HOME":
            image.path(value).mkdir(parents=True, exist_ok=True)  # the tmpfs /tmp mount
            value = image.argument(value)
        env[key] = value
    return clean_environ({**env, **extra})


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> set[tuple[str, str]]:
    """(name, version) of every package locks/service.txt pins, for any platform or Python."""
    text = (REPO / "locks" / "service.txt").read_text(encoding="utf-8")
    return {
        (normalized(n), v) for n, v in re.findall(r"^([A-Za-z0-9][\w.-]*)==([^\s;\\]+)", text, re.M)
    }


def installed_versions(python: str) -> set[tuple[str, str]]:
    """(name, version) of every distribution the given interpreter's environment holds."""
    listing = subprocess.run(
        [
            python,
            "-c",
            "import importlib.metadata as m\n"
            "for d in m.distributions(): print(d.metadata['Name'], d.version)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pairs = (line.split() for line in listing.stdout.splitlines())
    return {(normalized(name), version) for name, version in pairs}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root except /tmp, with its size and mtime."""
    writable = root / "tmp"
    return {
        str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for path in root.rglob("*")
        if writable not in path.parents and path != writable
    }


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Image]:
    """Every stage of the Dockerfile replayed in order, by name (the Python stages share a root)."""
    dockerfile = Dockerfile.read(REPO / "Dockerfile")
    base = tmp_path_factory.mktemp("replay")
    shared = Image(root=base / "image")
    done: dict[str, Image] = {}
    for stage in dockerfile.stages:
        assert stage.name, "every stage is named"
        image = shared if stage.base == dockerfile.final.base else Image(root=base / stage.name)
        build_env = {k: v for k, v in stage.env().items() if k != "UV_NO_CACHE"}
        build_env |= {"UV": str(DEV_BIN / "uv"), "PYTHON": sys.executable}
        replay(stage, image, clean_environ(build_env), done)
        done[stage.name] = image
    return done


@pytest.fixture
def image(stages: dict[str, Image]) -> Image:
    """The image: the runtime stage's root."""
    return stages[Dockerfile.read(REPO / "Dockerfile").final.name or ""]


@pytest.fixture
def served(
    image: Image, emulator: Emulator
) -> Iterator[tuple[Image, subprocess.Popen[bytes], list[str]]]:
    """The image's ENTRYPOINT + CMD running against the emulator, with its HEALTHCHECK command."""
    for name in SECRET_NAMES:
        emulator.set_secret("kv1", name, secrets.token_urlsafe(32))
    token_file = image.path("/var/run/secrets/akv-sidecar/token")
    token_file.parent.mkdir(parents=True)
    token_file.write_text(secrets.token_urlsafe(32))
    config = image.path("/etc/akv-sidecar/config.yaml")
    config.parent.mkdir(parents=True)
    config.write_text(
        "auth: {tokens: [{name: spark, token_file: " + str(token_file) + "}]}\n"
        f"vaults: [{{name: kv1, url: '{emulator.vault_url('kv1')}', "
        f"ca_file: '{emulator.ca_file}', secrets: [{', '.join(SECRET_NAMES)}]}}]\n"
        "credential: {kind: managed_identity}\n"
    )
    final = Dockerfile.read(REPO / "Dockerfile").final
    extra = {**emulator.identity_env(), "AKV_SIDECAR_LISTEN__PORT": str(free_port())}
    image.env = runtime_env(final, image, extra)
    entrypoint = final.one("ENTRYPOINT").exec_form() + final.one("CMD").exec_form()
    healthcheck = image.command(final.one("HEALTHCHECK").exec_form())
    before = snapshot(image.root)
    process = subprocess.Popen(
        image.command(entrypoint),
        env=image.env,
        cwd=image.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield image, process, healthcheck
    finally:
        if process.poll() is None:
            process.kill()
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        process.stdout.close()
        process.wait(timeout=15)
        for name in SECRET_NAMES:
            assert emulator.get_value("kv1", name) not in output
    assert snapshot(image.root) == before, "the sidecar wrote outside /tmp"


def test_image_recipe_starts_serves_and_stops(
    served: tuple[Image, subprocess.Popen[bytes], list[str]], emulator: Emulator
) -> None:
    """install.sh installs locks/service.txt's versions; ENTRYPOINT serves; HEALTHCHECK passes."""
    image, process, healthcheck = served
    installed = installed_versions(image.command(["python"])[0])
    assert ("uvicorn", next(v for n, v in locked_versions() if n == "uvicorn")) in installed
    assert ("akv-sidecar", VERSION) in installed
    unpinned = installed - locked_versions() - {("akv-sidecar", VERSION)}
    assert unpinned == set(), "installed at versions locks/service.txt does not pin"
    base = f"http://127.0.0.1:{image.env['AKV_SIDECAR_LISTEN__PORT']}"
    wait_for_status(f"{base}/readyz", lambda: process.poll() is None, timeout=30)
    assert http_status(f"{base}/healthz") == 200
    assert emulator.calls(vault="kv1", op="get") == len(SECRET_NAMES)

    # One process: no uvicorn workers, no reloader.
    assert psutil.Process(process.pid).children(recursive=True) == []

    check = subprocess.run(healthcheck, env=image.env, timeout=10, check=False)
    assert check.returncode == 0

    # The image serves what it prefetched (compared by digest: no value in test output).
    token = image.path("/var/run/secrets/akv-sidecar/token").read_text()
    fetch = subprocess.run(
        [
            image.command(["python"])[0],
            "-c",
            "import hashlib, json, sys, urllib.request as u;"
            "r = u.Request(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]});"
            "print(hashlib.sha256(json.load(u.urlopen(r))['value'].encode()).hexdigest())",
            f"{base}/v1/vaults/kv1/secrets/bronze-storage-key",
            token,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert fetch.stdout.strip() == fingerprint(emulator.get_value("kv1", "bronze-storage-key"))

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert time.monotonic() - started < 11

    # The same HEALTHCHECK fails once nothing serves, within its own timeout plus a second.
    started = time.monotonic()
    assert subprocess.run(healthcheck, env=image.env, timeout=10, check=False).returncode != 0
    assert time.monotonic() - started < 3 + 1


def test_the_image_carries_the_jar_its_jar_stage_builds(stages: dict[str, Image]) -> None:
    """The jar stage builds pyproject's version from jvm/ with VersionTest passing, and the
    image's venv carries that jar, byte for byte, and no other."""
    built = stages["jar"].path(f"/src/jvm/target/{JAR}")
    with zipfile.ZipFile(built) as jar:
        properties = jar.read("org/akvsidecar/hadoop/version.properties").decode()
        assert "org/akvsidecar/hadoop/SidecarSasTokenProvider.class" in jar.namelist()
    assert f"version={VERSION}" in properties.splitlines()
    report = stages["jar"].path(
        "/src/jvm/target/surefire-reports/TEST-org.akvsidecar.hadoop.VersionTest.xml"
    )
    suite = ET.parse(report).getroot()  # noqa: S314 - the report this replay's Maven just wrote
    counts = [suite.get(key) for key in ("tests", "failures", "errors", "skipped")]
    assert counts == ["1", "0", "0", "0"]
    venv = stages["runtime"].path("/opt/akv-sidecar/venv")
    carried = list(venv.glob("lib/python3.*/site-packages/akv_client/jars/*"))
    assert [path.name for path in carried] == [JAR]
    assert carried[0].read_bytes() == built.read_bytes()


@pytest.mark.parametrize("template_path", POD_TEMPLATES)
def test_the_pod_templates_init_container_copies_the_jar_out_of_the_image(
    stages: dict[str, Image], tmp_path: Path, template_path: str
) -> None:
    """The pod template's init container command, run in the replayed image, copies the jar the
    jar stage built under the name the Spark container mounts, writing nothing in the image."""
    template = yaml.safe_load((REPO / template_path).read_text(encoding="utf-8"))
    copier = next(c for c in template["spec"]["initContainers"] if "command" in c)
    (mount,) = copier["volumeMounts"]
    assert copier["command"][-1] == mount["mountPath"]
    spark = next(c for c in template["spec"]["containers"] if c["name"].startswith("spark"))
    (jar_mount,) = (m for m in spark["volumeMounts"] if m["name"] == mount["name"])
    target = tmp_path / "jars"  # the emptyDir
    target.mkdir()
    image = stages["runtime"]
    image.env = runtime_env(Dockerfile.read(REPO / "Dockerfile").final, image, {})
    command = [*image.command(copier["command"][:-1]), str(target)]
    before = snapshot(image.root)
    result = subprocess.run(
        command, env=image.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    (jar,) = target.iterdir()
    assert jar.name == JAR == jar_mount["subPath"]
    assert result.stdout.strip() == str(jar)
    assert jar.read_bytes() == stages["jar"].path(f"/src/jvm/target/{JAR}").read_bytes()
    assert snapshot(image.root) == before, "the init container wrote in the image"
