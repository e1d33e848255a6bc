"""The ``akv-sidecar`` command: serve, check (the config doctor) and emulator."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from akv_sidecar.cli.check import run_check
from akv_sidecar.config.loading import load_config
from akv_sidecar.config.schema import LOG_FORMATS, LOG_LEVELS, Config
from akv_sidecar.core.errors import ConfigError
from akv_sidecar.core.version import __version__
from akv_sidecar.ops.logs import configure_logging
from akv_sidecar.server.server import build_server
from akv_sidecar.server.sidecar import Sidecar

__all__ = ["main", "serve"]

DEFAULT_DEMO_DIR = ".cache/demo"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for usage and configuration errors)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["emulator"]:
        from akv_emulator._cli import main as emulator_main

        return emulator_main(args[1:], prog="akv-sidecar emulator")
    options = _parser().parse_args(args)
    try:
        if options.command == "check":
            return run_check(load_config(options.config))
        if options.demo:
            from akv_sidecar.cli.demo import run_demo

            return run_demo(
                options.demo_dir, lambda config, ready: serve(_flags(config, options), ready)
            )
        if options.config is None:
            print("akv-sidecar serve: give --config FILE (or --demo)", file=sys.stderr)
            return 2
        return serve(_flags(load_config(options.config), options))
    except ConfigError as error:
        print(f"akv-sidecar: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akv-sidecar",
        description="Azure Key Vault secrets for Spark drivers, cached and served on loopback.",
    )
    parser.add_argument("--version", action="version", version=f"akv-sidecar {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the sidecar")
    serve_cmd.add_argument("--config", type=Path, help="the YAML config file")
    serve_cmd.add_argument(
        "--demo", action="store_true", help="run against an in-process emulator with sample secrets"
    )
    serve_cmd.add_argument(
        "--demo-dir",
        type=Path,
        default=Path(DEFAULT_DEMO_DIR),
        help="where --demo writes its token",
    )
    serve_cmd.add_argument("--host", help="listen address (overrides listen.host)")
    serve_cmd.add_argument(
        "--port", type=int, help="listen port, 0 for any (overrides listen.port)"
    )
    serve_cmd.add_argument("--log-level", choices=LOG_LEVELS, help="overrides log_level")
    serve_cmd.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="json lines (default) or text; overrides log_format",
    )
    check_cmd = commands.add_parser(
        "check", help="validate the config and fetch every configured secret once"
    )
    check_cmd.add_argument("--config", type=Path, required=True, help="the YAML config file")
    commands.add_parser("emulator", help="run the Key Vault emulator (see: emulator --help)")
    return parser


def _flags(config: Config, options: argparse.Namespace) -> Config:
    """Command-line flags win over the file and the environment."""
    listen = config.listen
    if options.host is not None:
        listen = dataclasses.replace(listen, host=options.host)
    if options.port is not None:
        listen = dataclasses.replace(listen, port=options.port)
    level = options.log_level or config.log_level
    log_format = options.log_format or config.log_format
    return dataclasses.replace(config, listen=listen, log_level=level, log_format=log_format)


def serve(config: Config, on_listening: Callable[[int], None] | None = None) -> int:
    """Serve until SIGTERM/SIGINT (SIGHUP reloads the TLS certificate and caller tokens);
    ``on_listening`` gets the bound port before serving starts."""
    configure_logging(config.log_format, config.log_level)
    # azure-core logs every request's headers at INFO; keep the sidecar's own lines readable.
    logging.getLogger("azure").setLevel(max(logging.WARNING, logging.getLogger().level))
    sidecar = Sidecar(config, freeze_heap=True)
    served = build_server(sidecar)
    scheme = "https" if config.listen.tls.enabled else "http"
    logging.getLogger("akv_sidecar").info(
        "listening on %s://%s:%d",
        scheme,
        config.listen.host,
        served.port,
        extra={"port": served.port},
    )
    if on_listening is not None:
        on_listening(served.port)
    try:
        served.run()
    finally:
        served.close()
    return 0 if served.server.started else 1
