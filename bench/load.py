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


async def run_node(url: str, creds: dict, pools, counters: Counters, total: int, started: float,
                   deadline: float, ctx) -> None:
    stats, health = pools
    rng = random.Random(creds["node_id"])
    while time.monotonic() < deadline:
        try:
            request = tornado.httpclient.HTTPRequest(url, ssl_options=ctx, connect_timeout=60, request_timeout=60)
            ws = await tornado.websocket.websocket_connect(request, max_message_size=8 * 1024 * 1024)
        except Exception:  # noqa: BLE001 - count and retry after the node's fixed 5 s
            counters.failures += 1
            await asyncio.sleep(5)
            continue
        counters.connected += 1
        await ws.write_message(json.dumps({"type": "auth", "payload": {
            "node_id": creds["node_id"], "node_secret": creds["node_secret"],
            "software_version": "0.106.0", "protocol_version": 4}}))
        reply = await ws.read_message()
        if reply is None or '"auth_ok"' not in reply:
            counters.failures += 1
            ws.close()
            await asyncio.sleep(5)
            continue
        counters.authenticated += 1
        if counters.authenticated == total and counters.first_all_auth is None:
            counters.first_all_auth = time.monotonic() - started

        async def drain() -> None:
            while await ws.read_message() is not None:
                pass

        reader = asyncio.ensure_future(drain())
        try:
            for _ in range(2):
                await ws.write_message(envelope("health", health[rng.randrange(len(health))]))
            await asyncio.sleep(rng.random())  # real edges are not phase-aligned
            tick = 0
            while time.monotonic() < deadline and not reader.done():
                await ws.write_message(envelope("stats", stats[(tick + rng.randrange(7)) % len(stats)]))
                counters.sent += 1
                tick += 1
                if tick % 15 == 0:
                    await ws.write_message(envelope("health", health[tick % len(health)]))
                    counters.sent += 1
                await asyncio.sleep(1.0)
        except tornado.websocket.WebSocketClosedError:
            pass
        finally:
            reader.cancel()
            ws.close()
        if time.monotonic() < deadline:
            await asyncio.sleep(5)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--creds", required=True, type=Path)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--flows", type=int, default=4)
    parser.add_argument("--ramp", type=float, default=0.0, help="seconds over which to start the nodes")
    args = parser.parse_args()
    creds = json.loads(args.creds.read_text())
    pools = stats_pool(64, args.flows)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    counters = Counters()
    started = time.monotonic()
    deadline = started + args.duration
    tasks = []
    for index, entry in enumerate(creds):
        if args.ramp:
            await asyncio.sleep(args.ramp / len(creds))
        tasks.append(asyncio.ensure_future(run_node(args.url, entry, pools, counters, len(creds), started,
                                                    deadline, ctx)))
        if index % 200 == 0:
            await asyncio.sleep(0)
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"authenticated": counters.authenticated, "sent": counters.sent,
                      "failures": counters.failures, "all_authenticated_after_secs": counters.first_all_auth,
                      "payload_bytes": len(pools[0][0])}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
