"""Reading a ``Config`` from YAML, a mapping and ``AKV_SIDECAR_<SECTION>__<KEY>`` variables."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from akv_sidecar.config.fields import VENDING_KINDS, Invalid
from akv_sidecar.config.schema import Config, VaultConfig
from akv_sidecar.core.errors import ConfigError

__all__ = ["ENV_PREFIX", "load_config", "read_secret_setting"]

ENV_PREFIX = "AKV_SIDECAR_"
# Settings holding file paths: relative ones are taken relative to the config file's folder.
_PATH_KEYS = (
    "token_file",
    "ca_file",
    "client_secret_file",
    "cert_file",
    "key_file",
    "uds",
    "webhook_secret_file",
)
T = TypeVar("T")


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    data: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build a Config from a YAML file or a mapping, then environment overrides.

    ``environ`` defaults to ``os.environ``; pass ``{}`` to ignore the environment.
    Relative file paths in a YAML file are taken relative to that file's folder.
    """
    if path is not None:
        source = str(path)
        raw = _read_yaml(Path(path))
        base = Path(path).resolve().parent
    else:
        source, raw, base = "<dict>", dict(data or {}), None
    origins: dict[str, str] = {}
    _apply_env(raw, os.environ if environ is None else environ, origins)
    reader = _Reader(source, origins)
    config = reader.build(Config, raw, "")
    config = dataclasses.replace(config, source=source)
    if base is not None:
        config = _resolve_paths(config, base)
    _check(config, reader)
    return config


def read_secret_setting(
    file: str | None, env: str | None, key: str, source: str
) -> tuple[str, str]:
    """The stripped text of ``file`` (else of variable ``env``) and the key it came from:
    ``<key>_file`` or ``<key>_env``; an unreadable file is a ConfigError naming that key."""
    if file is None:
        return os.environ.get(env or "", "").strip(), f"{key}_env"
    try:
        return Path(file).read_text(encoding="utf-8").strip(), f"{key}_file"
    except OSError as error:
        raise ConfigError(
            f"Invalid value for '{key}_file' in {source}: cannot read {file} ({error.strerror})."
        ) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"Cannot read the config file {path}: {error.strerror}.") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"The config file {path} is not valid YAML{where}.") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"The config file {path} must hold a mapping of settings at its top.")
    return raw


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str], origins: dict[str, str]) -> None:
    """Merge AKV_SIDECAR_A__B__0__C=value into raw; variables without '__' belong to others."""
    for variable, value in sorted(environ.items()):
        if not variable.startswith(ENV_PREFIX) or "__" not in variable:
            continue
        steps = [step.lower() for step in variable[len(ENV_PREFIX) :].split("__")]
        node: Any = raw
        for position, step in enumerate(steps[:-1]):
            key: str | int = int(step) if step.isdigit() else step
            child_default: Any = [] if steps[position + 1] == "" else {}
            node = _child(node, key, child_default, variable)
        last: str | int = int(steps[-1]) if steps[-1].isdigit() else steps[-1]
        _set(node, last, value, variable)
        origins[_key_path(steps)] = f"environment variable {variable}"


def _child(node: Any, key: str | int, default: Any, variable: str) -> Any:
    if isinstance(node, dict) and isinstance(key, str):
        return node.setdefault(key, default)
    if isinstance(node, list) and isinstance(key, int) and key <= len(node):
        if key == len(node):
            node.append({})
        return node[key]
    raise ConfigError(f"The environment variable {variable} does not match the config's shape.")


def _set(node: Any, key: str | int, value: str, variable: str) -> None:
    if isinstance(node, dict) and isinstance(key, str):
        node[key] = value
    else:
        raise ConfigError(f"The environment variable {variable} does not match the config's shape.")


def _key_path(steps: list[str]) -> str:
    path = ""
    for step in steps:
        path += f"[{step}]" if step.isdigit() else (f".{step}" if path else step)
    return path


