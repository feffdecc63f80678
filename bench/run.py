"""Node-hub benchmark (issue 3 / product.md §13): one command, figures and the baseline ratio.

    .venv/bin/python bench/run.py --nodes 5000 --window 30

1. Seeds N edge records with credentials into a fresh manager database, starts the manager.
2. Starts N simulated edges at once (a reconnect storm) and times until all are online.
3. Measures, over the window, node messages/s handled, event-loop lag p50/p99, manager CPU and
   RSS per connected node.
4. Runs the same load against a bare Tornado WebSocket server that only JSON-parses, in the
   same run, and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from manager_process import ManagerProcess, free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def seed_nodes(proc: ManagerProcess, count: int) -> list[dict]:
    from bilbycast.db.database import Database
    from bilbycast.db.models import Node
    from bilbycast.services.crypto import Vault, new_token
    from bilbycast.timeutil import now_iso

    db = Database(proc.data_dir / "manager.db")
    db.open_sync()
    vault = Vault(bytes.fromhex(proc.master_key))
    creds, stamp = [], now_iso()

    def insert():
        for index in range(count):
            node_id, secret = str(uuid.uuid4()), new_token()
            Node.create(id=node_id, name=f"bench-edge-{index + 1:05d}", device_type="edge",
                        secret_enc=vault.seal_text("node-secret", secret, table="nodes", column="secret_enc",
                                                   row_id=node_id),
                        registered_at=stamp, created_at=stamp, updated_at=stamp)
            creds.append({"node_id": node_id, "node_secret": secret})

    db.write_sync(insert)
    db.close()
    return creds


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def scrape(base_url: str) -> dict[str, float]:
    text = httpx.get(f"{base_url}/metrics", verify=False, timeout=30).text
    out: dict[str, float] = {}
    out["messages"] = sum(float(v) for v in re.findall(r'^bilbycast_node_messages_total\{[^}]*\} (\S+)', text, re.M))
    for name, key in (("online", 'bilbycast_nodes{status="online"}'),
                      ("lag_p50", 'bilbycast_event_loop_lag_seconds{quantile="0.5"}'),
                      ("lag_p99", 'bilbycast_event_loop_lag_seconds{quantile="0.99"}')):
        match = re.search("^" + re.escape(key) + r" (\S+)", text, re.M)
        out[name] = float(match.group(1)) if match else 0.0
    return out


class Load:
    """The simulated fleet, split over several processes (one Python process cannot offer
    5000 TLS messages/s on its own)."""

    def __init__(self, url: str, creds_file: Path, duration: float, procs: int):
        creds = json.loads(creds_file.read_text())
        self.procs = []
        for part in range(procs):
            part_file = creds_file.with_name(f"{creds_file.stem}-{part}.json")
            part_file.write_text(json.dumps(creds[part::procs]))
            self.procs.append(subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "load.py"), "--url", url, "--creds", str(part_file),
                 "--duration", str(duration)], stdout=subprocess.PIPE, text=True))

    def terminate(self) -> None:
        for proc in self.procs:
            proc.terminate()

    def wait(self, timeout: float) -> None:
        for proc in self.procs:
            proc.wait(timeout)


def start_load(url: str, creds_file: Path, duration: float, procs: int = 2) -> Load:
    return Load(url, creds_file, duration, procs)


def measure_manager(args, root: Path) -> dict:
    proc = ManagerProcess(root / "manager")
    proc.setup()
    creds = seed_nodes(proc, args.nodes)
    creds_file = root / "creds.json"
    creds_file.write_text(json.dumps(creds))
    proc.start()
    pid = proc.proc.pid
    time.sleep(2)
    rss_idle = rss_bytes(pid)
    duration = args.storm_timeout + args.settle + args.window + 15
    load = start_load(f"{proc.ws_url}/ws/node", creds_file, duration, args.load_procs)
    started = time.monotonic()
    storm_secs = None
    while time.monotonic() - started < args.storm_timeout:
        time.sleep(1)
        if scrape(proc.base_url)["online"] >= args.nodes:
            storm_secs = time.monotonic() - started
            break
    time.sleep(args.settle)
    before, cpu0, t0 = scrape(proc.base_url), cpu_seconds(pid), time.monotonic()
    time.sleep(args.window)
    after, cpu1, t1 = scrape(proc.base_url), cpu_seconds(pid), time.monotonic()
    rss_loaded = rss_bytes(pid)
    load.terminate()
    load.wait(30)
    proc.stop()
    elapsed = t1 - t0
    return {
        "storm_all_online_secs": storm_secs, "online": after["online"],
        "messages_per_sec": (after["messages"] - before["messages"]) / elapsed,
        "lag_p50_ms": after["lag_p50"] * 1000, "lag_p99_ms": after["lag_p99"] * 1000,
        "cpu_percent": 100 * (cpu1 - cpu0) / elapsed,
        "rss_idle_mb": rss_idle / 2**20, "rss_loaded_mb": rss_loaded / 2**20,
        "rss_per_node_kb": (rss_loaded - rss_idle) / 1024 / max(1, args.nodes),
        "cert": (str(proc.data_dir / "tls" / "cert.pem"), str(proc.data_dir / "tls" / "key.pem")),
        "creds_file": creds_file,
    }


def measure_bare(args, cert: tuple[str, str], creds_file: Path) -> dict:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_server.py"), "--port", str(port),
                               "--cert", cert[0], "--key", cert[1]])
    time.sleep(1.5)
    base = f"https://127.0.0.1:{port}"
    load = start_load(f"wss://127.0.0.1:{port}/ws/node", creds_file, args.storm_timeout + args.window + 15,
                      args.load_procs)
    time.sleep(min(args.storm_timeout, 20) + args.settle)
    count0, cpu0, t0 = httpx.get(f"{base}/count", verify=False).json()["received"], cpu_seconds(server.pid), time.monotonic()
    time.sleep(args.window)
    count1, cpu1, t1 = httpx.get(f"{base}/count", verify=False).json()["received"], cpu_seconds(server.pid), time.monotonic()
    load.terminate()
    load.wait(30)
    server.terminate()
    server.wait(10)
    return {"messages_per_sec": (count1 - count0) / (t1 - t0), "cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--window", type=float, default=30, help="measurement window in seconds")
    parser.add_argument("--settle", type=float, default=10, help="seconds after all are online before measuring")
    parser.add_argument("--storm-timeout", type=float, default=60)
    parser.add_argument("--load-procs", type=int, default=2, help="processes that generate the node load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bilbycast-bench-") as tmp:
        manager = measure_manager(args, Path(tmp))
        bare = measure_bare(args, manager["cert"], manager["creds_file"])
    ratio = manager["messages_per_sec"] / bare["messages_per_sec"] if bare["messages_per_sec"] else 0.0
    rows = [
        ("nodes", args.nodes, ""),
        ("reconnect storm: all online after (s)", _fmt(manager["storm_all_online_secs"]), "target <= 30"),
        ("manager messages/s handled", f"{manager['messages_per_sec']:.0f}", f"offered ~{args.nodes * 1.07:.0f}/s"),
        ("bare Tornado messages/s (same run)", f"{bare['messages_per_sec']:.0f}", ""),
        ("ratio manager / bare", f"{ratio:.2f}", "target >= 0.6"),
        ("event-loop lag p50 (ms)", f"{manager['lag_p50_ms']:.1f}", ""),
        ("event-loop lag p99 (ms)", f"{manager['lag_p99_ms']:.1f}", "target < 50"),
        ("manager CPU (% of one core)", f"{manager['cpu_percent']:.0f}", f"bare: {bare['cpu_percent']:.0f}"),
        ("manager RSS idle / loaded (MB)", f"{manager['rss_idle_mb']:.0f} / {manager['rss_loaded_mb']:.0f}", ""),
        ("RSS per connected node (KB)", f"{manager['rss_per_node_kb']:.1f}", "target <= 50"),
    ]
    width = max(len(r[0]) for r in rows)
    print("\nbilbycast-manager node-hub benchmark")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>12}  {note}")
    return 0


def _fmt(value) -> str:
    return "not reached" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
