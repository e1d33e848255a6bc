"""A small Dockerfile and .dockerignore reader: stages of (instruction, argument) pairs and the
build context, enough to replay it."""

from __future__ import annotations

import fnmatch
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT/CMD (after any --flags of HEALTHCHECK)."""
        start = self.argument.index("[")
        value = json.loads(self.argument[start:])
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return [str(item) for item in value]

    def words(self) -> list[str]:
        return shlex.split(self.argument)

    def flags(self) -> tuple[dict[str, str], list[str]]:
        """The leading --name=value flags (COPY --from, RUN --mount), and the words after them."""
        words = self.words()
        flags: dict[str, str] = {}
        while words and words[0].startswith("--"):
            name, _, value = words.pop(0).removeprefix("--").partition("=")
            assert name not in flags, f"{self.keyword} repeats --{name}"
            flags[name] = value
        return flags, words


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name}, found {len(found)}"
        return found[0]

    def env(self) -> dict[str, str]:
        """ENV pairs as written (values unexpanded), later ones winning."""
        pairs: dict[str, str] = {}
        for item in self.all("ENV"):
            for word in item.words():
                key, _, value = word.partition("=")
                pairs[key] = value
        return pairs


@dataclass
class Dockerfile:
    args: dict[str, str]
    stages: list[Stage]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        args: dict[str, str] = {}
        stages: list[Stage] = []
        for keyword, argument in _logical_lines(path.read_text(encoding="utf-8")):
            if keyword == "FROM":
                words = argument.split()
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
                stages.append(Stage(base=_expand(words[0], args), name=name))
            elif keyword == "ARG" and not stages:
                key, _, value = argument.partition("=")
                args[key] = value
            else:
                assert stages, f"{keyword} before the first FROM"
                stages[-1].instructions.append(Instruction(keyword, argument))
        return cls(args=args, stages=stages)

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    @property
    def final(self) -> Stage:
        return self.stages[-1]


def _logical_lines(text: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical = pending + stripped
        pending = ""
        keyword, _, argument = logical.partition(" ")
        lines.append((keyword.upper(), argument.strip()))
    return lines


def _expand(word: str, args: dict[str, str]) -> str:
    for key, value in args.items():
        word = word.replace("${" + key + "}", value).replace("$" + key, value)
    return word


@dataclass(frozen=True)
class DockerIgnore:
    """A .dockerignore: which repository paths the build context holds."""

    patterns: tuple[tuple[bool, str], ...]  # (negated, pattern), in file order

    @classmethod
    def read(cls, path: Path) -> DockerIgnore:
        patterns = []
        for line in path.read_text(encoding="utf-8").splitlines():
            pattern = line.strip()
            if pattern and not pattern.startswith("#"):
                negated = pattern.startswith("!")
                patterns.append((negated, pattern.lstrip("!").rstrip("/")))
        return cls(tuple(patterns))

    def admits(self, path: str) -> bool:
        """Docker's rule: the last pattern matching the path or a folder above it wins; '!'
        re-includes."""
        admitted = True
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for negated, pattern in self.patterns:
            candidates = [pattern, pattern.removeprefix("**/")]
            names = prefixes + [part for part in parts if pattern.startswith("**/")]
            if any(fnmatch.fnmatchcase(name, cand) for name in names for cand in candidates):
                admitted = negated
        return admitted
