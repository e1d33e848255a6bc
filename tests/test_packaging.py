"""Packaging tells the truth: a current lock, imports declared where they run, Python floors."""

from __future__ import annotations

import ast
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import distributions
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pytest
import tomllib
from packaging.markers import Marker
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYPROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT: dict[str, Any] = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
FIRST_PARTY = {"akv_sidecar", "akv_client", "akv_emulator"}
# Imported only after importlib.util.find_spec says it is there (akv_client._environment).
UNDECLARED_OPTIONAL = {"ipython"}


def run(*command: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(text: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", text)
    assert match, text
    return normalized(match[0])


def names(requirements: list[str]) -> set[str]:
    return {requirement_name(text) for text in requirements}


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


# Each lock in locks/ and what it installs: (extras, dependency groups, Python). Every lock also
# holds the base `dependencies`; "*" is every extra. `make lock` says the same (checked below).
LOCK_SETS: dict[str, tuple[set[str], set[str], str]] = {
    "test": ({"*"}, {"dev"}, "3.11"),
    "demo": ({"service", "emulator"}, set(), "3.11"),
    "service": ({"service"}, set(), "3.11"),
    "client-py310": (set(), {"client-tests"}, "3.10"),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
# What `make lock` writes; nothing in a lock may say where a package comes from.
SOURCE_LINE = re.compile(r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links|--trusted-host)\b")


def lock_path(name: str, root: Path = REPO) -> Path:
    return root / "locks" / f"{name}.txt"


def pins(path: Path) -> dict[str, list[tuple[str, str]]]:
    """{name: [(version, marker), ...]} of a lock: one entry per fork of a universal resolution."""
    found: dict[str, list[tuple[str, str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            found.setdefault(normalized(match[1]), []).append((match[2], match[3] or ""))
    return found


def applies_here(marker: str) -> bool:
    return not marker or Marker(marker).evaluate()


def group_requirements(groups: dict[str, list[Any]], group: str) -> list[str]:
    """A dependency group's requirements, include-group entries expanded."""
    requirements: list[str] = []
    for entry in groups[group]:
        if isinstance(entry, dict):
            requirements += group_requirements(groups, entry["include-group"])
        else:
            requirements.append(entry)
    return requirements


def declared(name: str, pyproject: dict[str, Any] = PYPROJECT) -> list[Requirement]:
    """What pyproject.toml asks of the install set a lock is for."""
    extras, groups, _ = LOCK_SETS[name]
    optional = pyproject["project"]["optional-dependencies"]
    texts = list(pyproject["project"]["dependencies"])
    for extra in optional if "*" in extras else extras:
        texts += optional[extra]
    for group in groups:
        texts += group_requirements(pyproject["dependency-groups"], group)
    return [Requirement(text) for text in texts]


def unmet(name: str, pyproject: dict[str, Any] = PYPROJECT) -> list[str]:
    """The requirements of pyproject.toml that the committed lock `name` does not satisfy."""
    locked = pins(lock_path(name))
    python = LOCK_SETS[name][2]
    problems = []
    for requirement in declared(name, pyproject):
        if requirement.marker and not requirement.marker.evaluate({"python_version": python}):
            continue
        versions = [version for version, _ in locked.get(normalized(requirement.name), [])]
        if not versions:
            problems.append(f"{requirement} is not in locks/{name}.txt")
        problems += [
            f"locks/{name}.txt pins {requirement.name}=={version}, outside {requirement}"
            for version in versions
            if not requirement.specifier.contains(version, prereleases=True)
        ]
    return problems


def relock(root: Path) -> subprocess.CompletedProcess[str]:
    """`make lock` into root (which holds a pyproject.toml and locks/ to keep the pins of).

    Offline first: with uv's cache warm that takes a second and gives what the network would, since
    the pins already there are preferred. Should the cache lack something, it runs again online.
    """
    command = ["make", "--no-print-directory", "lock", f"LOCK_ROOT={root}", f"UV={BIN / 'uv'}"]
    result = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "UV_OFFLINE": "1"},
    )
    if result.returncode != 0:
        online = {k: v for k, v in os.environ.items() if k != "UV_OFFLINE"}
        result = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env=online,
        )
    return result


def copy_for_relock(root: Path) -> None:
    (root / "locks").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for name in LOCK_SETS:
        shutil.copy(lock_path(name), lock_path(name, root))


@pytest.fixture(scope="module")
def relocked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed locks, re-resolved by `make lock` in a temp dir, themselves the preferences."""
    root = tmp_path_factory.mktemp("relock")
    copy_for_relock(root)
    result = relock(root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


@pytest.mark.parametrize("name", LOCK_SETS)
def test_lock_is_current(name: str, relocked: Path) -> None:
    """`make lock` would write exactly the committed lock: it is in step with pyproject.toml."""
    assert lock_path(name, relocked).read_text(encoding="utf-8") == lock_path(name).read_text(
        encoding="utf-8"
    ), f"locks/{name}.txt is stale: run `make lock` and commit locks/"


@pytest.mark.parametrize("name", LOCK_SETS)
def test_lock_satisfies_pyproject(name: str) -> None:
    """Every requirement of the lock's install set is pinned, inside its bounds."""
    assert unmet(name) == []


def test_a_new_requirement_makes_the_locks_stale(tmp_path: Path) -> None:
    """Once pyproject.toml gains a requirement, the same re-run no longer matches the lock."""
    copy_for_relock(tmp_path)
    text = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    changed = text.replace(
        '"pytest-timeout>=2.3",', '"pytest-timeout>=2.3",\n    "pyyaml>=6.0",', 1
    )
    assert changed != text
    (tmp_path / "pyproject.toml").write_text(changed, encoding="utf-8")
    assert "pyyaml" not in pins(lock_path("client-py310"))
    assert unmet("client-py310", tomllib.loads(changed)) == [
        "pyyaml>=6.0 is not in locks/client-py310.txt"
    ]
    result = relock(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    relocked = lock_path("client-py310", tmp_path).read_text(encoding="utf-8")
    assert relocked != lock_path("client-py310").read_text(encoding="utf-8")
    assert "pyyaml" in pins(lock_path("client-py310", tmp_path))


def lock_commands() -> dict[str, list[str]]:
    """The `uv pip compile` command `make lock` runs for each lock (nothing is run)."""
    result = run("make", "--no-print-directory", "-n", "lock")
    assert result.returncode == 0, result.stderr
    commands = [shlex.split(line) for line in result.stdout.splitlines() if " compile " in line]
    return {Path(c[c.index("-o") + 1]).stem: c for c in commands}


def test_make_lock_writes_each_lock_for_its_install_set() -> None:
    """`make lock` compiles each lock with hashes, for every platform, from what LOCK_SETS says."""
    commands = lock_commands()
    assert list(commands) == list(LOCK_SETS)  # test.txt first: the others are held to it
    for name, command in commands.items():
        extras, groups, python = LOCK_SETS[name]
        assert {"--universal", "--generate-hashes"} <= set(command)
        assert not {"--emit-index-url", "--emit-find-links"} & set(command)
        assert command[command.index("--python-version") + 1] == python
        listed = extras_of(command) | ({"*"} if "--all-extras" in command else set())
        assert listed == extras, name
        assert {command[i + 1] for i, w in enumerate(command) if w == "--group"} == groups, name
        if name != "test":
            assert command[command.index("-c") + 1] == "locks/test.txt"


def test_locks_pin_with_hashes_and_name_no_source() -> None:
    """Every pin carries hashes; no lock names an index, a link or any URL."""
    for name in LOCK_SETS:
        text = lock_path(name).read_text(encoding="utf-8")
        assert "://" not in text, name
        assert not [line for line in text.splitlines() if SOURCE_LINE.match(line)], name
        blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
        assert blocks
        assert all("--hash=sha256:" in block for block in blocks), name


def test_one_version_of_each_package_across_the_locks() -> None:
    """demo, service and client-py310 take test.txt's versions, so `make run` after `make test`
    installs nothing, and the image ships what the suite ran with."""
    test = pins(lock_path("test"))
    for name in ("demo", "service", "client-py310"):
        for package, versions in pins(lock_path(name)).items():
            if name != "client-py310":
                assert package in test, f"locks/{name}.txt has {package}, test.txt does not"
            if package in test:
                assert {v for v, _ in versions} <= {v for v, _ in test[package]}, (name, package)


def test_the_venv_holds_the_test_lock() -> None:
    """`make install` synced this venv to locks/test.txt: its pins for this platform are in it."""
    for package, versions in pins(lock_path("test")).items():
        wanted = {version for version, marker in versions if applies_here(marker)}
        if wanted:
            assert installed_version(package) in wanted, package


def test_uvicorn_is_bounded_and_the_locks_are_inside_the_bound() -> None:
    """uvicorn (server.py subclasses its Server) has an upper bound; the locks and venv match it."""
    (uvicorn,) = (r for r in EXTRAS["service"] if requirement_name(r) == "uvicorn")
    lower = re.search(r">=([\d.]+)", uvicorn)
    upper = re.search(r"<([\d.]+)", uvicorn)
    assert lower
    assert upper, f"{uvicorn} has no upper bound"
    for name in ("test", "demo", "service"):
        ((pinned, _),) = pins(lock_path(name))["uvicorn"]
        assert release(lower[1]) <= release(pinned) < release(upper[1])
        assert installed_version("uvicorn") == pinned


def test_uv_is_one_version() -> None:
    """The Makefile's UV_VERSION, the Dockerfile's ARG UV_VERSION and the venv's uv agree."""
    makefile = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    dockerfile = re.search(r"^ARG UV_VERSION=(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert makefile
    assert dockerfile
    assert makefile[1] == dockerfile[1]
    assert run(BIN / "uv", "--version").stdout.split()[1] == makefile[1]


def make_dry_run(target: str, lock: str) -> list[list[str]]:
    """The `uv pip` commands `make TARGET` would run were the lock new (nothing is run)."""
    result = run("make", "--no-print-directory", "-n", "-W", f"locks/{lock}.txt", target)
    assert result.returncode == 0, result.stderr
    return [shlex.split(line) for line in result.stdout.splitlines() if " pip " in line]


def extras_of(command: list[str]) -> set[str]:
    return {command[i + 1] for i, word in enumerate(command) if word == "--extra"}


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_make_run_installs_only_what_the_demo_needs() -> None:
    """`make run` installs demo.txt with hashes (adding, never removing), then the project alone."""
    deps, project = make_dry_run("run", "demo")
    assert deps[1:3] == ["pip", "install"]
    assert option(deps, "-r") == "locks/demo.txt"
    assert option(deps, "--python") == ".venv/bin/python"
    assert "--require-hashes" in deps
    assert project[1:3] == ["pip", "install"]
    assert {"--no-deps", "-e"} <= set(project)
    assert project[-1] == "."


def test_make_install_syncs_exactly_the_test_lock() -> None:
    """`make install` (and so `make test`) syncs the venv to test.txt, then adds the project."""
    deps, project = make_dry_run("install", "test")
    assert deps[1:3] == ["pip", "sync"]
    assert deps[-1] == "locks/test.txt"
    assert "--require-hashes" in deps
    assert {"--no-deps", "-e"} <= set(project)


def test_make_test_py310_syncs_the_client_lock() -> None:
    """The Python 3.10 venv holds client-py310.txt and the project, nothing else."""
    deps, project = make_dry_run("test-py310", "client-py310")
    assert deps[1:3] == ["pip", "sync"]
    assert deps[-1] == "locks/client-py310.txt"
    assert option(deps, "--python") == ".venv310/bin/python"
    assert "--require-hashes" in deps
    assert {"--no-deps", "-e"} <= set(project)


def test_requires_python_is_the_clients_floor() -> None:
    """requires-python says 3.10, the floor of the client that `make test-py310` runs there."""
    assert PROJECT["requires-python"] == ">=3.10"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    listed = re.search(r"^CLIENT_TESTS_310 := (.+)$", makefile, re.M)
    assert listed
    files = listed[1].split()
    assert "tests/client/test_units.py" in files
    for name in files:
        imported = {top for top, _ in imports(REPO / name)}
        assert not imported & {"akv_sidecar", "akv_emulator", "pyspark", "azure"}, name


def mypy_for_310(*targets: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run(BIN / "mypy", "--no-incremental", "--python-version", "3.10", *targets, cwd=cwd)


def test_client_type_checks_for_python_310() -> None:
    """Strict mypy, told the interpreter is 3.10, finds nothing in akv_client."""
    result = mypy_for_310("-p", "akv_client")
    assert result.returncode == 0, result.stdout[-3000:]


def test_mypy_for_310_reports_a_311_only_api(tmp_path: Path) -> None:
    """The same check flags asyncio.timeout, which 3.10 lacks."""
    (tmp_path / "uses_311.py").write_text(
        "import asyncio\n\n\nasync def f() -> None:\n    async with asyncio.timeout(1):\n"
        "        pass\n"
    )
    result = mypy_for_310("--strict", "--config-file", "/dev/null", "uses_311.py", cwd=tmp_path)
    assert result.returncode != 0
    assert '"timeout"' in result.stdout


def imports(path: Path) -> Iterator[tuple[str, str]]:
    """(top-level module, "module" or "lazy") for each absolute import in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    at_module_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        where = "module" if id(node) in at_module_level else "lazy"
        for module in modules:
            yield module, where


@functools.cache
def module_owners() -> dict[str, frozenset[str]]:
    """Importable module names (one to three levels deep: azure.storage.blob) to the
    distributions installing them."""
    owners: dict[str, set[str]] = {}
    for dist in distributions():
        name = normalized(dist.metadata["Name"])
        keys = set()
        for file in dist.files or []:
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")) or ".." in parts:
                continue
            stems = [part.split(".")[0] for part in parts[:3]]
            keys.update(".".join(stems[:depth]) for depth in range(1, len(stems) + 1))
        for key in keys:
            owners.setdefault(key, set()).add(name)
    return {key: frozenset(value) for key, value in owners.items()}


def third_party_imports(package: Path) -> dict[str, set[str]]:
    """Distributions imported by a package's code: {"module": ..., "lazy": ...}."""
    owners = module_owners()
    found: dict[str, set[str]] = {"module": set(), "lazy": set()}
    for path in package.rglob("*.py"):
        for module, where in imports(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in FIRST_PARTY or top == "__future__":
                continue
            # The most specific name a distribution installs: namespace packages (azure,
            # azure.storage) are shared by many, their modules are not.
            prefixes = [".".join(module.split(".")[:depth]) for depth in (3, 2, 1)]
            owner = next((owners[p] for p in prefixes if len(owners.get(p, ())) == 1), None)
            owner = owner or owners.get(top)
            assert owner, f"{path}: no installed distribution provides {module}"
            assert len(owner) == 1, f"{path}: {module} is provided by {owner}"
            found[where] |= owner
    return found


def test_every_import_is_declared_where_it_runs_and_nothing_more() -> None:
    """Each distribution the code imports is declared for it, and each declared one is imported."""
    base = names(PROJECT["dependencies"])
    extras = {extra: names(requirements) for extra, requirements in EXTRAS.items()}

    client = third_party_imports(REPO / "client" / "akv_client")
    assert client["module"] - base == set(), "client imports at load time beyond `dependencies`"
    optional = extras["spark"] | extras["fallback"] | UNDECLARED_OPTIONAL
    assert client["lazy"] - base - optional == set()
    assert (base | extras["spark"] | extras["fallback"]) - client["module"] - client[
        "lazy"
    ] == set()

    for part, extra in (("service/akv_sidecar", "service"), ("emulator/akv_emulator", "emulator")):
        found = third_party_imports(REPO / part)
        used = found["module"] | found["lazy"]
        assert used - base - extras[extra] == set(), f"{part} imports undeclared distributions"
        assert extras[extra] - used == set(), (
            f"the {extra} extra declares what {part} never imports"
        )
