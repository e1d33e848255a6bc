"""``akv-sidecar serve --demo``: the sidecar on an in-process emulator with made-up secrets.

The values are random, generated at start and never printed; the caller token is written to
``<demo dir>/token`` (mode 0600) and the lines to query the sidecar are printed once it listens.
``<demo dir>/demo.env`` then holds the variables a shell, a notebook or a test sources to reach the
sidecar (and, for comparisons, the emulated vault itself); it names files, never a secret value.
"""

from __future__ import annotations

import os
import secrets
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from akv_sidecar.config.loading import load_config
from akv_sidecar.config.schema import Config

if TYPE_CHECKING:
    from akv_emulator import Emulator

__all__ = ["DEMO_SECRETS", "DEMO_VAULT", "run_demo"]

DEMO_VAULT = "demo"
DEMO_SECRETS = ("bronze-storage-key", "silver-storage-key", "sp-client-secret")
DEMO_DIR_ENV = "AKV_SIDECAR_DEMO_DIR"


def run_demo(directory: Path, serve: Callable[[Config, Callable[[int], None]], int]) -> int:
    """Start the emulator, write the token, build the config, and ``serve`` it."""
    from akv_emulator import Emulator

    directory = Path(os.environ.get(DEMO_DIR_ENV, directory))
    directory.mkdir(parents=True, exist_ok=True)
    token_file = directory / "token"
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32))
    token_file.chmod(0o600)
    with Emulator(vaults=(DEMO_VAULT,)) as emulator:
        for name in DEMO_SECRETS:
            emulator.set_secret(DEMO_VAULT, name, secrets.token_urlsafe(32))
        os.environ.update(emulator.identity_env())
        config = load_config(
            data={
                "auth": {"tokens": [{"name": "demo", "token_file": str(token_file)}]},
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
        )

        def announce(port: int) -> None:
            url = f"http://{config.listen.host}:{port}"
            _write_env(directory / "demo.env", url, token_file, emulator)
            print(_instructions(url, token_file), flush=True)

        return serve(config, announce)


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
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _instructions(url: str, token_file: Path) -> str:
    token = shlex.quote(str(token_file))
    python = (
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
            f'AKV_SIDECAR_URL={url} AKV_SIDECAR_TOKEN_FILE={token} python -c "{python}"',
            f"(or `source {shlex.quote(str(token_file.parent / 'demo.env'))}` first)",
        ]
    )
