"""The relay's state and command catalogue (node-protocol §9), plus the fleet-wide tunnel
registry that lets simulated edges "bind" to simulated relays.

Relay failure acks never carry ``error_code``; ``rotate_secret`` and
``configure_distribution`` acks always carry ``error`` (``null`` on success) — the node layer
builds the acks, this module only raises :class:`CommandError` with the relay's texts.
"""

from __future__ import annotations

import copy
import random
import re
import time
import uuid
from typing import Any

from .wire import RELAY_VERSION, CommandError

REDACTED = "***REDACTED***"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class TunnelRegistry:
    """Which simulated edge is bound to which tunnel leg on which relay address.

    Keys: tunnel id → {direction: (edge node_id, edge remote addr, relay addr)}.  Only
    simulated nodes of one fleet share a registry; a lone node has none.
    """

    def __init__(self) -> None:
        self.binds: dict[str, dict[str, tuple[str, str, str]]] = {}

    def bind(self, tunnel_id: str, direction: str, node_id: str, remote_addr: str,
             relay_addr: str) -> None:
        self.binds.setdefault(tunnel_id, {})[direction] = (node_id, remote_addr, relay_addr)

    def unbind(self, tunnel_id: str, node_id: str) -> None:
        sides = self.binds.get(tunnel_id)
        if not sides:
            return
        for direction in [d for d, v in sides.items() if v[0] == node_id]:
            del sides[direction]
        if not sides:
            del self.binds[tunnel_id]

    def unbind_node(self, node_id: str) -> None:
        for tid in list(self.binds):
            self.unbind(tid, node_id)

    def both_sides(self, tunnel_id: str) -> bool:
        sides = self.binds.get(tunnel_id) or {}
        return "ingress" in sides and "egress" in sides

    def sides_at(self, relay_addrs: set[str]) -> dict[str, dict[str, tuple[str, str, str]]]:
        out: dict[str, dict[str, tuple[str, str, str]]] = {}
        for tid, sides in self.binds.items():
            mine = {d: v for d, v in sides.items() if v[2] in relay_addrs}
            if mine:
                out[tid] = mine
        return out


def _need(action: dict, key: str) -> Any:
    value = action.get(key)
    if value is None or value == "":
        raise CommandError(f"Missing {key}")
    return value


def _uuid(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise CommandError(f"Invalid UUID: {value}") from None


class RelayModel:
    def __init__(self, *, name: str, urls: list[str], manager: dict, index: int = 0,
                 registry: TunnelRegistry | None = None, rng: random.Random | None = None,
                 accept_self_signed_cert: bool = False):
        self.rng = rng or random.Random()
        self.registry = registry
        self.software_version = RELAY_VERSION
        public = f"{name}.sim.invalid:4433"
        #: the config as read at process start (get_config returns this, §9.7)
        self.startup: dict = {
            "quic_addr": "0.0.0.0:4433", "public_quic_addr": public,
            "udp_relay_enabled": True, "api_addr": "0.0.0.0:4480",
            "api_token": f"relay-api-token-{index:04d}", "require_bind_auth": False,
            "max_connections_per_ip": 64, "max_tunnels_per_connection": 100,
            "manager": dict({"enabled": True, "urls": list(urls),
                             "accept_self_signed_cert": accept_self_signed_cert},
                            **{k: v for k, v in manager.items() if v}),
        }
        self.authorized: dict[str, dict] = {}
        self.closed: set[str] = set()
        self.kicked: dict[str, float] = {}       # edge id → until (the edge comes back)
        self.distribution: dict = {}

    @property
    def relay_addrs(self) -> set[str]:
        return {self.startup["public_quic_addr"], self.startup["quic_addr"]}

    # ------------------------------------------------------------------ live state
    def _binds(self) -> dict[str, dict[str, tuple[str, str, str]]]:
        if self.registry is None:
            return {}
        binds = self.registry.sides_at(self.relay_addrs)
        out = {}
        for tid, sides in binds.items():
            if tid in self.closed:
                continue
            if self.startup["require_bind_auth"] and tid not in self.authorized:
                continue
            sides = {d: v for d, v in sides.items()
                     if self.kicked.get(v[0], 0.0) <= time.monotonic()}
            if sides:
                out[tid] = sides
        return out

    def tunnel_items(self) -> list[dict]:
        binds = self._binds()
        items = []
        for tid in list(dict.fromkeys(list(self.authorized) + list(binds))):
            sides = binds.get(tid, {})
            ing, egr = sides.get("ingress"), sides.get("egress")
            status = ("active" if ing and egr else "waiting_egress" if ing
                      else "waiting_ingress" if egr else "empty")
            items.append({"tunnel_id": tid, "protocol": "udp", "status": status,
                          "ingress_edge_id": ing[0] if ing else None,
                          "egress_edge_id": egr[0] if egr else None,
                          "ingress_remote_addr": ing[1] if ing else None,
                          "egress_remote_addr": egr[1] if egr else None})
        return items

    def edges(self) -> list[dict]:
        seen: dict[str, str] = {}
        for sides in self._binds().values():
            for node_id, addr, _relay in sides.values():
                seen.setdefault(node_id, addr)
        return [{"edge_id": k, "remote_addr": v} for k, v in sorted(seen.items())]

    # ------------------------------------------------------------------ get_config
    def config_response(self) -> dict:
        cfg = copy.deepcopy(self.startup)
        if cfg.get("api_token"):
            cfg["api_token"] = REDACTED
        manager = cfg.get("manager")
        if isinstance(manager, dict) and manager.get("node_secret"):
            manager["node_secret"] = REDACTED
        return cfg

    # ------------------------------------------------------------------ commands
    def execute(self, action: dict, telemetry=None) -> Any:
        kind = action.get("type")
        if kind == "authorize_tunnel":
            tid = _uuid(_need(action, "tunnel_id"))
            ingress = _need(action, "ingress_token")
            egress = _need(action, "egress_token")
            self.authorized[tid] = {"ingress_token": ingress, "egress_token": egress}
            self.closed.discard(tid)
            return None
        if kind in ("revoke_tunnel", "close_tunnel"):
            tid = _uuid(_need(action, "tunnel_id"))
            self.authorized.pop(tid, None)
            if kind == "close_tunnel":
                self.closed.add(tid)
            return None
        if kind == "disconnect_edge":
            # the edge's tunnel legs reconnect on their own a few seconds later
            self.kicked[str(_need(action, "edge_id"))] = time.monotonic() + 5.0
            return None
        if kind == "list_tunnels":
            items = self.tunnel_items()
            return [telemetry.tunnel_item(i) for i in items] if telemetry else items
        if kind == "list_edges":
            return self.edges()
        if kind == "list_udp_sessions":
            return []
        if kind == "close_udp_session":
            _uuid(_need(action, "tunnel_id"))
            return None
        if kind == "configure_distribution":
            secret = action.get("token_secret")
            if secret is not None and not (isinstance(secret, str) and _HEX64.match(secret)):
                raise CommandError("token_secret must be 64 hex characters")
            base = action.get("public_base_url")
            if base is not None and not str(base).startswith(("http://", "https://")):
                raise CommandError("public_base_url must start with http:// or https://")
            for src in action.get("cascade_sources") or []:
                if not isinstance(src, dict) or not src.get("upstream_whep_url") \
                        or not src.get("local_stream"):
                    raise CommandError("cascade_sources entries need upstream_whep_url and "
                                       "local_stream")
            self.distribution.update({k: v for k, v in action.items() if k != "type"})
            return None
        raise CommandError(f"Unknown relay command: {kind}")
