"""/api/v1/topology and the caller's saved topology positions (api.md §10.1, §10.2).

Thin: the hub and the drivers give a `NodeView` per node, services.topology infers the rest.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ...db.models import NodeConfig, TopologyPosition
from ...drivers.registry import GENERIC_STYLE
from ...services.errors import ApiError, validation_failed
from ...services.topology import NodeView, build_topology, edge_peer_addresses, flows_of, ip_of
from .nodes import NodeScopedHandler

VIEWS = ("graph", "flow")
MAX_POSITIONS = 2000
MAX_COORDINATE = 1_000_000
MAX_EXT_KEY = 1024


class TopologyHandler(NodeScopedHandler):
    async def get(self) -> None:
        raw = (self.get_query_argument("hide_offline", "false") or "false").lower()
        if raw not in ("true", "false", "1", "0"):
            raise ApiError(400, "invalid_query", "hide_offline must be true or false")
        allowed = self.principal.allowed_node_ids
        snapshots = await self.snapshots()
        # Inference over a large plant takes a while: keep it off the event loop.
        document = await asyncio.get_running_loop().run_in_executor(
            None, _topology, self.app.drivers, snapshots, None if allowed is None else set(allowed),
            raw in ("true", "1"))
        self.write_json(document)

    async def snapshots(self) -> list[dict[str, Any]]:
        """Every node the manager knows (inference needs hidden nodes too, for their addresses).

        Payloads are replaced, never edited, by the hub, so holding references is a snapshot.
        """
        hub = self.app.hub
        lives = list(hub.live.values())
        missing = {live.id for live in lives if live.config is None}
        stored = missing & set(await self.app.db.read(_stored_config_ids)) if missing else set()
        out = []
        for live in lives:
            config = live.config.config if live.config else \
                await hub.configs.last_known(live.id) if live.id in stored else None
            out.append({"id": live.id, "name": live.name, "device_type": live.device_type, "status": live.status,
                        "remote_addr": live.remote_addr, "node_health": live.health, "config": config,
                        "stats": live.stats, "health": live.health_report, "summary": hub.summary_of(live) or {}})
        return out


def _topology(drivers, snapshots: list[dict[str, Any]], visible: set[str] | None, hide_offline: bool) -> dict:
    return build_topology([_node_view(drivers.get(s["device_type"]), s) for s in snapshots],
                          visible, hide_offline)


def _node_view(driver, snap: dict[str, Any]) -> NodeView:
    config, stats, health, summary = snap["config"], snap["stats"], snap["health"], snap["summary"]
    style = {"color": driver.color, "accent": driver.accent, "icon": driver.icon} if driver else GENERIC_STYLE
    addresses = list(driver.addresses(health)) if driver else []
    connection_ip = ip_of(snap["remote_addr"])
    if connection_ip and connection_ip not in addresses:
        addresses.append(connection_ip)
    has_flows = bool(driver and "flows" in driver.features)
    return NodeView(
        id=snap["id"], name=snap["name"], device_type=snap["device_type"], status=snap["status"],
        health=snap["node_health"],
        **style, flows_running=summary.get("flows_running"), bitrate_bps=summary.get("bitrate_bps"),
        target=summary.get("target"),
        ports=driver.topology_ports(config, stats, health) if driver else [], addresses=addresses,
        tunnels=driver.tunnels(config, stats) if driver else [],
        flows=flows_of(config, stats) if has_flows else [],
        peers=edge_peer_addresses(stats) if has_flows else {})


def _stored_config_ids() -> list[str]:
    return [row[0] for row in NodeConfig.select(NodeConfig.node).tuples()]


def key_allowed(key: str, visible: set[str], view: str) -> bool:
    """Graph view: node ids and ext: ids. The flow view also pins its own elements:
    `<node id>/<element>` of a visible node and `tunnel:<id>` (as in the server's flow_layout)."""
    if key in visible or (key.startswith("ext:") and 4 < len(key) <= MAX_EXT_KEY):
        return True
    if view != "flow" or len(key) > MAX_EXT_KEY:
        return False
    if key.startswith("tunnel:"):
        return len(key) > len("tunnel:")
    node_id, slash, element = key.partition("/")
    return bool(slash and element) and node_id in visible


class PositionsHandler(NodeScopedHandler):
    """The caller's pinned cards, per view. Keys are visible node ids or `ext:` ids."""

    def view_arg(self) -> str:
        view = self.get_query_argument("view", "graph") or "graph"
        if view not in VIEWS:
            raise ApiError(400, "invalid_query", "view must be graph or flow")
        return view

    def visible_ids(self) -> set[str]:
        allowed = self.principal.allowed_node_ids
        return {nid for nid in self.app.hub.live if allowed is None or nid in allowed}

    async def get(self) -> None:
        view = self.view_arg()
        rows = await self.app.db.read(_positions_of, self.principal.user_id, view)
        visible = self.visible_ids()
        # A node that left the caller's allowlist (or was deleted) keeps its row but is not shown.
        positions = {key: {"x": x, "y": y} for key, x, y in rows if key_allowed(key, visible, view)}
        self.write_json({"view": view, "positions": positions})

    async def put(self) -> None:
        body = self.json_body()
        unknown = [k for k in body if k not in ("view", "positions")]
        if unknown:
            raise ApiError(422, "unknown_field", f"Unknown field: {unknown[0]}",
                           fields=[{"path": f"/{k}", "message": "unknown field"} for k in unknown])
        view = body.get("view", self.view_arg() if "view" in self.request.query_arguments else "graph")
        if view not in VIEWS:
            raise validation_failed("view must be graph or flow",
                                    [{"path": "/view", "message": "must be graph or flow"}])
        entries = self.check_positions(body.get("positions"), view)
        await self.app.db.write(_replace_positions, self.principal.user_id, view, entries)
        self.no_content()

    def check_positions(self, positions: Any, view: str = "graph") -> list[tuple[str, float, float]]:
        if not isinstance(positions, dict):
            raise validation_failed("positions must be an object",
                                    [{"path": "/positions", "message": "must be an object"}])
        if len(positions) > MAX_POSITIONS:
            raise validation_failed(f"At most {MAX_POSITIONS} positions per view",
                                    [{"path": "/positions", "message": f"more than {MAX_POSITIONS} entries"}])
        visible = self.visible_ids()
        entries, problems = [], []
        for key, value in positions.items():
            path = "/positions/" + key.replace("~", "~0").replace("/", "~1")
            if not key_allowed(key, visible, view):
                problems.append({"path": path, "message": "not a visible node id or ext: id"
                                 + (" (or a flow-view element id of a visible node)" if view == "flow" else "")})
                continue
            if not isinstance(value, dict):
                problems.append({"path": path, "message": "must be an object with x and y"})
                continue
            extra = [k for k in value if k not in ("x", "y")]
            if extra:
                raise ApiError(422, "unknown_field", f"Unknown field: {extra[0]}",
                               fields=[{"path": f"{path}/{k}", "message": "unknown field"} for k in extra])
            coords = []
            for axis in ("x", "y"):
                number = value.get(axis)
                if isinstance(number, bool) or not isinstance(number, (int, float)) \
                        or not math.isfinite(number) or abs(number) > MAX_COORDINATE:
                    problems.append({"path": f"{path}/{axis}",
                                     "message": f"must be a finite number with absolute value ≤ {MAX_COORDINATE}"})
                else:
                    coords.append(float(number))
            if len(coords) == 2:
                entries.append((key, coords[0], coords[1]))
        if problems:
            raise validation_failed(f"{problems[0]['path']}: {problems[0]['message']}", problems)
        return entries

    async def delete(self) -> None:
        view = self.view_arg()
        await self.app.db.write(_replace_positions, self.principal.user_id, view, [])
        self.no_content()


def _positions_of(user_id: str, view: str) -> list[tuple[str, float, float]]:
    query = (TopologyPosition.select(TopologyPosition.key, TopologyPosition.x, TopologyPosition.y)
             .where((TopologyPosition.user_id == user_id) & (TopologyPosition.view == view))
             .order_by(TopologyPosition.key))
    return list(query.tuples())


def _replace_positions(user_id: str, view: str, entries: list[tuple[str, float, float]]) -> None:
    """Runs in the writer's transaction: the old set goes and the new one arrives together."""
    mine = (TopologyPosition.user_id == user_id) & (TopologyPosition.view == view)
    TopologyPosition.delete().where(mine).execute()
    rows = [{"user_id": user_id, "view": view, "key": key, "x": x, "y": y} for key, x, y in entries]
    for start in range(0, len(rows), 200):
        TopologyPosition.insert_many(rows[start:start + 200]).execute()
