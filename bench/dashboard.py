"""Dashboard fan-out benchmark (issue 4): 1000 simulated nodes, 10 open dashboards.

    .venv/bin/python bench/dashboard.py --nodes 1000 --dashboards 10 --window 30

Prints the manager's fan-out cost (CPU with 0 vs N dashboards, time per 1 s fan-out tick, bytes
per dashboard per second), the browser's update time per frame (WebSocket message → next paint
in Chromium) and dashboard freshness: a probe node sends stats whose bitrate encodes a sequence
number; the time from sending that sample to Chromium painting it on the probe's card, p50/p95
(target p95 < 1.5 s). N-1 dashboards are raw WebSocket clients, one is a real Chromium page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import tornado.httpclient
import tornado.websocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from manager_process import ADMIN_PASSWORD, ManagerProcess  # noqa: E402
import run as hub_bench  # noqa: E402

PROBE_BASE_BPS = 1_000_000
PROBE_STEP_BPS = 10_000  # 0.01 Mbps: each sample shows as a distinct "x.xx Mbps" on the card

BROWSER_HOOK = """
(() => {
  window.__bench = {messages: [], paints: [], texts: []};
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', () => {
      const received = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => window.__bench.messages.push(performance.now() - received)));
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  const observer = new MutationObserver(() => {
    const card = document.querySelector('[data-node-id="__PROBE_ID__"]');
    if (!card) return;
    const text = card.textContent;
    const last = window.__bench.texts[window.__bench.texts.length - 1];
    if (text !== last) {
      window.__bench.texts.push(text);
      requestAnimationFrame(() => window.__bench.paints.push([Date.now(), text]));
    }
  });
  document.addEventListener('DOMContentLoaded', () => observer.observe(document.body, {subtree: true, childList: true, characterData: true}));
})();
"""


def probe_stats(seq: int) -> str:
    bitrate = PROBE_BASE_BPS + seq * PROBE_STEP_BPS
    payload = {"flows": [{"flow_id": "probe", "flow_name": "Probe", "state": "Running", "health": "Healthy",
                          "input": {"input_type": "srt", "state": "connected", "bitrate_bps": bitrate,
                                    "packets_received": seq * 100, "bytes_received": seq * 100000},
                          "outputs": []}],
               "tunnels": [], "uptime_secs": seq, "active_flows": 1, "total_flows": 1}
    return json.dumps({"type": "stats", "timestamp": "2026-01-01T00:00:00+00:00", "payload": payload})


async def run_probe(url: str, creds: dict, sent: dict[int, float], stop: threading.Event) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ws = await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(url, ssl_options=ctx))
    await ws.write_message(json.dumps({"type": "auth", "payload": {**creds, "software_version": "0.106.0",
                                                                   "protocol_version": 4}}))
    await ws.read_message()
    health = json.loads((Path("/work/shared/spec/examples/edge-health.json")).read_text()) \
        if Path("/work/shared/spec/examples/edge-health.json").exists() else {"type": "health", "payload": {"status": "ok"}}
    await ws.write_message(json.dumps(health))
    seq = 0
    while not stop.is_set():
        seq += 1
        sent[seq] = time.time()
        await ws.write_message(probe_stats(seq))
        await asyncio.sleep(1.0)
    ws.close()


async def raw_dashboard(base_ws: str, cookie: str, origin: str, stats: dict, stop: threading.Event) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    request = tornado.httpclient.HTTPRequest(f"{base_ws}/ws/dashboard", ssl_options=ctx,
                                             headers={"Cookie": cookie, "Origin": origin})
    ws = await tornado.websocket.websocket_connect(request)
    while not stop.is_set():
        try:
            message = await asyncio.wait_for(ws.read_message(), 1.0)
        except asyncio.TimeoutError:
            continue
        if message is None:
            break
        stats["bytes"] += len(message)
        stats["frames"] += 1
    ws.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--dashboards", type=int, default=10)
    parser.add_argument("--window", type=float, default=30)
    args = parser.parse_args()
    from browser import BrowserSession, launch

    with tempfile.TemporaryDirectory(prefix="bilbycast-dash-bench-") as tmp:
        proc = ManagerProcess(Path(tmp) / "manager")
        proc.setup()
        creds = hub_bench.seed_nodes(proc, args.nodes + 1)
        probe_creds, fleet = creds[0], creds[1:]
        _rename_probe(proc, probe_creds["node_id"])
        creds_file = Path(tmp) / "creds.json"
        creds_file.write_text(json.dumps(fleet))
        proc.start()
        pid = proc.proc.pid
        load = hub_bench.start_load(f"{proc.ws_url}/ws/node", creds_file, 3600, 1)
        stop = threading.Event()
        sent: dict[int, float] = {}
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(run_probe(f"{proc.ws_url}/ws/node", probe_creds, sent, stop), loop)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and hub_bench.scrape(proc.base_url)["online"] < args.nodes:
            time.sleep(2)
        time.sleep(10)
        cpu0, t0 = hub_bench.cpu_seconds(pid), time.monotonic()
        time.sleep(args.window)
        idle_cpu = 100 * (hub_bench.cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)

        browser_login = proc.login()
        cookie = "; ".join(f"{k}={v}" for k, v in browser_login.client.cookies.items())
        raw_stats = {"bytes": 0, "frames": 0}
        for _ in range(args.dashboards - 1):
            asyncio.run_coroutine_threadsafe(raw_dashboard(proc.ws_url, cookie, proc.base_url, raw_stats, stop), loop)
        playwright, browser = launch()
        session = BrowserSession(browser, proc.base_url)
        session.context.add_init_script(BROWSER_HOOK.replace("__PROBE_ID__", probe_creds["node_id"]))
        session.login("admin", ADMIN_PASSWORD)
        time.sleep(5)
        raw_stats["bytes"] = raw_stats["frames"] = 0
        cpu0, t0 = hub_bench.cpu_seconds(pid), time.monotonic()
        ticks0 = _tick_seconds(proc.base_url)
        time.sleep(args.window)
        elapsed = time.monotonic() - t0
        busy_cpu = 100 * (hub_bench.cpu_seconds(pid) - cpu0) / elapsed
        tick = _tick_seconds(proc.base_url)
        bench = session.page.evaluate("window.__bench")
        session.screenshot("bench-dashboard-1000")
        stop.set()
        session.close()
        browser.close()
        playwright.stop()
        load.terminate()
        load.wait(30)
        proc.stop()

    freshness = []
    for painted_at, text in bench["paints"]:
        match = re.search(r"(\d+(?:\.\d+)?)\s*Mbps", text)
        if not match:
            continue
        seq = round((float(match.group(1)) * 1e6 - PROBE_BASE_BPS) / PROBE_STEP_BPS)
        if seq in sent:
            freshness.append(painted_at / 1000 - sent[seq])
    frame_ms = bench["messages"]
    rows = [
        ("nodes / dashboards", f"{args.nodes} / {args.dashboards}", ""),
        ("manager CPU, no dashboard (% of a core)", f"{idle_cpu:.0f}", ""),
        ("manager CPU, with dashboards (% of a core)", f"{busy_cpu:.0f}", f"fan-out cost {busy_cpu - idle_cpu:+.0f} points"),
        ("fan-out tick (ms, mean, all dashboards)", f"{tick * 1000:.1f}", f"before dashboards {ticks0 * 1000:.1f}"),
        ("bytes per dashboard per second (kB)", f"{raw_stats['bytes'] / max(1, args.dashboards - 1) / elapsed / 1024:.1f}", ""),
        ("browser update time per frame, p50 / p95 (ms)",
         f"{_q(frame_ms, 0.5):.1f} / {_q(frame_ms, 0.95):.1f}", f"{len(frame_ms)} frames"),
        ("freshness sample->paint, p50 / p95 (s)",
         f"{_q(freshness, 0.5):.2f} / {_q(freshness, 0.95):.2f}", f"target p95 < 1.5 ({len(freshness)} samples)"),
    ]
    width = max(len(r[0]) for r in rows)
    print("\nbilbycast-manager dashboard fan-out benchmark")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>14}  {note}")
    return 0


def _rename_probe(proc: ManagerProcess, node_id: str) -> None:
    import sqlite3

    conn = sqlite3.connect(proc.data_dir / "manager.db")
    conn.execute("UPDATE nodes SET name = 'a-bench-probe' WHERE id = ?", (node_id,))
    conn.commit()
    conn.close()


def _tick_seconds(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", verify=False, timeout=30).text
    match = re.search(r"^bilbycast_dashboard_tick_seconds (\S+)", text, re.M)
    return float(match.group(1)) if match else 0.0


def _q(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


if __name__ == "__main__":
    sys.exit(main())
