"""``python -m akv_emulator``: serve until SIGTERM/SIGINT after printing one JSON line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from ._config import DEFAULTS
from ._emulator import Emulator
from ._exceptions import EmulatorError


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Local Azure Key Vault (secrets) emulator with a managed-identity endpoint.",
    )
    parser.add_argument(
        "--vault",
        action="append",
        dest="vaults",
        metavar="NAME",
        help=f"vault to serve; repeatable (default: {DEFAULTS.vaults[0]})",
    )
    parser.add_argument("--seed", metavar="FILE", help="YAML file of secrets to create at start")
    parser.add_argument("--cert-dir", metavar="DIR", help="where to write ca.pem (default: temp)")
    parser.add_argument("--host", default=DEFAULTS.host)
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULTS.port,
        help="first vault's port, next vaults +1 (0: free ports)",
    )
    parser.add_argument("--admin-port", type=int, default=DEFAULTS.admin_port)
    parser.add_argument("--identity-port", type=int, default=DEFAULTS.identity_port)
    parser.add_argument("--tenant", default=DEFAULTS.tenant_id, help="tenant named in challenges")
    parser.add_argument(
        "--api-version",
        action="append",
        dest="api_versions",
        metavar="VERSION",
        help="accept only this api-version (repeatable, newest first), as a Key Vault that lags "
        "the SDK does; others get 400 BadParameter (default: what Azure accepts)",
    )
    return parser  # fmt: skip


def main(argv: list[str] | None = None, prog: str = "akv_emulator") -> int:
    """Run the emulator in the foreground; 0 on a clean stop, 2 on bad arguments or seed.
    ``prog`` is the command as the user typed it (``akv-sidecar emulator`` runs this too)."""
    args = _parser(prog).parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        emulator = Emulator(
            vaults=tuple(args.vaults or DEFAULTS.vaults),
            seed=args.seed,
            cert_dir=args.cert_dir,
            host=args.host,
            port=args.port,
            admin_port=args.admin_port,
            tenant_id=args.tenant,
            identity_port=args.identity_port,
            api_versions=args.api_versions,
        )
        with emulator:
            print(json.dumps(emulator.info), flush=True)
            stop.wait()
    except (EmulatorError, ValueError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
