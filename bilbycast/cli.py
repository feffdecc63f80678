"""Command line: `python manager.py [--config F] [--data-dir D] [--log-level L] <command> ...`.

Exit codes (product.md §10): 0 ok, 1 error, 2 usage, 3 refused (bad secrets or policy),
4 database locked by a running server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import ConfigError, load_config

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED, EXIT_LOCKED = 0, 1, 2, 3, 4


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", type=Path, default=default, help="config.toml (default: platform config dir)")
    parser.add_argument("--data-dir", type=Path, default=default, help="database, TLS and lock directory")
    parser.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default=default)
    parser.add_argument("--no-browser", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="never open a web browser (the no-command start, serve --open-browser)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bilbycast-manager",
        description="bilbycast-manager: control plane for bilbycast edges, relays and gateway sidecars.")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="<command>")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, suppress=True)  # accepted after the command too
        return sub

    setup = command("setup", "Create directories, config, database and the first super_admin (safe to re-run).")
    setup.add_argument("--generate-secrets", action="store_true", help="write manager.env (0600) with two fresh secrets")
    setup.add_argument("--username", help="first super_admin's username (or BILBYCAST_ADMIN_USERNAME)")
    setup.add_argument("--display-name", help="first super_admin's display name")
    setup.add_argument("--email")
    setup.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    serve = command("serve", "Run the manager.")
    serve.add_argument("--listen", action="append", metavar="ADDR", help="address to bind (repeatable)")
    serve.add_argument("--port", type=int)
    serve.add_argument("--tls-mode", choices=("self_signed", "direct", "behind_proxy"))
    serve.add_argument("--demo", type=int, default=0, metavar="N", help="also run N simulated demo nodes")
    serve.add_argument("--open-browser", action="store_true", help="open the dashboard in the default browser")

    user = command("user", "Manage users while the server runs or not.")
    user_commands = user.add_subparsers(dest="user_command", metavar="<user-command>")
    add = user_commands.add_parser("add", help="create a user")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=("viewer", "operator", "admin", "super_admin"))
    add.add_argument("--display-name")
    add.add_argument("--email")
    add.add_argument("--password-stdin", action="store_true")
    reset = user_commands.add_parser("reset-password", help="set a new password, clear lockout, revoke sessions")
    reset.add_argument("--username", required=True)
    reset.add_argument("--password-stdin", action="store_true")
    listing = user_commands.add_parser("list", help="list users")
    for sub in (add, reset, listing):
        _global_options(sub, suppress=True)  # `user list --data-dir D` as well as `user --data-dir D list`

    rotate = command("rotate-master-key", "Re-encrypt every secret under BILBYCAST_NEW_MASTER_KEY (server stopped).")
    rotate.add_argument("--new-key-file", type=Path)
    rotate.add_argument("--update-secrets-file", action="store_true", help="write the new key into manager.env")

    export = command("export", "Write an encrypted backup, the same file as GET /api/v1/export.")
    export.add_argument("--output", type=Path, required=True, metavar="FILE")
    export.add_argument("--include-events", action="store_true", help="add the newest 50 000 events")
    export.add_argument("--include-audit", action="store_true", help="add the newest 100 000 audit rows")
    export.add_argument("--passphrase-file", type=Path, metavar="F", help="read the passphrase from F (else a prompt)")

    restore = command("import", "Restore an encrypted backup, replacing all data (server stopped).")
    restore.add_argument("--input", type=Path, required=True, metavar="FILE")
    restore.add_argument("--force", action="store_true", help="replace a manager that holds nodes or several users")
    restore.add_argument("--passphrase-file", type=Path, metavar="F", help="read the passphrase from F (else a prompt)")

    simulate = command("simulate", "Run simulated edges, relays and gateway sidecars against a manager.")
    try:
        from .simulator import cli as simulator_cli

        simulator_cli.add_arguments(simulate)
    except ImportError:  # the simulator is optional in stripped builds
        pass

    command("version", "Print version, Python, platform and whether this is the frozen binary.")
    return parser


def _config_from(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    overrides: dict[str, Any] = dict(extra or {})
    if getattr(args, "data_dir", None):
        overrides["paths.data_dir"] = str(args.data_dir)
    if getattr(args, "log_level", None):
        overrides["logging.level"] = args.log_level
    return load_config(getattr(args, "config", None), os.environ, overrides)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None and not getattr(sys, "frozen", False):
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command is None:  # the binary without a command: set up if needed, serve, open the dashboard
            from . import firstrun

            return firstrun.run(_config_from(args), args)
        if args.command == "version":
            return cmd_version()
        if args.command == "simulate":
            from .simulator import cli as simulator_cli

            return simulator_cli.run(args)
        from . import commands

        if args.command == "setup":
            return commands.setup(_config_from(args), args)
        if args.command == "serve":
            extra = {"server.listen": args.listen, "server.port": args.port, "tls.mode": args.tls_mode}
            args.open_browser = args.open_browser and not args.no_browser
            return commands.serve(_config_from(args, extra), args)
        if args.command == "user":
            if not args.user_command:
                parser.parse_args(["user", "--help"])
            return commands.user(_config_from(args), args)
        if args.command == "rotate-master-key":
            return commands.rotate_master_key(_config_from(args), args)
        if args.command == "export":
            return commands.export_backup(_config_from(args), args)
        if args.command == "import":
            return commands.import_backup(_config_from(args), args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR
    parser.print_help()
    return EXIT_USAGE


def cmd_version() -> int:
    frozen = bool(getattr(sys, "frozen", False))
    commit = os.environ.get("BILBYCAST_BUILD_COMMIT") or _build_commit()
    print(f"bilbycast-manager {__version__}")
    print(f"commit: {commit}")
    print(f"python: {platform.python_version()} ({platform.python_implementation()})")
    print(f"platform: {platform.platform()}")
    print(f"frozen: {'yes' if frozen else 'no'}")
    return EXIT_OK


def _build_commit() -> str:
    try:
        from . import _build_info  # written by build/binary.sh into the frozen bundle

        return _build_info.COMMIT
    except ImportError:
        return "source"


if __name__ == "__main__":
    sys.exit(main())
