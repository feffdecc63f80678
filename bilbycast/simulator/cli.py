"""`simulate` command: ``add_arguments(parser)`` + ``run(args) -> int``.

Mounted by the main CLI as ``python manager.py simulate …`` (product.md §10) and runnable on
its own as ``python -m bilbycast.simulator …``.

Exit codes: 0 success, 1 error (e.g. the API refused), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from .fleet import DEVICE_TYPES, Fleet, FleetError, api_base_from_url, wanted_nodes
from .node import Chaos, NodeOptions
from .state import StateStore

log = logging.getLogger("bilbycast.simulator")

DEFAULT_URL = "wss://127.0.0.1:8443/ws/node"
DEFAULT_STATE_FILE = "bilbycast-sim-state.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("simulate")
    g.add_argument("--url", action="append", dest="urls", metavar="URL",
                   help="manager node WebSocket URL, e.g. wss://host:8443/ws/node; repeat for "
                        "several (rotated on every reconnect like real nodes). "
                        f"Default {DEFAULT_URL}")
    g.add_argument("--count", type=int, default=None, metavar="N",
                   help="number of nodes of --device-type (default: every node in the state "
                        "file, or 1)")
    g.add_argument("--device-type", choices=DEVICE_TYPES, default="edge",
                   help="device type of the --count nodes (default edge)")
    g.add_argument("--relays", type=int, default=0, metavar="M", help="also run M relays")
    g.add_argument("--appear-x", dest="appear_x", type=int, default=0, metavar="K",
                   help="also run K appear_x gateway sidecars")
    g.add_argument("--flows", type=int, default=2, metavar="K",
                   help="flows pre-built on each new simulated edge (default 2)")
    g.add_argument("--token", metavar="T",
                   help="run one node that enrols with this registration token")
    g.add_argument("--api-url", metavar="URL",
                   help="manager base URL for creating nodes (default: derived from --url)")
    g.add_argument("--api-token", metavar="T", default=os.environ.get("BILBYCAST_API_TOKEN"),
                   help="Bearer token for POST /api/v1/nodes (or env BILBYCAST_API_TOKEN)")
    g.add_argument("--insecure", action="store_true",
                   help="accept a self-signed manager certificate (TLS mode 3: stands for both "
                        "accept_self_signed_cert and BILBYCAST_ALLOW_INSECURE=1)")
    g.add_argument("--ca-file", metavar="F", help="trust this CA bundle for the manager")
    g.add_argument("--cert-fingerprint", metavar="FP",
                   help="pin the manager leaf certificate (lowercase aa:bb:… SHA-256)")
    g.add_argument("--state-file", metavar="F", default=DEFAULT_STATE_FILE,
                   help=f"credentials of the simulated nodes (default {DEFAULT_STATE_FILE})")
    g.add_argument("--name-prefix", metavar="P", default="sim-",
                   help="node name prefix (default 'sim-': sim-edge-01, sim-relay-01, …)")
    g.add_argument("--chaos", action="store_true",
                   help="randomly drop connections, delay acks and send malformed frames")
    g.add_argument("--duration", type=float, default=0.0, metavar="SECS",
                   help="stop after SECS seconds (0 = run until interrupted)")
    g.add_argument("--ramp", type=float, default=None, metavar="SECS",
                   help="spread the initial connections over SECS (default min(10, N/500))")
    g.add_argument("--create-flow-delay", type=float, default=0.6, metavar="SECS",
                   help="bind-watch time before create_flow/add_input acks (default 0.6)")
    g.add_argument("--allow-ws", "--allow-plaintext", dest="allow_ws", action="store_true",
                   help=argparse.SUPPRESS)       # test-only: permit ws:// URLs


def _options(args: argparse.Namespace) -> NodeOptions:
    urls = list(dict.fromkeys(args.urls or [DEFAULT_URL]))
    if len(urls) > 16:
        raise FleetError("at most 16 --url values", usage=True)
    for url in urls:
        if len(url) > 2048:
            raise FleetError("a --url is longer than 2048 characters", usage=True)
        if url.startswith("ws://") and not args.allow_ws:
            raise FleetError(f"{url}: nodes dial wss:// only", usage=True)
        if not url.startswith(("wss://", "ws://")):
            raise FleetError(f"{url}: expected a wss:// URL", usage=True)
    return NodeOptions(urls=urls, accept_self_signed_cert=bool(args.insecure),
                       allow_insecure_env=True if args.insecure else None,
                       cert_fingerprint=args.cert_fingerprint, ca_file=args.ca_file,
                       allow_plaintext=bool(args.allow_ws),
                       bind_watch_secs=max(0.0, args.create_flow_delay),
                       chaos=Chaos() if args.chaos else None)


async def run_async(args: argparse.Namespace, provisioner=None) -> int:
    for flag in ("count", "relays", "appear_x", "flows"):
        value = getattr(args, flag)
        if value is not None and value < 0:
            raise FleetError(f"--{flag.replace('_', '-')} must not be negative", usage=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = _options(args)
    try:
        store = StateStore(args.state_file)
    except (OSError, ValueError) as exc:
        raise FleetError(f"cannot read the state file {args.state_file}: {exc}",
                         usage=True) from None
    fleet = Fleet(options, store, default_flows=args.flows)
    if args.token:
        fleet.plan_token(args.token, args.device_type, args.name_prefix)
    else:
        explicit = args.count is not None or args.relays or args.appear_x
        wanted = None
        if explicit or not store.entries:
            count = args.count if args.count is not None else (
                0 if (args.relays or args.appear_x) else 1)
            wanted = wanted_nodes(args.name_prefix, args.device_type, count, args.relays,
                                  args.appear_x)
        api_url = args.api_url or (api_base_from_url(options.urls[0]) if args.api_token
                                   else None)
        verify = False if args.insecure else (args.ca_file or True)
        await fleet.plan(wanted, api_url=api_url, api_token=args.api_token, api_verify=verify,
                         provisioner=provisioner)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, fleet.request_stop)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-main thread
            pass
    log.info("simulating %d node(s) against %s", len(fleet.nodes), ", ".join(options.urls))
    try:
        await fleet.run(duration=args.duration, ramp=args.ramp)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
    return 0


def run(args: argparse.Namespace, provisioner=None) -> int:
    """Entry point for the main CLI. ``provisioner(name, device_type) -> token`` (async) lets
    the embedding program create node records itself (e.g. in its local database)."""
    if not logging.getLogger().handlers:
        level = str(getattr(args, "log_level", None) or "info").upper()
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(run_async(args, provisioner))
    except FleetError as exc:
        log.error("simulate: %s", exc)
        print(f"simulate: {exc}")
        return 2 if exc.usage else 1
    except KeyboardInterrupt:
        return 0
