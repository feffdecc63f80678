"""Load generator for bench/run.py: N edges speaking the node protocol (credential auth, two
health beats at connect then every 15 s, stats with 4 flows at 1 Hz). Stats payloads come from
the simulator's telemetry (moving numbers), pre-rendered into a pool so that generating load
costs little CPU next to the server being measured.

Prints one JSON line of results on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import sys
import time
from pathlib import Path

import tornado.httpclient
import tornado.websocket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bilbycast.simulator import wire  # noqa: E402


def stats_pool(size: int, flows: int) -> tuple[list[str], list[str]]:
    """Pre-rendered stats and health payload JSON (without envelope) from the real telemetry."""
    from bilbycast.simulator.edge_model import EdgeModel
    from bilbycast.simulator.telemetry import EdgeTelemetry

    rng = random.Random(7)
    model = EdgeModel(flows=flows, rng=rng)
    telemetry = EdgeTelemetry(model, rng)
    stats, health = [], []
    for _ in range(size):
        telemetry.advance(1.0)
        stats.append(json.dumps(telemetry.stats_payload(), separators=(",", ":")))
    for _ in range(4):
        health.append(json.dumps(telemetry.health_payload(), separators=(",", ":")))
    return stats, health


def envelope(kind: str, payload_json: str) -> str:
    return '{"payload":' + payload_json + ',"timestamp":"' + wire.utc_timestamp() + '","type":"' + kind + '"}'


class Counters:
    def __init__(self) -> None:
        self.connected = 0
        self.authenticated = 0
        self.sent = 0
        self.failures = 0
        self.first_all_auth: float | None = None


class LoadNode:
    """One simulated edge connection; the shared ticker does the sending."""

    def __init__(self, creds: dict, index: int):
        self.creds = creds
        self.index = index
        self.ws = None
        self.tick = 0


async def connect(node: LoadNode, url: str, ctx, pools, counters: Counters, total: int, started: float,
                  gate: asyncio.Semaphore) -> None:
    stats, health = pools
    while True:
        async with gate:  # bound concurrent TLS handshakes, like a NAT'd site would
            try:
                request = tornado.httpclient.HTTPRequest(url, ssl_options=ctx, connect_timeout=60, request_timeout=60)
                ws = await tornado.websocket.websocket_connect(request, max_message_size=8 * 1024 * 1024)
                await ws.write_message(json.dumps({"type": "auth", "payload": {
                    "node_id": node.creds["node_id"], "node_secret": node.creds["node_secret"],
                    "software_version": "0.106.0", "protocol_version": 4}}))
                reply = await ws.read_message()
            except Exception:  # noqa: BLE001 - retry after the node's fixed 5 s
                reply, ws = None, None
        if reply is None or '"auth_ok"' not in reply:
            counters.failures += 1
            if ws is not None:
                ws.close()
            await asyncio.sleep(5)
            continue
        counters.authenticated += 1
        if counters.authenticated == total and counters.first_all_auth is None:
            counters.first_all_auth = time.monotonic() - started
        for _ in range(2):
            await ws.write_message(envelope("health", health[node.index % len(health)]))
        node.ws = ws
        while await ws.read_message() is not None:  # commands and pings are read and dropped
            pass
        node.ws = None
        await asyncio.sleep(5)


async def ticker(nodes: list[LoadNode], pools, counters: Counters, deadline: float) -> None:
    """Every node sends stats once a second, spread evenly over the second in 100 slots."""
    stats, health = pools
    slots = 100
    while time.monotonic() < deadline:
        second = time.monotonic()
        for slot in range(slots):
            for node in nodes[slot::slots]:
                ws = node.ws
                if ws is None:
                    continue
                node.tick += 1
                try:
                    ws.write_message(envelope("stats", stats[(node.tick + node.index) % len(stats)]))
                    counters.sent += 1
                    if node.tick % 15 == 0:
                        ws.write_message(envelope("health", health[node.tick % len(health)]))
                        counters.sent += 1
                except tornado.websocket.WebSocketClosedError:
                    node.ws = None
            await asyncio.sleep(max(0.0, second + (slot + 1) / slots - time.monotonic()))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--creds", required=True, type=Path)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--flows", type=int, default=4)
    args = parser.parse_args()
    creds = json.loads(args.creds.read_text())
    pools = stats_pool(64, args.flows)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    counters = Counters()
    started = time.monotonic()
    deadline = started + args.duration
    nodes = [LoadNode(entry, index) for index, entry in enumerate(creds)]
    gate = asyncio.Semaphore(200)
    tasks = [asyncio.ensure_future(connect(n, args.url, ctx, pools, counters, len(nodes), started, gate))
             for n in nodes]
    await ticker(nodes, pools, counters, deadline)
    for task in tasks:
        task.cancel()
    print(json.dumps({"authenticated": counters.authenticated, "sent": counters.sent,
                      "failures": counters.failures, "all_authenticated_after_secs": counters.first_all_auth,
                      "payload_bytes": len(pools[0][0])}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
