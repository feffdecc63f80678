"""``python -m bilbycast.simulator --help`` (until the main CLI mounts ``simulate``)."""

from __future__ import annotations

import argparse
import logging
import sys

from .cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bilbycast.simulator",
        description="Run simulated bilbycast edges, relays and appear_x sidecars against a "
                    "manager's node WebSocket (node-protocol.md).")
    parser.add_argument("--log-level", default="INFO",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
