"""Render deploy/kubernetes as `kubectl apply -k` would, for the features our kustomization uses.

Covers resources, configMapGenerator/secretGenerator (files, no hash suffix), namespace and labels;
any other kustomization key fails loudly so this renderer grows with the kustomization.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

KNOWN_KEYS = {
    "apiVersion",
    "kind",
    "namespace",
    "labels",
    "resources",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}

Manifest = dict[str, Any]


def load_documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def kustomization(folder: Path) -> Manifest:
    data: Manifest = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(data) - KNOWN_KEYS
    assert not unknown, f"teach tests/deploy/_kustomize.py about {sorted(unknown)}"
    assert data["generatorOptions"] == {"disableNameSuffixHash": True}
    return data


def referenced_files(folder: Path) -> list[str]:
    """Every file the kustomization names: resources and generator inputs."""
    data = kustomization(folder)
    names = list(data.get("resources", []))
    for generator in data.get("configMapGenerator", []) + data.get("secretGenerator", []):
        names += [entry.partition("=")[2] or entry for entry in generator["files"]]
    return names


def render(folder: Path, supplied: Mapping[str, str]) -> list[Manifest]:
    """The objects `kubectl apply -k folder` creates; ``supplied`` stands in for users' files."""

    def read(name: str) -> str:
        if name in supplied:
            return supplied[name]
        return (folder / name).read_text(encoding="utf-8")

    data = kustomization(folder)
    objects: list[Manifest] = []
    for name in data.get("resources", []):
        objects += load_documents(folder / name)
    for generator in data.get("configMapGenerator", []):
        files = {_key(entry): read(_path(entry)) for entry in generator["files"]}
        objects.append(_object("ConfigMap", generator["name"], {"data": files}))
    for generator in data.get("secretGenerator", []):
        encoded = {
            _key(entry): base64.b64encode(read(_path(entry)).encode()).decode()
            for entry in generator["files"]
        }
        body = {"type": generator.get("type", "Opaque"), "data": encoded}
        objects.append(_object("Secret", generator["name"], body))
    for item in objects:
        metadata = item.setdefault("metadata", {})
        if item["kind"] not in CLUSTER_SCOPED and "namespace" in data:
            metadata["namespace"] = data["namespace"]
        for group in data.get("labels", []):
            metadata.setdefault("labels", {}).update(group["pairs"])
    return objects


def _key(entry: str) -> str:
    key, _, path = entry.partition("=")
    return key if path else Path(entry).name


def _path(entry: str) -> str:
    key, _, path = entry.partition("=")
    return path or key


def _object(kind: str, name: str, body: Manifest) -> Manifest:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, **body}
