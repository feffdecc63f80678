"""`serve --demo N`: a small mixed fleet of simulated nodes in a child process, so a first look
at the dashboard shows a live plant. The nodes are ordinary node records (named demo-…), enrol
with ordinary registration tokens over the real /ws/node, and can be deleted like any other."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .db.models import Node
from .services import nodes as node_service
from .services.audit import Actor

if TYPE_CHECKING:
    from .app import ManagerApp

log = logging.getLogger("bilbycast.demo")


def fleet_plan(count: int) -> list[tuple[str, str]]:
    """Mostly edges, some relays, one appear_x sidecar (from 3 nodes up)."""
    gateways = 1 if count >= 3 else 0
    relays = max(1, count // 5) if count >= 2 else 0
    edges = count - gateways - relays
    plan = [(f"demo-edge-{i + 1:02d}", "edge") for i in range(edges)]
    plan += [(f"demo-relay-{i + 1:02d}", "relay") for i in range(relays)]
    plan += [(f"demo-appear-x-{i + 1:02d}", "appear_x") for i in range(gateways)]
    return plan


def _load_state(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {"version": 1, "nodes": data}
    except (OSError, ValueError):
        return {"version": 1, "nodes": []}


async def prepare_state_file(app: "ManagerApp", count: int) -> Path:
    """Create the demo node records that do not exist yet and a token for each new one."""
    path = app.config.data_dir / "demo-fleet.json"
    state = _load_state(path)
    known = {entry.get("name"): entry for entry in state.get("nodes", []) if isinstance(entry, dict)}
    existing = {row.name: row for row in await app.db.read(lambda: list(Node.select()))}
    entries = []
    for name, device_type in fleet_plan(count):
        entry = known.get(name)
        row = existing.get(name)
        if row is not None and entry is not None and (entry.get("node_id") == row.id or entry.get("registration_token")):
            entries.append(entry)
            continue
        if row is None:
            values = {"name": name, "device_type": device_type, "description": "Simulated demo node"}
            row, token = await app.db.write(node_service.create_row, values, app.vault, Actor.system())
        else:
            row, token = await app.db.write(node_service.regenerate_token, row.id, app.vault, Actor.system())
        app.hub.node_created(row)
        entries.append({"name": name, "device_type": device_type, "registration_token": token,
                        "flows": 2 if device_type == "edge" else 0})
    state["nodes"] = entries
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle)
    return path


def start_fleet(app: "ManagerApp", state_file: Path, port: int) -> subprocess.Popen:
    scheme = "ws" if app.config.behind_proxy else "wss"
    url = f"{scheme}://127.0.0.1:{port}/ws/node"
    if getattr(sys, "frozen", False):
        command = [sys.executable, "simulate"]
    else:
        command = [sys.executable, str(Path(__file__).resolve().parent.parent / "manager.py"), "simulate"]
    command += ["--url", url, "--state-file", str(state_file), "--insecure"]
    if scheme == "ws":
        command.append("--allow-plaintext")
    env = {**os.environ, "BILBYCAST_ALLOW_INSECURE": "1"}
    log.info("demo fleet: %s", " ".join(command[-6:]))
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