class _Reader:
    """Walks the dataclasses, reporting errors with the key path and where the value came from."""

    def __init__(self, source: str, origins: Mapping[str, str]) -> None:
        self.source = source
        self.origins = origins

    def where(self, path: str) -> str:
        return self.origins.get(path, self.source)

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"Invalid value for '{path}' in {self.where(path)}: {message}")

    def build(self, cls: type[T], raw: Any, path: str) -> T:
        if not isinstance(raw, dict):
            raise self.fail(path, "Expected a mapping of settings.")
        fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}  # type: ignore[arg-type]
        for key in raw:
            if key not in fields:
                key_path = f"{path}.{key}" if path else str(key)
                known = ", ".join(sorted(fields))
                section = f"'{path}'" if path else "the top level"
                raise ConfigError(
                    f"Unknown key '{key_path}' in {self.where(key_path)}. "
                    f"Known keys in {section}: {known}."
                )
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            key_path = f"{path}.{name}" if path else name
            if name not in raw:
                if (
                    spec.default is dataclasses.MISSING
                    and spec.default_factory is dataclasses.MISSING
                ):
                    raise ConfigError(f"Missing key '{key_path}' in {self.where(path)}.")
                continue
            values[name] = self.value(spec, raw[name], key_path)
        return cls(**values)

    def value(self, spec: dataclasses.Field[Any], raw: Any, path: str) -> Any:
        nested = spec.metadata.get("section")
        if nested is None:
            if raw is None and spec.default is None:
                return None
            try:
                return spec.metadata["parse"](raw)
            except Invalid as error:
                raise self.fail(path, f"{raw!r} is not allowed. {error}") from None
        if not spec.metadata["many"]:
            return self.build(nested, raw or {}, path)
        if not isinstance(raw, list):
            raise self.fail(path, "Expected a list of mappings.")
        return tuple(self.build(nested, item, f"{path}[{i}]") for i, item in enumerate(raw))


def _resolve_paths(config: Config, base: Path) -> Config:
    def resolve(item: Any) -> Any:
        changes = {
            key: str(base / value)
            for key in _PATH_KEYS
            if isinstance(value := getattr(item, key, None), str) and not Path(value).is_absolute()
        }
        return dataclasses.replace(item, **changes) if changes else item

    tokens = tuple(resolve(token) for token in config.auth.tokens)
    listen = dataclasses.replace(resolve(config.listen), tls=resolve(config.listen.tls))
    return dataclasses.replace(
        config,
        auth=dataclasses.replace(config.auth, tokens=tokens),
        vaults=tuple(resolve(vault) for vault in config.vaults),
        credential=resolve(config.credential),
        listen=listen,
        events=resolve(config.events),
    )


def _check(config: Config, reader: _Reader) -> None:
    """Rules that span several keys."""
    if not config.auth.tokens:
        raise ConfigError(
            f"No caller token in {reader.where('auth.tokens')}: add at least one entry under "
            "'auth.tokens' with a name and a token_file or token_env; the sidecar refuses to "
            "serve secrets without authentication."
        )
    names: set[str] = set()
    for index, token in enumerate(config.auth.tokens):
        path = f"auth.tokens[{index}]"
        if (token.token_file is None) == (token.token_env is None):
            raise reader.fail(path, "Give exactly one of token_file or token_env.")
        if token.name in names:
            raise reader.fail(f"{path}.name", f"The caller name {token.name!r} is used twice.")
        names.add(token.name)
    seen: set[str] = set()
    for index, vault in enumerate(config.vaults):
        _check_vault(vault, f"vaults[{index}]", seen, reader)
    credential = config.credential
    if credential.kind == "client_secret":
        if not (credential.tenant_id and credential.client_id):
            raise reader.fail("credential", "kind client_secret needs tenant_id and client_id.")
        if (credential.client_secret_file is None) == (credential.client_secret_env is None):
            raise reader.fail(
                "credential",
                "kind client_secret needs one of client_secret_file or client_secret_env.",
            )
    if config.cache.backoff_base > config.cache.backoff_max:
        raise reader.fail("cache.backoff_base", "It must not exceed cache.backoff_max.")
    tls = config.listen.tls
    if (tls.cert_file is None) != (tls.key_file is None):
        raise reader.fail("listen.tls", "Give both cert_file and key_file, or neither.")
    events = config.events
    if events.webhook_secret_file is not None and events.webhook_secret_env is not None:
        raise reader.fail("events", "Give one of webhook_secret_file or webhook_secret_env.")


def _check_vault(vault: VaultConfig, path: str, seen: set[str], reader: _Reader) -> None:
    if vault.name.lower() in seen:
        raise reader.fail(f"{path}.name", f"The vault {vault.name!r} is configured twice.")
    seen.add(vault.name.lower())
    if vault.name.lower() in VENDING_KINDS:
        raise reader.fail(
            f"{path}.name",
            f"A vault named {vault.name!r} would share its allow patterns with credential vending "
            f"('{vault.name.lower()}/...'); give the vault another name in the sidecar's config "
            "(its URL can stay the same).",
        )
    if not vault.vault_url.startswith("https://"):
        raise reader.fail(f"{path}.url", "Key Vault is only reached over https://.")
