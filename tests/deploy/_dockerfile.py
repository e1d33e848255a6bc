"""A small Dockerfile reader: stages of (instruction, argument) pairs, enough to replay it."""

from __future__ import annotations

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
