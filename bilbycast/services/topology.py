"""Topology inference (product.md §5.3, api.md §10.1) over plain snapshots of the nodes.

`build_topology` turns `NodeView`s (what the hub and the drivers know about each node) into the
api.md §10.1 document, with the deterministic flow-view positions of `signal_flow_layout`
(services/topology_layout.py, re-exported here) under the extra key `flow_layout`.
Both are pure: the same nodes, in any order, give the same document (apart from
`generated_at`). Nothing here imports the web framework or touches the database.

Inference runs over every node the manager knows, then hides what the caller may not see: a
link that leads to a hidden node keeps its drawn end and shows the hidden end as an external
endpoint with an address only (api.md §3.2, §10.1), so a restricted user sees the same wires an
administrator sees, without the hidden node's id, name or ports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import urlsplit

from ..drivers.netaddr import SocketAddr, parse_ip, parse_socket_addr
from ..drivers.payload import as_dict, as_dicts, as_int, as_str, rfc3339_ms
from .topology_layout import signal_flow_layout

__all__ = ["NodeView", "build_topology", "signal_flow_layout", "flows_of", "edge_peer_addresses",
           "endpoint_of"]

PORT_KEYS = ("id", "direction", "protocol", "label", "address", "role", "entity_id", "flow_id", "active",
             "state", "bitrate_bps")
BIND_ROLES = {"listener", "receiver", "server"}
DIAL_ROLES = {"caller", "sender", "publisher", "forwarder"}
URL_PORTS = {"rtmp": 1935, "rtmps": 443, "rtsp": 554, "rtsps": 322, "http": 80, "https": 443,
             "ws": 80, "wss": 443}
FLOW_HEALTH = {"Healthy": "healthy", "Warning": "warning", "Error": "critical", "Critical": "critical"}
IDLE_STATES = {"", "idle", "unbound", "down", "standby", "unknown", "stopped", "error", "connect_failed"}
TUNNEL_STATE_ORDER = ("down", "unknown", "connecting", "waiting", "ready")
RELAY_STATUS = {"active": "ready", "waiting_egress": "waiting", "waiting_ingress": "waiting", "empty": "down"}


@dataclass
class NodeView:
    """What the topology needs to know about one node (built by the API layer)."""

    id: str
    name: str
    device_type: str
    status: str
    health: str | None = None
    color: str = "#94a3b8"
    accent: str | None = None
    icon: str = "generic"
    flows_running: int | None = None
    bitrate_bps: int | float | None = None
    target: dict | None = None
    ports: list[dict] = field(default_factory=list)       # driver.topology_ports()
    addresses: list[str] = field(default_factory=list)    # own IPs: interfaces, api_addr, manager connection
    tunnels: list[dict] = field(default_factory=list)     # driver.tunnels(): edge ends or relay reports
    flows: list[dict] = field(default_factory=list)       # flows_of(): {id, name, running, health, bitrate_bps}
    peers: dict[str, list[str]] = field(default_factory=dict)  # port id -> connected peers from live stats


# -- helpers the API layer uses to fill NodeViews ----------------------------------------------

def flows_of(config: Any, stats: Any) -> list[dict]:
    """Configured flows (config order) merged with their live state; stats-only flows after."""
    live = {f["flow_id"]: f for f in as_dicts(as_dict(stats).get("flows")) if isinstance(f.get("flow_id"), str)}
    out, seen = [], set()
    entries = [(f.get("id"), f.get("name")) for f in as_dicts(as_dict(config).get("flows"))]
    entries += [(fid, f.get("flow_name")) for fid, f in live.items()]
    for fid, name in entries:
        if not isinstance(fid, str) or fid in seen:
            continue
        seen.add(fid)
        fstats = live.get(fid, {})
        running = fstats.get("state") == "Running"
        out.append({"id": fid, "name": name if isinstance(name, str) else as_str(fstats.get("flow_name")) or fid,
                    "running": running, "health": FLOW_HEALTH.get(as_str(fstats.get("health")) or ""),
                    "bitrate_bps": (as_int(as_dict(fstats.get("input")).get("bitrate_bps")) or 0) if running else 0})
    return out


def edge_peer_addresses(stats: Any) -> dict[str, list[str]]:
    """Connected peers named by edge stats: an SRT listener's caller, an RTMP or WHIP publisher.

    The drivers' ports carry configured addresses only, so the peer_address rule reads them here.
    """
    peers: dict[str, list[str]] = {}
    for flow in as_dicts(as_dict(stats).get("flows")):
        source = as_dict(flow.get("input"))
        active = as_str(flow.get("active_input_id"))
        kind, mode = as_str(source.get("input_type")), as_str(source.get("mode"))
        if active and (kind in ("rtmp", "webrtc") or (kind == "srt" and mode == "listener")):
            found = [source[k] for k in ("peer_addr", "remote_addr", "publisher_addr")
                     if isinstance(source.get(k), str)]
            if found:
                peers[f"in:{active}"] = found[:1]
        for out in as_dicts(flow.get("outputs")):
            listening = out.get("output_type") == "srt" and out.get("mode") == "listener"
            if listening and isinstance(out.get("output_id"), str):
                found = [out[k] for k in ("peer_addr", "remote_addr") if isinstance(out.get(k), str)]
                if found:
                    peers[f"out:{out['output_id']}"] = found[:1]
    return peers


def endpoint_of(text: Any) -> SocketAddr | None:
    """`ip:port`, `[v6]:port`, `host:port`, or the host and port of a URL (default port by scheme)."""
    if not isinstance(text, str) or not text or len(text) > 2048:
        return None
    return _endpoint(text)


@lru_cache(maxsize=65536)   # a plant repeats the same few listener addresses thousands of times
def _endpoint(text: str) -> SocketAddr | None:
    if "://" not in text:
        return parse_socket_addr(text)
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port or URL_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not host or port is None:
        return None
    ip = parse_ip(host)
    return parse_socket_addr(f"[{host}]:{port}" if ip is not None and ip.version == 6 else f"{host}:{port}")


@lru_cache(maxsize=65536)
def _ip(text: str) -> Any:
    return parse_ip(text)


# -- internal model ----------------------------------------------------------------------------

def _host_key(addr: SocketAddr) -> Any:
    return addr.ip if addr.ip is not None else addr.host.lower()


@dataclass(eq=False)
class _Port:
    node: NodeView
    data: dict                       # the api.md port object
    raw: dict                        # what the driver returned (tunnel legs, peer ids)
    dial: SocketAddr | None = None   # the address this port connects to
    bind: SocketAddr | None = None   # the address this port listens on
    emits: bool = False              # on its local wire, the signal leaves through this port

    @property
    def ref(self) -> str:
        return f"{self.node.id}/{self.data['id']}"


@dataclass(frozen=True)
class _Ext:
    protocol: str
    address: str
    multicast: bool = False
    scope: str | None = None         # loopback addresses are private to one node

    @property
    def id(self) -> str:
        if self.multicast:
            return f"ext:multicast:{self.address}"
        return f"ext:{self.protocol}:{self.address}" + (f"@{self.scope}" if self.scope else "")


@dataclass
class _End:
    node: NodeView | None = None
    port: _Port | None = None
    ext: _Ext | None = None
    alt: _Ext | None = None          # how this end is shown when its node is hidden

    @property
    def ref(self) -> str:
        if self.ext is not None:
            return self.ext.id
        return self.port.ref if self.port is not None else self.node.id  # type: ignore[union-attr]


@dataclass
class _Link:
    kind: str
    protocol: str
    label: str
    inferred_by: str
    src: _End
    dst: _End


def _ext_for(protocol: str, addr: SocketAddr | None, node: NodeView | None) -> _Ext | None:
    if addr is None or addr.is_wildcard:
        return None
    scope = node.id if addr.is_loopback and node is not None else None
    return _Ext(protocol or "unknown", str(addr), multicast=addr.is_multicast, scope=scope)


def _normalise_port(node: NodeView, raw: Any) -> _Port | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    data = {key: raw.get(key) for key in PORT_KEYS}
    data["protocol"] = as_str(raw.get("protocol")) or "unknown"
    data["direction"] = "out" if raw.get("direction") == "out" else "in"
    if not isinstance(data["address"], str):
        data["address"] = None
    tunnel_id = as_str(raw.get("tunnel_id"))
    if tunnel_id:
        data["tunnel_id"] = tunnel_id
        if raw.get("leg") in ("ingress", "egress"):
            # Relay legs: the edge bound as `egress` feeds the tunnel, the one bound as `ingress`
            # receives it (node-protocol.md §7.6), so traffic enters the relay on the egress leg.
            data["direction"] = "in" if raw["leg"] == "egress" else "out"
            data["label"] = f"{data['protocol'].upper()} {data['direction'].upper()}"
    port = _Port(node, data, raw)
    role = as_str(raw.get("role")) or ""
    addr = endpoint_of(data["address"])
    if role in BIND_ROLES or (role == "rendezvous" and data["direction"] == "in"):
        port.bind = addr
    elif role in DIAL_ROLES or role == "rendezvous":
        port.dial = addr
    # Tunnel ends are the other way round on their local wire: the listener takes traffic in.
    port.emits = (data["direction"] == "out") != bool(tunnel_id)
    return port


_PROBE = NodeView("", "", "", "")


class _BindIndex:
    """Listening ports by the addresses that reach them (wildcards expand to the node's IPs)."""

    def __init__(self) -> None:
        self.exact: dict[tuple, list[tuple[int, _Port]]] = {}

    def add(self, port: _Port, node_ips: Iterable[Any]) -> None:
        addr = port.bind
        if addr is None or addr.port == 0 or addr.is_multicast:
            return
        if addr.is_wildcard:
            for ip in node_ips:
                self.exact.setdefault((ip, addr.port), []).append((1, port))
            self.exact.setdefault(("wildcard", port.node.id, addr.port), []).append((1, port))
        else:
            self.exact.setdefault((_host_key(addr), addr.port), []).append((0, port))

    def candidates(self, dial: _Port) -> list[tuple[int, _Port]]:
        addr = dial.dial
        if addr is None or addr.port == 0 or addr.is_wildcard or addr.is_multicast:
            return []
        found = list(self.exact.get((_host_key(addr), addr.port), []))
        if addr.is_loopback:   # loopback reaches only the dialling node itself
            found = [c for c in found if c[1].node.id == dial.node.id]
            found += self.exact.get(("wildcard", dial.node.id, addr.port), [])
        return [c for c in found if c[1] is not dial and c[1].emits != dial.emits]


class _Builder:
    def __init__(self, nodes: list[NodeView], drawn: set[str]) -> None:
        self.nodes = nodes
        self.by_id = {n.id: n for n in nodes}
        self.order = {n.id: i for i, n in enumerate(nodes)}
        self.drawn = drawn
        self.ports: dict[str, list[_Port]] = {}
        self.ips: dict[str, list[Any]] = {}
        self.owners: dict[Any, list[str]] = {}
        self.index = _BindIndex()
        self.relay_index = _BindIndex()
        self.links: list[_Link] = []
        self.pairs: set[tuple[str, str]] = set()
        self.dialled: set[int] = set()       # id() of ports whose dial address found its link
        self.fed: set[int] = set()           # id() of ports that already have an incoming wire
        self.sent: set[int] = set()          # id() of ports that already have an outgoing wire
        for node in nodes:
            ports, seen = [], set()
            for raw in node.ports if isinstance(node.ports, list) else []:
                port = _normalise_port(node, raw)
                if port is not None and port.data["id"] not in seen:
                    seen.add(port.data["id"])
                    ports.append(port)
            self.ports[node.id] = ports
            ips = []
            for text in node.addresses:
                ip = _ip(text) if isinstance(text, str) else None
                if ip is not None and not ip.is_loopback and not ip.is_unspecified and ip not in ips:
                    ips.append(ip)
            self.ips[node.id] = ips
            for ip in ips:
                self.owners.setdefault(ip, []).append(node.id)
            for port in ports:
                self.index.add(port, ips)
                if node.icon == "relay":
                    self.relay_index.add(port, ips)

    # -- links -------------------------------------------------------------------------------
    def add(self, kind: str, protocol: str, label: str, rule: str, src: _End, dst: _End) -> bool:
        pair = (src.ref, dst.ref)
        if pair in self.pairs or src.ref == dst.ref:
            return False
        self.pairs.add(pair)
        self.links.append(_Link(kind, protocol, label, rule, src, dst))
        if dst.port is not None:
            self.fed.add(id(dst.port))
        if src.port is not None:
            self.sent.add(id(src.port))
        return True

    def node_alt(self, node: NodeView, protocol: str) -> _Ext | None:
        ips = self.ips.get(node.id) or []
        return _Ext(protocol, str(ips[0])) if ips else None

    def listener_alt(self, port: _Port) -> _Ext | None:
        """A hidden listener shows as its address; a wildcard one as its node's first IP and port."""
        addr, ips = port.bind, self.ips.get(port.node.id) or []
        if addr is not None and addr.is_wildcard and ips:
            addr = parse_socket_addr(f"[{ips[0]}]:{addr.port}" if ips[0].version == 6 else f"{ips[0]}:{addr.port}")
        return _ext_for(port.data["protocol"], addr, port.node)

    def port_end(self, port: _Port, alt: _Ext | None) -> _End:
        return _End(node=port.node, port=port, alt=alt)

    def tunnel_port(self, node: NodeView | None, tunnel_id: str, leg: str | None = None) -> _Port | None:
        if node is None:
            return None
        return next((p for p in self.ports[node.id] if p.data.get("tunnel_id") == tunnel_id
                     and (leg is None or p.raw.get("leg") == leg)), None)

    # -- rules 1 and 2: tunnels ----------------------------------------------------------------
    def tunnels(self) -> list[dict]:
        edge_ends: dict[str, list[tuple[NodeView, dict]]] = {}
        reports: dict[str, list[tuple[NodeView, dict]]] = {}
        for node in self.nodes:
            for end in as_dicts(node.tunnels):
                tid = as_str(end.get("id"))
                if not tid:
                    continue
                if "ingress_edge_id" in end or "egress_edge_id" in end:
                    reports.setdefault(tid, []).append((node, end))
                elif end.get("direction") in ("ingress", "egress"):
                    edge_ends.setdefault(tid, []).append((node, end))
        return [self.tunnel(tid, edge_ends.get(tid, []), reports.get(tid, []))
                for tid in sorted(set(edge_ends) | set(reports))]

    def tunnel(self, tid: str, ends: list[tuple[NodeView, dict]], reports: list[tuple[NodeView, dict]]) -> dict:
        ing = next(((n, e) for n, e in ends if e.get("direction") == "ingress"), None)
        egr = next(((n, e) for n, e in ends if e.get("direction") == "egress"), None)
        report = min(reports, key=lambda r: (r[1].get("state") != "active", self.order[r[0].id]), default=None)
        first = egr or ing
        proto = as_str(first[1].get("protocol")) if first else as_str(report[1].get("protocol")) if report else None
        proto = proto or "tcp"
        mode = as_str(first[1].get("mode")) if first else "relay"
        relay_node: NodeView | None = report[0] if report else None
        if report:
            relay, item = report
            for leg in ("egress", "ingress"):
                edge_id = as_str(item.get(f"{leg}_edge_id"))
                if not edge_id:
                    continue
                edge = self.by_id.get(edge_id)
                mine = ing if leg == "ingress" else egr
                remote = _ext_for(f"{proto}-tunnel", endpoint_of(item.get(f"{leg}_remote_addr")), None)
                dialled = mine[1] if mine and mine[0].id == edge_id else {}
                relay_addr = next(iter(self.relay_dials(dialled)), None)
                relay_port = self.tunnel_port(relay, tid, leg)
                relay_end = _End(node=relay, port=relay_port,
                                 alt=_ext_for(f"{proto}-tunnel", endpoint_of(relay_addr), None))
                if edge is not None:
                    edge_end = _End(node=edge, port=self.tunnel_port(edge, tid), alt=remote)
                elif remote is not None:
                    edge_end = _End(ext=remote)
                else:
                    continue
                src, dst = (edge_end, relay_end) if leg == "egress" else (relay_end, edge_end)
                self.add("tunnel", proto, f"{proto.upper()} via Relay", "relay_pairing", src, dst)
        elif ing and egr:
            label = f"{proto.upper()} via Relay" if mode == "relay" else f"{proto.upper()} Tunnel"
            src_port, dst_port = self.tunnel_port(egr[0], tid), self.tunnel_port(ing[0], tid)
            self.add("tunnel", proto, label, "tunnel_id",
                     _End(node=egr[0], port=src_port, alt=self.node_alt(egr[0], f"{proto}-tunnel")),
                     _End(node=ing[0], port=dst_port, alt=self.node_alt(ing[0], f"{proto}-tunnel")))
            relay_node = (self.relay_for(egr[1]) or self.relay_for(ing[1])) if mode == "relay" else None
        elif first:
            relay_node = self.single_end(tid, proto, mode, *first)
        return {"tid": tid, "ends": {"ingress": ing, "egress": egr}, "report": report, "relay": relay_node,
                "protocol": proto, "mode": mode}

    def relay_dials(self, end: dict) -> list[str]:
        addrs = [as_str(end.get("active_relay_addr"))]
        addrs += [a for a in end.get("relay_addrs") or [] if isinstance(a, str)]
        return [a for i, a in enumerate(addrs) if a and a not in addrs[:i]]

    def relay_for(self, end: dict) -> NodeView | None:
        found = self.relay_port_for(end)
        return found[0].node if found else None

    def relay_port_for(self, end: dict) -> tuple[_Port, str] | None:
        for text in self.relay_dials(end):
            # An edge dials its relay's QUIC (or UDP) listener whichever way its traffic goes.
            probe = _Port(_PROBE, {"id": ""}, {}, dial=endpoint_of(text), emits=True)
            hits = self.relay_index.candidates(probe)
            if hits:
                best = min(hits, key=lambda c: (c[0], self.order[c[1].node.id], c[1].data["id"]))
                return best[1], text
        return None

    def single_end(self, tid: str, proto: str, mode: str | None, node: NodeView, end: dict) -> NodeView | None:
        """One end only: draw it to its relay (or to the relay's or peer's address)."""
        port = self.tunnel_port(node, tid)
        protocol = f"{proto}-tunnel"
        mine = _End(node=node, port=port, alt=self.node_alt(node, protocol))
        outward = end.get("direction") == "egress"
        relay_node = None
        if mode == "relay":
            found = self.relay_port_for(end)
            if found:
                relay_port, text = found
                relay_node = relay_port.node
                other = _End(node=relay_node, port=relay_port, alt=_ext_for(protocol, endpoint_of(text), None))
            else:
                dials = self.relay_dials(end)
                ext = _ext_for(protocol, endpoint_of(dials[0]), None) if dials else None
                other = _End(ext=ext) if ext else None
        else:
            ext = _ext_for(protocol, endpoint_of(end.get("peer_addr")), None) if outward else None
            other = _End(ext=ext) if ext else None
        if other is not None:
            label = f"{proto.upper()} via Relay" if mode == "relay" else f"{proto.upper()} Tunnel"
            src, dst = (mine, other) if outward else (other, mine)
            self.add("tunnel", proto, label, "config_address", src, dst)
        return relay_node

    # -- rule 3: configured addresses ------------------------------------------------------------
    def config_addresses(self) -> None:
        for node in self.nodes:
            for port in self.ports[node.id]:
                hits = self.index.candidates(port)
                if not hits:
                    continue
                _, target = min(hits, key=lambda c: (c[0], self.order[c[1].node.id], c[1].data["id"]))
                protocol = port.data["protocol"]
                dial_end = self.port_end(port, self.dialler_alt(port, target))
                bind_end = self.port_end(target, _ext_for(protocol, port.dial, None))
                src, dst = (dial_end, bind_end) if port.emits else (bind_end, dial_end)
                sender = src.port.data["protocol"] if src.port else protocol
                self.add("flow", sender, sender.upper(), "config_address", src, dst)
                self.dialled.add(id(port))

    def dialler_alt(self, dialler: _Port, listener: _Port) -> _Ext | None:
        """A hidden dialler shows as the peer the listener saw, else as its node's first IP."""
        for text in listener.node.peers.get(listener.data["id"], []):
            peer = endpoint_of(text)
            if peer is not None and peer.ip in self.ips[dialler.node.id]:
                return _Ext(dialler.data["protocol"], str(peer))
        return self.node_alt(dialler.node, dialler.data["protocol"])

    # -- rule 4: live peers ------------------------------------------------------------------------
    def peer_addresses(self) -> None:
        for node in self.nodes:
            for port in self.ports[node.id]:
                for text in node.peers.get(port.data["id"], []) if port.bind is not None else []:
                    self.peer(port, text)

    def peer(self, listener: _Port, text: str) -> None:
        peer = endpoint_of(text)
        if peer is None or peer.ip is None or peer.is_multicast:
            return
        protocol = listener.data["protocol"]
        owner_ids = [listener.node.id] if peer.ip.is_loopback else self.owners.get(peer.ip, [])
        owner = min((self.by_id[i] for i in owner_ids), key=lambda n: self.order[n.id], default=None)
        peer_ext = _Ext(protocol, str(peer))
        if owner is None:
            if id(listener) in (self.sent if listener.emits else self.fed):
                return   # already wired to a known node; the peer is that node behind NAT
            end = _End(ext=peer_ext)
        else:
            outputs = [p for p in self.ports[owner.id] if p.dial is not None and p.emits != listener.emits]
            outputs.sort(key=lambda p: (p.dial.port != listener.bind.port, p.data["protocol"] != protocol,
                                        id(p) in self.dialled, p.data["id"]))
            end = _End(node=owner, port=outputs[0] if outputs else None, alt=peer_ext)
        mine = self.port_end(listener, self.listener_alt(listener))
        src, dst = (mine, end) if listener.emits else (end, mine)
        self.add("flow", protocol, protocol.upper(), "peer_address", src, dst)

    # -- rules 5 and 6: multicast groups, then everything left over ---------------------------------
    def leftovers(self) -> None:
        for node in self.nodes:
            for port in self.ports[node.id]:
                addr = port.dial if port.dial is not None else port.bind if port.bind is not None \
                    and port.bind.is_multicast else None
                if addr is None or (id(port) in self.dialled and not addr.is_multicast):
                    continue
                ext = _ext_for(port.data["protocol"], addr, node)
                if ext is None:
                    continue
                mine = self.port_end(port, None)
                src, dst = (mine, _End(ext=ext)) if port.emits else (_End(ext=ext), mine)
                protocol = port.data["protocol"]
                self.add("flow", protocol, protocol.upper(), "multicast_group" if ext.multicast else "config_address",
                         src, dst)

    # -- hiding and output -----------------------------------------------------------------------
    def visible_end(self, end: _End) -> _End | None:
        if end.ext is not None or (end.node is not None and end.node.id in self.drawn):
            return end
        return _End(ext=end.alt) if end.alt is not None and not end.alt.multicast else None


def _end_json(end: _End) -> dict:
    return {"node_id": end.node.id if end.node else None, "external_id": end.ext.id if end.ext else None,
            "port_id": end.port.data["id"] if end.port else None}


def _flow_health(end: _End) -> str | None:
    if end.node is None:
        return None
    flow_id = end.port.data.get("flow_id") if end.port else None
    flow = next((f for f in end.node.flows if f.get("id") == flow_id), None) if flow_id else None
    return (flow or {}).get("health") or end.node.health


def _link_json(link: _Link) -> dict:
    src, dst = link.src, link.dst
    sender = src.port.data.get("bitrate_bps") if src.port else None
    receiver = dst.port.data.get("bitrate_bps") if dst.port else None
    bitrate = receiver if src.ext is not None or sender is None else sender
    if isinstance(bitrate, bool) or not isinstance(bitrate, (int, float)):
        bitrate = None
    if bitrate is not None:
        flowing = bitrate > 0
    else:
        flowing = any(e.port is not None and e.node is not None and e.node.status == "online"
                      and e.port.data.get("active") and str(e.port.data.get("state") or "").lower() not in IDLE_STATES
                      for e in (src, dst))
    health = "idle"
    if flowing:
        health = (_flow_health(dst) if dst.ext is None else _flow_health(src)) or "healthy"
        health = health if health in ("healthy", "warning", "critical") else "healthy"
    return {"id": f"link:{src.ref}>{dst.ref}", "kind": link.kind, "protocol": link.protocol, "label": link.label,
            "from": _end_json(src), "to": _end_json(dst), "bitrate_bps": bitrate, "health": health,
            "inferred_by": link.inferred_by}


def _node_json(node: NodeView, ports: list[_Port]) -> dict:
    return {"id": node.id, "name": node.name, "device_type": node.device_type, "status": node.status,
            "health": node.health, "color": node.color, "accent": node.accent, "icon": node.icon,
            "flows_running": node.flows_running, "bitrate_bps": node.bitrate_bps, "target": node.target,
            "ports": [dict(p.data) for p in ports],
            "flows": [{"id": f.get("id"), "name": f.get("name"), "state": "running" if f.get("running") else "idle",
                       "health": f.get("health"), "bitrate_bps": f.get("bitrate_bps")} for f in node.flows]}


def _tunnel_json(info: dict, drawn: set[str]) -> dict | None:
    report = info["report"]
    item = report[1] if report else {}
    sides: dict[str, dict] = {}
    found = []
    for side in ("ingress", "egress"):
        end = info["ends"][side]
        node_id = end[0].id if end else as_str(item.get(f"{side}_edge_id"))
        shown = node_id if node_id in drawn else None
        sides[side] = {"node_id": shown, "local_addr": as_str(end[1].get("local_addr")) if end and shown else None}
        if shown:
            found.append(end[1] if end else None)
    relay = info["relay"]
    relay_id = relay.id if relay is not None and relay.id in drawn else None
    if not found and relay_id is None:
        return None
    edge_ends = [e for e in found if e]
    states = [as_str(e.get("state")) or "unknown" for e in edge_ends]
    if states:
        state = min(states, key=lambda s: TUNNEL_STATE_ORDER.index(s) if s in TUNNEL_STATE_ORDER else 1)
    else:
        state = RELAY_STATUS.get(as_str(item.get("state")) or "", "unknown")
    names = [as_str(e.get("name")) for e in edge_ends if as_str(e.get("name"))]
    return {"id": info["tid"], "name": names[0] if names else None, "protocol": info["protocol"],
            "mode": info["mode"] or "relay", "state": state, "ingress": sides["ingress"], "egress": sides["egress"],
            "relay_node_id": relay_id,
            "bitrate_bps": max([as_int(e.get("bitrate_bps")) or 0 for e in edge_ends], default=0),
            "matched": len(found) == 2}


def _ext_json(ext: _Ext, roles: set[str]) -> dict:
    if ext.multicast:
        return {"id": ext.id, "address": ext.address, "protocol": ext.protocol, "role": "multicast",
                "label": f"Multicast {ext.address}"}
    role = next(iter(roles)) if len(roles) == 1 else "peer"
    word = {"source": "Source", "destination": "Destination"}.get(role, "Peer")
    return {"id": ext.id, "address": ext.address, "protocol": ext.protocol, "role": role,
            "label": f"{ext.protocol.upper()} {word}"}


def build_topology(nodes: list[NodeView], visible: set[str] | None, hide_offline: bool, *,
                   now: datetime | None = None) -> dict:
    """The api.md §10.1 document plus `flow_layout`; `visible` None means every node."""
    ordered = sorted(nodes, key=lambda n: (n.name.lower(), n.name, n.id))
    drawn = {n.id for n in ordered if (visible is None or n.id in visible)
             and (not hide_offline or n.status == "online")}
    builder = _Builder(ordered, drawn)
    tunnel_infos = builder.tunnels()
    builder.config_addresses()
    builder.peer_addresses()
    builder.leftovers()

    links: dict[str, dict] = {}
    externals: dict[str, tuple[_Ext, set[str]]] = {}
    for link in builder.links:
        src, dst = builder.visible_end(link.src), builder.visible_end(link.dst)
        if src is None or dst is None or (src.ext is not None and dst.ext is not None):
            continue
        shown = _link_json(_Link(link.kind, link.protocol, link.label, link.inferred_by, src, dst))
        if shown["id"] in links:
            continue
        links[shown["id"]] = shown
        for end, role in ((src, "source"), (dst, "destination")):
            if end.ext is not None:
                externals.setdefault(end.ext.id, (end.ext, set()))[1].add(role)

    node_docs = [_node_json(n, builder.ports[n.id]) for n in ordered if n.id in drawn]
    tunnels = [t for t in (_tunnel_json(info, drawn) for info in tunnel_infos) if t is not None]
    document = {
        "generated_at": rfc3339_ms(now or datetime.now().astimezone()),
        "nodes": node_docs,
        "external": [_ext_json(ext, roles) for _, (ext, roles) in sorted(externals.items())],
        "links": [links[key] for key in sorted(links)],
        "tunnels": tunnels,
        "counts": {"online": sum(1 for n in node_docs if n["status"] == "online"), "nodes": len(node_docs),
                   "external": len(externals), "flows": sum(len(n["flows"]) for n in node_docs),
                   "links": len(links)},
    }
    document["flow_layout"] = signal_flow_layout(document)
    return document


def ip_of(text: Any) -> str | None:
    """The IP of `ip`, `ip:port` or `[v6]:port` (the manager connection's address)."""
    addr = parse_socket_addr(text, allow_hostname=False) if isinstance(text, str) else None
    ip = addr.ip if addr is not None else parse_ip(text) if isinstance(text, str) else None
    if not isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)) or ip.is_loopback or ip.is_unspecified:
        return None
    return str(ip)
