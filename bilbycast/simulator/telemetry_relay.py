"""Relay (§9.3, §9.4) and appear_x sidecar (§13.5, §13.6) telemetry payloads."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from .telemetry import TS_PACKET, Wander

if TYPE_CHECKING:  # pragma: no cover
    from .appearx_model import Chassis
    from .relay_model import RelayModel


# ====================================================================== relay
class RelayTelemetry:
    def __init__(self, model: "RelayModel", rng: random.Random):
        self.model = model
        self.rng = rng
        self.boot = time.monotonic() - rng.uniform(600, 5 * 86400)
        self.counters: dict[str, list] = {}
        self.connections_total = rng.randint(2, 40)
        self.peak_tunnels = 0
        self.peak_edges = 0

    def uptime(self) -> int:
        return int(time.monotonic() - self.boot)

    def restart_process(self) -> None:
        self.boot = time.monotonic()

    def advance(self, dt: float = 1.0) -> None:
        for item in self.model.tunnel_items():
            c = self.counters.setdefault(item["tunnel_id"], [0, 0, 0, time.monotonic(),
                                                             Wander(self.rng.uniform(1e6, 8e6),
                                                                    2e5, 12e6, 1e5)])
            if item["status"] == "active":
                nbytes = int(c[4].next(self.rng) * dt / 8)
                c[0] += nbytes
                c[1] += nbytes
                c[2] += max(1, nbytes // TS_PACKET)
        self.peak_tunnels = max(self.peak_tunnels, len(self.model.tunnel_items()))
        self.peak_edges = max(self.peak_edges, len(self.model.edges()))

    def tunnel_item(self, item: dict) -> dict:
        c = self.counters.get(item["tunnel_id"])
        item = dict(item)
        item["stats"] = {"bytes_ingress": c[0] if c else 0, "bytes_egress": c[1] if c else 0,
                         "tcp_streams_total": 0, "tcp_streams_active": 0,
                         "udp_datagrams_total": c[2] if c else 0,
                         "uptime_secs": int(time.monotonic() - c[3]) if c else 0}
        return item

    def tunnels(self) -> list[dict]:
        return [self.tunnel_item(i) for i in self.model.tunnel_items()]

    def stats_payload(self) -> dict:
        tunnels = self.tunnels()
        edges = self.model.edges()
        ingress = sum(t["stats"]["bytes_ingress"] for t in tunnels)
        egress = sum(t["stats"]["bytes_egress"] for t in tunnels)
        active = sum(1 for t in tunnels if t["status"] == "active")
        bandwidth = sum(int(self.counters[t["tunnel_id"]][4].value)
                        for t in tunnels if t["status"] == "active")
        return {"tunnels": tunnels, "udp_sessions": [], "udp_sessions_total": 0,
                "udp_sessions_active": 0, "edges": edges, "connected_edges": len(edges),
                "active_tunnels": active, "total_tunnels": len(tunnels),
                "total_bytes_ingress": ingress, "total_bytes_egress": egress,
                "total_bytes_forwarded": ingress + egress, "total_bandwidth_bps": bandwidth,
                "total_tcp_streams": 0, "active_tcp_streams": 0,
                "total_udp_datagrams": sum(t["stats"]["udp_datagrams_total"] for t in tunnels),
                "peak_tunnels": self.peak_tunnels, "peak_edges": self.peak_edges,
                "connections_total": self.connections_total + len(edges),
                "uptime_secs": self.uptime()}

    def health_payload(self) -> dict:
        stats = self.stats_payload()
        cfg = self.model.startup
        return {"status": "ok", "version": self.model.software_version,
                "uptime_secs": stats["uptime_secs"],
                "connected_edges": stats["connected_edges"],
                "active_tunnels": stats["active_tunnels"],
                "total_tunnels": stats["total_tunnels"],
                "total_bytes_forwarded": stats["total_bytes_forwarded"],
                "peak_tunnels": stats["peak_tunnels"], "peak_edges": stats["peak_edges"],
                "connections_total": stats["connections_total"],
                "api_addr": cfg["api_addr"], "quic_addr": cfg["quic_addr"],
                "public_quic_addr": cfg.get("public_quic_addr"),
                "public_udp_addr": cfg.get("public_udp_addr"),
                "udp_sessions_total": 0, "udp_sessions_active": 0,
                "capabilities": ["udp-relay"] if cfg.get("udp_relay_enabled") else []}


# ====================================================================== appear_x
def appearx_health(chassis: "Chassis", *, phase: str) -> dict:
    """``phase``: ``first`` (quirk 38), ``discovery``, ``poll`` or ``heartbeat``."""
    if phase == "heartbeat":
        return {"status": "ok", "version": chassis.software_version}
    target = {"reachable": chassis.reachable, "target_address": chassis.address,
              "gateway_host": chassis.gateway_host, "gateway_egress_ip": chassis.egress_ip,
              "consecutive_failures": chassis.consecutive_failures}
    if phase == "first":
        target.update(reachable=False, consecutive_failures=0, last_error_code="tcp_refused")
        return {"status": "critical", "version": chassis.software_version, "alarms": [],
                "capabilities": ["upgrade"], "gateway_target": target}
    if phase == "discovery":
        target["reachable"] = False
        target["last_error_code"] = chassis.last_error_code or "http_timeout"
        return {"status": "critical", "version": chassis.software_version, "alarms": [],
                "capabilities": ["upgrade"], "gateway_target": target}
    if chassis.last_poll_ok:
        target["last_successful_poll_unix"] = chassis.last_success_unix
    elif chassis.last_error_code:
        target["last_error_code"] = chassis.last_error_code
    return {"status": chassis.alarm_status() if chassis.last_poll_ok else "critical",
            "version": chassis.software_version,
            "alarms": chassis.alarm_list() if chassis.last_poll_ok else [],
            "capabilities": ["upgrade"], "gateway_target": target}


def appearx_stats(chassis: "Chassis") -> dict:
    """The consolidated 56-key snapshot (also the ``config_response`` payload)."""
    return chassis.snapshot()
