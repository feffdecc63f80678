"""`relay` — Relay Server (product.md §7.2; node-protocol.md §9; relay 0.10.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import edge_schema as S
from .base import NODE_ENTITY_ID, ActionError, CommandSpec, Driver, Sample, object_schema, problem, worst_health
from .netaddr import parse_ip, parse_socket_addr
from .payload import as_bool, as_dict, as_dicts, as_int, as_number, as_str, utc

HEX64_LOWER = S.string(64, 64, r"^[0-9a-f]{64}$", **{"x-message": "must be 64 lowercase hexadecimal characters"})
STATUS = {"ok": "healthy", "degraded": "warning", "critical": "critical"}


def _spec(name: str, display: str, description: str, properties: dict | None = None,
          required: tuple[str, ...] = (), **flags: Any) -> CommandSpec:
    return CommandSpec(name=name, display_name=display, description=description,
                       args_schema=object_schema(properties, required), **flags)


_CATALOGUE = [
    _spec("list_tunnels", "List tunnels", "List the tunnels the relay holds, with both edges and byte counters.",
          ai_exposed=True, preview_kind="read"),
    _spec("list_edges", "List edges", "List the edges connected to the relay (manager node id and address).",
          ai_exposed=True, preview_kind="read"),
    _spec("list_udp_sessions", "List UDP sessions", "List the native UDP relay sessions.",
          ai_exposed=True, preview_kind="read"),
    _spec("get_config", "Get configuration",
          "Read the relay's startup configuration (changes made since startup are not shown).",
          preview_kind="read"),
    _spec("disconnect_edge", "Disconnect edge",
          "Drop the connection of edge `edge_id` (its manager node id); the edge reconnects.",
          {"edge_id": S.string(1, 64)}, ("edge_id",), requires_role="admin", ai_exposed=True,
          destructive=True, preview_entity="edge"),
    _spec("close_tunnel", "Close tunnel", "Force-close one tunnel on the relay; both edges reconnect.",
          {"tunnel_id": S.UUID}, ("tunnel_id",), requires_role="admin", ai_exposed=True,
          destructive=True, preview_entity="tunnel"),
    _spec("close_udp_session", "Close UDP session", "Close the native UDP session of tunnel `tunnel_id`.",
          {"tunnel_id": S.UUID}, ("tunnel_id",), requires_role="admin", ai_exposed=True,
          destructive=True, preview_entity="tunnel"),
    _spec("authorize_tunnel", "Authorise tunnel",
          "Allow tunnel `tunnel_id` to bind: `ingress_token` and `egress_token` are the HMAC-SHA256 "
          "bind tokens of the tunnel's two ends (lowercase hex).",
          {"tunnel_id": S.UUID, "ingress_token": HEX64_LOWER, "egress_token": HEX64_LOWER},
          ("tunnel_id", "ingress_token", "egress_token"), requires_role="admin", preview_entity="tunnel"),
    _spec("configure_distribution", "Configure distribution",
          "Configure WHEP viewer distribution: token secret, token requirements, public address and "
          "cascade sources.",
          {"token_secret": S.HEX64_SECRET, "require_viewer_token": S.BOOL, "require_ingest_token": S.BOOL,
           "public_ip": S.string(1, 256), "public_base_url": S.URL_HTTP,
           "cascade_sources": S.array(object_schema({"upstream_whep_url": S.URL_HTTP,
                                                     "local_stream": S.string(1, 256),
                                                     "token": S.TOKEN},
                                                    ("upstream_whep_url", "local_stream")), 0, 64)},
          requires_role="admin", preview_entity="distribution"),
    _spec("revoke_tunnel", "Revoke tunnel", "Remove the bind authorisation of tunnel `tunnel_id`.",
          {"tunnel_id": S.UUID}, ("tunnel_id",), requires_role="admin", destructive=True,
          preview_entity="tunnel"),
    _spec("rotate_secret", "Rotate node secret", "Manager-internal secret rotation.",
          {"new_secret": S.string(1, 4096)}, ("new_secret",), requires_role="admin", reserved=True),
]


class RelayDriver(Driver):
    device_type = "relay"
    display_name = "Relay Server"
    color = "#a78bfa"
    accent = "#a78bfa"
    icon = "relay"
    features = frozenset({"secret_rotation", "stats_history", "topology_ports"})
    protocol_version = 1
    known_protocol_versions = frozenset({1})
    stale_after_secs = 10
    sequential_commands = True
    commands = {spec.name: spec for spec in _CATALOGUE}
    history_metrics = (
        {"entity": "node", "metric": "bandwidth_bps", "unit": "bps", "label": "Forwarded bandwidth"},
        {"entity": "tunnel", "metric": "bitrate_bps", "unit": "bps", "label": "Tunnel throughput"},
    )
    # Cards show the first two (TUNNELS, EDGES) and uptime; the rest feed the node page.
    summary_metrics = (
        {"key": "tunnels_active", "label": "Tunnels", "unit": None},
        {"key": "edges_connected", "label": "Edges", "unit": None},
        {"key": "tunnels_total", "label": "Tunnels total", "unit": None},
        {"key": "bytes_forwarded", "label": "Forwarded", "unit": "bytes"},
        {"key": "tcp_streams_active", "label": "TCP streams", "unit": None},
        {"key": "udp_sessions_active", "label": "UDP sessions", "unit": None},
    )
    # get_config replaces node_secret and api_token by "***REDACTED***"; a relay that registered
    # in its current process also returns the consumed registration token in clear (quirk 23).
    secret_paths = ("api_token", "manager.node_secret", "manager.registration_token", "**.token_secret",
                    "**.token", "**.ingress_token", "**.egress_token", "new_secret")
    entity_id_keys = ("tunnel_id", "edge_id", "local_stream")
    detail_panels = ("relay_overview", "tunnels", "edges", "events")
    ai_description = (
        "Relay Server (bilbycast-relay). It forwards edge-to-edge tunnels over QUIC; it has no flows. "
        "Each tunnel has an ingress edge and an egress edge (manager node ids) and a status: active "
        "(both bound), waiting_ingress, waiting_egress or empty. Tunnel ids are UUIDs. Commands run one "
        "at a time. `close_tunnel` and `disconnect_edge` interrupt traffic; edges reconnect by "
        "themselves. Bandwidth figures are bits per second; byte counters are totals since start.")

    def validate(self, action: dict, config: dict | None) -> list[dict]:
        public_ip = action.get("public_ip")
        if action["type"] == "configure_distribution" and public_ip is not None and parse_ip(public_ip) is None:
            return [problem("/public_ip", "must be an IP address")]
        return []

    # -- live state --------------------------------------------------------------------------

    def _summarise(self, stats, health, now, prev):
        summary = self.empty_summary(now)
        stats_block, report = stats or {}, health or {}

        def pick(stats_key: str, health_key: str | None = None) -> int | None:
            value = as_int(stats_block.get(stats_key))
            return value if value is not None or health_key is None else as_int(report.get(health_key))

        summary["bitrate_bps"] = as_number(stats_block.get("total_bandwidth_bps"))
        summary["uptime_secs"] = pick("uptime_secs", "uptime_secs")
        status = as_str(report.get("status"))
        reasons = []
        if status in ("degraded", "critical"):
            reasons.append({"code": f"node_{status}", "severity": STATUS[status],
                            "detail": f"Relay reports status {status}"})
        summary["health_reasons"] = reasons
        summary["health"] = worst_health(r["severity"] for r in reasons) or (
            STATUS.get(status or "") if health is not None else None)
        summary["metrics"] = self.metrics({
            "tunnels_active": pick("active_tunnels", "active_tunnels"),
            "tunnels_total": pick("total_tunnels", "total_tunnels"),
            "edges_connected": pick("connected_edges", "connected_edges"),
            "bytes_forwarded": pick("total_bytes_forwarded", "total_bytes_forwarded"),
            "tcp_streams_active": pick("active_tcp_streams"),
            "udp_sessions_active": pick("udp_sessions_active", "udp_sessions_active"),
        })
        return summary

    def _history_samples(self, stats: dict) -> list[Sample]:
        samples: list[Sample] = []
        bandwidth = as_number(stats.get("total_bandwidth_bps"))
        if bandwidth is not None:
            samples.append(("node", NODE_ENTITY_ID, None, "bandwidth_bps", float(bandwidth), False))
        for tunnel in as_dicts(stats.get("tunnels")):
            ident = as_str(tunnel.get("tunnel_id"))
            counters = as_dict(tunnel.get("stats"))
            forwarded = max(as_int(counters.get("bytes_ingress")) or 0, as_int(counters.get("bytes_egress")) or 0)
            if ident:
                # Byte totals as a bit counter: the recorder stores counters as per-second rates.
                samples.append(("tunnel", ident, None, "bitrate_bps", float(forwarded * 8), True))
        return samples

    # -- topology ----------------------------------------------------------------------------

    def tunnels(self, config: Any, stats: Any) -> list[dict]:
        ends = []
        for tunnel in as_dicts(as_dict(stats).get("tunnels")):
            if not isinstance(tunnel.get("tunnel_id"), str):
                continue
            ends.append({"id": tunnel["tunnel_id"], "protocol": as_str(tunnel.get("protocol")),
                         "state": as_str(tunnel.get("status")),
                         "ingress_edge_id": as_str(tunnel.get("ingress_edge_id")),
                         "egress_edge_id": as_str(tunnel.get("egress_edge_id")),
                         "ingress_remote_addr": as_str(tunnel.get("ingress_remote_addr")),
                         "egress_remote_addr": as_str(tunnel.get("egress_remote_addr"))})
        return ends

    def topology_ports(self, config: Any, stats: Any, health: Any = None) -> list[dict]:
        cfg, report = as_dict(config), as_dict(health)

        def first(*values: Any) -> str | None:
            return next((v for v in values if isinstance(v, str) and v), None)

        ports = []
        quic = first(report.get("public_quic_addr"), cfg.get("public_quic_addr"),
                     report.get("quic_addr"), cfg.get("quic_addr"))
        if quic:
            ports.append(self._port("quic", "in", "quic", "QUIC IN", quic, "listener", True, "listening"))
        udp_addrs = cfg.get("udp_relay_addrs") if isinstance(cfg.get("udp_relay_addrs"), list) else []
        udp = first(report.get("public_udp_addr"), cfg.get("public_udp_addr"), *udp_addrs)
        if udp and (as_bool(cfg.get("udp_relay_enabled")) is not False):
            ports.append(self._port("udp", "in", "udp", "UDP IN", udp, "listener", True, "listening"))
        for end in self.tunnels(config, stats):
            proto = f"{end['protocol'] or 'tcp'}-tunnel"
            for leg, direction in (("ingress", "in"), ("egress", "out")):
                port = self._port(f"tunnel:{end['id']}:{leg}", direction, proto,
                                  f"{proto.upper()} {direction.upper()}", end[f"{leg}_remote_addr"], "relay",
                                  end["state"] == "active", end["state"] or "unknown", entity_id=end["id"])
                port.update({"tunnel_id": end["id"], "peer_node_id": end[f"{leg}_edge_id"], "leg": leg})
                ports.append(port)
        return ports

    @staticmethod
    def _port(ident: str, direction: str, protocol: str, label: str, address: str | None, role: str,
              active: bool, state: str, entity_id: str | None = None) -> dict:
        return {"id": ident, "direction": direction, "protocol": protocol, "label": label,
                "address": address, "role": role, "entity_id": entity_id, "flow_id": None,
                "active": active, "state": state, "bitrate_bps": None}

    def addresses(self, health: Any) -> list[str]:
        found = super().addresses(health)
        report = as_dict(health)
        for key in ("public_quic_addr", "public_udp_addr", "quic_addr"):
            addr = parse_socket_addr(as_str(report.get(key)))
            if addr is not None and addr.ip is not None and not addr.is_wildcard and str(addr.ip) not in found:
                found.append(str(addr.ip))
        return found

    # -- secret rotation (product.md §7.2) ---------------------------------------------------

    def check_secret_rotation(self, *, health: dict | None, registered_at: datetime | None,
                              now: datetime) -> None:
        # A relay that registered in its current process can lose its node id when it saves a
        # rotated secret (node-protocol.md §2.7 rule 4), so it must have restarted since.
        uptime = as_int(as_dict(health).get("uptime_secs"))
        if registered_at is None or uptime is None or uptime >= (utc(now) - utc(registered_at)).total_seconds():
            raise ActionError(422, "validation_failed",
                              "The relay has not restarted since it registered; restart it once "
                              "before rotating its secret")


DRIVER = RelayDriver()
