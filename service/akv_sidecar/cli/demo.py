"""``akv-sidecar serve --demo``: the sidecar on an in-process emulator with made-up secrets.

The values are random, generated at start and never printed. Into ``<demo dir>`` (``.cache/demo``)
go, each mode 0600: ``token``, the caller token; ``config.yaml``, the config served (what
``akv-sidecar check --config`` takes); and, once it listens, ``demo.env``, the variables a shell, a
notebook or a test sources to reach the sidecar (and, for comparisons, the emulated vault itself,
with the emulator's managed-identity header). None of them holds a secret value. The lines to
query the sidecar are printed once it listens.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from akv_sidecar.config.loading import load_config
from akv_sidecar.config.schema import Config

if TYPE_CHECKING:
    from akv_emulator import Emulator

__all__ = ["DEMO_SECRETS", "DEMO_VAULT", "run_demo"]

DEMO_VAULT = "demo"
DEMO_SECRETS = ("bronze-storage-key", "silver-storage-key", "sp-client-secret")
DEMO_DIR_ENV = "AKV_SIDECAR_DEMO_DIR"


def run_demo(directory: Path, serve: Callable[[Config, Callable[[int], None]], int]) -> int:
    """Start the emulator, write the token and the config, and ``serve`` it."""
    from akv_emulator import Emulator

    directory = Path(os.environ.get(DEMO_DIR_ENV, directory))
    directory.mkdir(parents=True, exist_ok=True)
    token_file = directory / "token"
    _write_private(token_file, secrets.token_urlsafe(32))
    with Emulator(vaults=(DEMO_VAULT,)) as emulator:
        for name in DEMO_SECRETS:
            emulator.set_secret(DEMO_VAULT, name, secrets.token_urlsafe(32))
        os.environ.update(emulator.identity_env())
        config_file = directory / "config.yaml"
        _write_private(config_file, yaml.safe_dump(_config_data(token_file, emulator)))
        config = load_config(config_file)

        def announce(port: int) -> None:
            url = f"http://{config.listen.host}:{port}"
            _write_env(directory / "demo.env", url, token_file, emulator)
            print(_instructions(url, token_file, config_file), flush=True)

        return serve(config, announce)


def _config_data(token_file: Path, emulator: Emulator) -> dict[str, Any]:
    """The demo's config; absolute paths, since paths in a file are relative to its folder."""
    return {
        "auth": {"tokens": [{"name": "demo", "token_file": str(token_file.resolve())}]},
        "vaults": [
            {
                "name": DEMO_VAULT,
                "url": emulator.vault_url(DEMO_VAULT),
                "ca_file": emulator.ca_file,
                "secrets": list(DEMO_SECRETS),
            }
        ],
        "credential": {"kind": "managed_identity"},
    }


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, also when the file already exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _write_env(path: Path, url: str, token_file: Path, emulator: Emulator) -> None:
    variables = {
        "AKV_SIDECAR_URL": url,
        "AKV_SIDECAR_TOKEN_FILE": str(token_file.resolve()),
        "AKV_DEMO_VAULT": DEMO_VAULT,
        "AKV_DEMO_VAULT_URL": emulator.vault_url(DEMO_VAULT),
        "AKV_DEMO_CA_FILE": emulator.ca_file,
        "AKV_DEMO_ADMIN_URL": emulator.admin_url,
        **emulator.identity_env(),
    }
    lines = [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    _write_private(path, "\n".join(lines) + "\n")


def _here(path: Path) -> str:
    """``path`` for a shell in the current directory: relative below it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return shlex.quote(str(absolute.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(absolute))


def _instructions(url: str, token_file: Path, config_file: Path) -> str:
    token = _here(token_file)
    python = _here(Path(sys.executable))  # the interpreter that has akv_client: the venv's
    code = (
        "from akv_client import SidecarClient; "
        f"print(SidecarClient().get_secret('{DEMO_VAULT}', '{DEMO_SECRETS[0]}'))"
    )
    return "\n".join(
        [
            f"akv-sidecar demo: vault '{DEMO_VAULT}' with {', '.join(DEMO_SECRETS)}.",
            "Query it with curl:",
            f'curl -H "Authorization: Bearer $(cat {token})" '
            f"{url}/v1/vaults/{DEMO_VAULT}/secrets/{DEMO_SECRETS[0]}",
            "or from Python:",
            f'AKV_SIDECAR_URL={url} AKV_SIDECAR_TOKEN_FILE={token} {python} -c "{code}"',
            "or run the config doctor on the demo's config:",
            f"source {_here(config_file.parent / 'demo.env')} && "
            f"{python} -m akv_sidecar check --config {_here(config_file)}",
        ]
    )
