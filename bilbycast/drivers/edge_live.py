"""Edge live state: NodeSummary, history series, topology ports and endpoints.

Shapes are the edge 0.106.0 ones (node-protocol.md §4.2–§4.3). Two edge quirks drive most of
the care here:

* The 1 s timer path sends `flows: []` with `total_flows` = running flows, interleaved with the
  flow path (§4.2, quirk 2). An empty list is not "all flows deleted", so flow-derived figures
  are carried over from the previous summary instead of dropping to zero.
* FlowStats `state` and `health` are PascalCase; input/output states are lowercase (quirk 4).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .base import NODE_ENTITY_ID, Sample, worst_health
from .payload import as_dict, as_dicts, as_int, as_list, as_number, as_str

FLOW_HEALTH = {"Healthy": "healthy", "Warning": "warning", "Error": "critical", "Critical": "critical"}
REPORT_STATUS = {"ok": "healthy", "degraded": "warning", "critical": "critical"}
ADDRESS_FIELDS = ("mode", "local_addr", "bind_addr", "listen_addr", "remote_addr", "dest_addr",
                  "dest_url", "rtsp_url", "whep_url", "whip_url", "ingest_url")
UDP_RECEIVERS = {"rtp", "udp", "rist", "st2110_30", "st2110_31", "st2110_40", "st2110_20",
                 "st2110_23", "rtp_audio"}


# -- summary ----------------------------------------------------------------------------------

def tunnel_bitrate(tunnel: dict) -> int:
    stats = as_dict(tunnel.get("stats"))
    return int(max(as_number(stats.get("bitrate_in_bps")) or 0, as_number(stats.get("bitrate_out_bps")) or 0))


def is_timer_path(stats: dict, prev: dict | None) -> bool:
    """True when `flows: []` cannot mean "no flows" (§4.2 timer path)."""
    if as_list(stats.get("flows")):
        return False
    running = as_int(stats.get("total_flows")) or as_int(stats.get("active_flows")) or 0
    had_flows = bool(prev and (as_int(prev.get("flows_total")) or 0) > 0)
    return running > 0 or had_flows


def summarise(driver: Any, stats: dict | None, health: dict | None, now: datetime,
              prev: dict | None) -> dict:
    summary = driver.empty_summary(now)
    stats_block, health_block = stats or {}, health or {}
    resources = as_dict(stats_block.get("system_resources")) or as_dict(health_block.get("system_resources"))
    summary["cpu_percent"] = as_number(resources.get("cpu_percent"))
    summary["ram_percent"] = as_number(resources.get("ram_percent"))
    uptime = as_int(stats_block.get("uptime_secs"))
    summary["uptime_secs"] = uptime if uptime is not None else as_int(health_block.get("uptime_secs"))

    tunnels = as_dicts(stats_block.get("tunnels"))
    tunnels_bps = sum(tunnel_bitrate(t) for t in tunnels)
    reasons: list[dict] = []
    if stats is None:
        # Health alone: `active_flows` is the running count; configured flows are unknown.
        summary["flows_running"] = as_int(health_block.get("active_flows"))
    elif is_timer_path(stats, prev):
        running = as_int(stats.get("active_flows"))
        if running is None:
            running = as_int(stats.get("total_flows")) or 0
        summary["flows_running"] = running
        prev_total = as_int((prev or {}).get("flows_total"))
        summary["flows_total"] = max(prev_total or 0, running) if prev_total is not None else running
        prev_bitrate = as_number((prev or {}).get("bitrate_bps"))
        # The flow part of the bitrate is not in this message: keep the last one while flows run.
        summary["bitrate_bps"] = (prev_bitrate if prev_bitrate is not None else None) if running else tunnels_bps
        if running:
            reasons += [dict(r) for r in as_dicts((prev or {}).get("health_reasons"))
                        if r.get("code") == "flow_unhealthy"]
    else:
        flows = as_dicts(stats.get("flows"))
        summary["flows_total"] = len(flows)
        summary["flows_running"] = sum(1 for f in flows if f.get("state") == "Running")
        summary["bitrate_bps"] = sum(as_int(as_dict(f.get("input")).get("bitrate_bps")) or 0
                                     for f in flows) + tunnels_bps
        reasons += flow_reasons(flows)
    status = as_str(health_block.get("status"))
    if status in ("degraded", "critical"):
        reasons.append({"code": f"node_{status}", "severity": REPORT_STATUS[status],
                        "detail": f"Node reports status {status}"})
    summary["health_reasons"] = reasons
    known = stats is not None or health is not None
    summary["health"] = worst_health(r["severity"] for r in reasons) or ("healthy" if known else None)
    summary["metrics"] = driver.metrics({"tunnels_active": sum(1 for t in tunnels if t.get("state") == "ready")
                                         if stats is not None else None})
    return summary


def flow_reasons(flows: list[dict]) -> list[dict]:
    reasons = []
    for flow in flows:
        label = as_str(flow.get("health"))
        severity = FLOW_HEALTH.get(label or "")
        if severity in ("warning", "critical"):
            detail = f"Flow {flow.get('flow_id')} reports {label}"
            first = next(iter(as_dicts(flow.get("health_reasons"))), None)
            if first and isinstance(first.get("detail"), str):
                detail += f": {first['detail'][:200]}"
            reasons.append({"code": "flow_unhealthy", "severity": severity, "detail": detail})
    return reasons


# -- history (product.md §5.4) ----------------------------------------------------------------

HISTORY_METRICS = (
    {"entity": "node", "metric": "cpu_percent", "unit": "%", "label": "CPU"},
    {"entity": "node", "metric": "ram_percent", "unit": "%", "label": "RAM"},
    {"entity": "node", "metric": "bitrate_bps", "unit": "bps", "label": "Aggregate bitrate"},
    {"entity": "flow", "metric": "bitrate_bps", "unit": "bps", "label": "Input bitrate"},
    {"entity": "flow", "metric": "packets_lost", "unit": "pkt/s", "label": "Packets lost"},
    {"entity": "flow", "metric": "packets_recovered_fec", "unit": "pkt/s", "label": "FEC recovered"},
    {"entity": "flow", "metric": "srt_rtt_ms", "unit": "ms", "label": "SRT RTT"},
    {"entity": "output", "metric": "bitrate_bps", "unit": "bps", "label": "Output bitrate"},
    {"entity": "output", "metric": "packets_dropped", "unit": "pkt/s", "label": "Packets dropped"},
    {"entity": "tunnel", "metric": "bitrate_bps", "unit": "bps", "label": "Tunnel throughput"},
)


def history_samples(stats: dict) -> list[Sample]:
    samples: list[Sample] = []

    def add(entity: str, ident: Any, name: Any, metric: str, value: Any, counter: bool = False) -> None:
        number = as_number(value)
        if number is not None and isinstance(ident, str):
            samples.append((entity, ident, name if isinstance(name, str) else None, metric,
                            float(number), counter))

    resources = as_dict(stats.get("system_resources"))
    add("node", NODE_ENTITY_ID, None, "cpu_percent", resources.get("cpu_percent"))
    add("node", NODE_ENTITY_ID, None, "ram_percent", resources.get("ram_percent"))
    flows = as_dicts(stats.get("flows"))
    tunnels = as_dicts(stats.get("tunnels"))
    if not is_timer_path(stats, None):
        # A timer-path message lacks the flows' bitrate: record nothing rather than a false dip.
        total = sum(as_int(as_dict(f.get("input")).get("bitrate_bps")) or 0 for f in flows)
        add("node", NODE_ENTITY_ID, None, "bitrate_bps", total + sum(tunnel_bitrate(t) for t in tunnels))
    for flow in flows:
        if flow.get("state") != "Running":
            continue   # idle flows leave a gap in their charts, not a run of zeros
        fid, fname = flow.get("flow_id"), flow.get("flow_name")
        source = as_dict(flow.get("input"))
        add("flow", fid, fname, "bitrate_bps", source.get("bitrate_bps"))
        add("flow", fid, fname, "packets_lost", source.get("packets_lost"), True)
        add("flow", fid, fname, "packets_recovered_fec", source.get("packets_recovered_fec"), True)
        add("flow", fid, fname, "srt_rtt_ms", as_dict(source.get("srt_stats")).get("rtt_ms"))
        for out in as_dicts(flow.get("outputs")):
            add("output", out.get("output_id"), out.get("output_name"), "bitrate_bps", out.get("bitrate_bps"))
            add("output", out.get("output_id"), out.get("output_name"), "packets_dropped",
                out.get("packets_dropped"), True)
    for tunnel in tunnels:
        add("tunnel", tunnel.get("id"), tunnel.get("name"), "bitrate_bps", tunnel_bitrate(tunnel))
    return samples


# -- addresses and roles ----------------------------------------------------------------------

def input_address(entity: dict) -> str | None:
    kind, mode = as_str(entity.get("type")) or as_str(entity.get("input_type")), entity.get("mode")
    if kind == "srt":
        key = "remote_addr" if mode == "caller" else "local_addr"
    elif kind in UDP_RECEIVERS or kind == "webrtc":
        key = "bind_addr"
    else:
        key = {"rtmp": "listen_addr", "rtsp": "rtsp_url", "whep": "whep_url"}.get(kind or "")
    value = entity.get(key) if key else None
    if not isinstance(value, str):
        value = next((entity[k] for k in ADDRESS_FIELDS[1:] if isinstance(entity.get(k), str)), None)
    return value


def input_role(entity: dict) -> str:
    kind = as_str(entity.get("type")) or as_str(entity.get("input_type"))
    if kind == "srt":
        return as_str(entity.get("mode")) or "listener"
    if kind in ("rtmp", "webrtc"):
        return "listener"
    if kind in ("rtsp", "whep"):
        return "caller"
    return "receiver" if kind in UDP_RECEIVERS else "source"


def output_address(entity: dict) -> str | None:
    kind, mode = as_str(entity.get("type")) or as_str(entity.get("output_type")), entity.get("mode")
    if kind == "srt":
        key = "local_addr" if mode == "listener" else "remote_addr"
    else:
        key = {"rist": "remote_addr", "rtmp": "dest_url", "hls": "ingest_url", "cmaf": "ingest_url",
               "webrtc": "whip_url"}.get(kind or "", "dest_addr")
    value = entity.get(key)
    if not isinstance(value, str):
        value = next((entity[k] for k in ADDRESS_FIELDS[1:] if isinstance(entity.get(k), str)), None)
    return value


def output_role(entity: dict) -> str:
    kind = as_str(entity.get("type")) or as_str(entity.get("output_type"))
    if kind == "srt":
        return as_str(entity.get("mode")) or "caller"
    if kind in ("rtmp", "hls", "cmaf"):
        return "publisher"
    if kind == "webrtc":
        return "server" if entity.get("mode") == "whep_server" else "publisher"
    return "sender"


# -- topology ports (api.md §10.1) ------------------------------------------------------------

def _flow_stats(stats: Any) -> dict[str, dict]:
    return {f["flow_id"]: f for f in as_dicts(as_dict(stats).get("flows")) if isinstance(f.get("flow_id"), str)}


def active_input_id(flow: dict, flow_stats: dict | None, inputs: dict[str, dict]) -> str | None:
    members = [i for i in as_list(flow.get("input_ids")) if isinstance(i, str)]
    live = as_str((flow_stats or {}).get("active_input_id"))
    if live in members:
        return live
    explicit = [i for i in members if inputs.get(i, {}).get("active") is True]
    if explicit:
        return explicit[0]
    defaulted = [i for i in members if inputs.get(i, {}).get("active") is not False]
    return defaulted[0] if defaulted else None


def _port(direction: str, entity_id: str, kind: str, address: str | None, role: str, flow_id: str | None,
          active: bool, state: str, bitrate: int) -> dict:
    return {"id": f"{direction}:{entity_id}", "direction": direction, "protocol": kind or "unknown",
            "label": f"{(kind or 'unknown').upper()} {direction.upper()}", "address": address, "role": role,
            "entity_id": entity_id, "flow_id": flow_id, "active": active, "state": state,
            "bitrate_bps": bitrate}


def topology_ports(config: Any, stats: Any) -> list[dict]:
    config = as_dict(config)
    flow_stats = _flow_stats(stats)
    standby = {s.get("input_id"): s for s in as_dicts(as_dict(stats).get("standby_inputs"))}
    inputs = {i["id"]: i for i in as_dicts(config.get("inputs")) if isinstance(i.get("id"), str)}
    outputs = {o["id"]: o for o in as_dicts(config.get("outputs")) if isinstance(o.get("id"), str)}
    ports: list[dict] = []
    if not config:
        return _ports_from_stats(flow_stats) + tunnel_ports(config, stats)
    input_flow: dict[str, dict] = {}
    output_flow: dict[str, dict] = {}
    for flow in as_dicts(config.get("flows")):
        enabled = flow.get("enabled", True) is not False
        for ident in as_list(flow.get("input_ids")):
            if isinstance(ident, str) and (ident not in input_flow or enabled):
                input_flow[ident] = flow
        for ident in as_list(flow.get("output_ids")):
            if isinstance(ident, str):
                output_flow.setdefault(ident, flow)
    for ident, entity in inputs.items():
        flow = input_flow.get(ident)
        fstats = flow_stats.get(flow.get("id")) if flow else None
        running = bool(fstats and fstats.get("state") == "Running")
        on_air = bool(flow) and active_input_id(flow, fstats, inputs) == ident
        live = as_dict(fstats.get("input")) if fstats and on_air else {}
        state = (as_str(live.get("state")) or "idle") if running and on_air else \
            ("standby" if running else as_str(standby.get(ident, {}).get("state")) or "idle")
        ports.append(_port("in", ident, as_str(entity.get("type")), input_address(entity), input_role(entity),
                           flow.get("id") if flow else None, on_air,
                           state, (as_int(live.get("bitrate_bps")) or 0) if running and on_air else 0))
    for ident, entity in outputs.items():
        flow = output_flow.get(ident)
        fstats = flow_stats.get(flow.get("id")) if flow else None
        live = next((o for o in as_dicts((fstats or {}).get("outputs")) if o.get("output_id") == ident), {})
        running = bool(fstats and fstats.get("state") == "Running")
        state = (as_str(live.get("state")) or "idle") if running else "idle"
        ports.append(_port("out", ident, as_str(entity.get("type")), output_address(entity), output_role(entity),
                           flow.get("id") if flow else None, entity.get("active") is not False,
                           state, (as_int(live.get("bitrate_bps")) or 0) if running else 0))
    return ports + tunnel_ports(config, stats)


def _ports_from_stats(flow_stats: dict[str, dict]) -> list[dict]:
    """Without a config, draw what the stats name (the active input and the outputs)."""
    ports = []
    for fid, flow in flow_stats.items():
        running = flow.get("state") == "Running"
        live = as_dict(flow.get("input"))
        if as_str(live.get("input_type")):
            ident = as_str(flow.get("active_input_id")) or f"{fid}.input"
            ports.append(_port("in", ident, live["input_type"], input_address(live), input_role(live), fid,
                               True, as_str(live.get("state")) or "idle",
                               (as_int(live.get("bitrate_bps")) or 0) if running else 0))
        for out in as_dicts(flow.get("outputs")):
            if isinstance(out.get("output_id"), str):
                ports.append(_port("out", out["output_id"], as_str(out.get("output_type")), output_address(out),
                                   output_role(out), fid, True, as_str(out.get("state")) or "idle",
                                   (as_int(out.get("bitrate_bps")) or 0) if running else 0))
    return ports


def tunnel_ends(config: Any, stats: Any) -> list[dict]:
    """Configured tunnels merged with their live status (stats win for state and bitrate)."""
    live = {t.get("id"): t for t in as_dicts(as_dict(stats).get("tunnels")) if isinstance(t.get("id"), str)}
    ends = []
    seen = set()
    for tunnel in as_dicts(as_dict(config).get("tunnels")) + list(live.values()):
        ident = tunnel.get("id")
        if not isinstance(ident, str) or ident in seen:
            continue
        seen.add(ident)
        status = live.get(ident, {})
        relays = as_list(tunnel.get("relay_addrs")) or ([tunnel["relay_addr"]] if isinstance(tunnel.get("relay_addr"), str) else [])
        ends.append({"id": ident, "name": as_str(tunnel.get("name")), "protocol": as_str(tunnel.get("protocol")),
                     "mode": as_str(tunnel.get("mode")), "direction": as_str(tunnel.get("direction")),
                     "local_addr": as_str(tunnel.get("local_addr")),
                     "relay_addrs": [r for r in relays if isinstance(r, str)],
                     "active_relay_addr": as_str(status.get("active_relay_addr")),
                     "peer_addr": as_str(tunnel.get("peer_addr")),
                     "state": as_str(status.get("state")) or ("down" if status else "unknown"),
                     "bitrate_bps": tunnel_bitrate(status) if status else 0})
    return ends


def tunnel_ports(config: Any, stats: Any) -> list[dict]:
    ports = []
    for end in tunnel_ends(config, stats):
        # egress = local traffic enters the tunnel here (it leaves this node); ingress = it exits here.
        direction = "out" if end["direction"] == "egress" else "in"
        proto = f"{end['protocol'] or 'tcp'}-tunnel"
        port = _port(direction, end["id"], proto, end["local_addr"],
                     "listener" if direction == "out" else "forwarder", None,
                     end["state"] == "ready", end["state"], end["bitrate_bps"])
        port["id"] = f"tunnel:{end['id']}"
        port.update({"tunnel_id": end["id"], "tunnel_mode": end["mode"], "relay_addrs": end["relay_addrs"]})
        ports.append(port)
    return ports


# -- endpoints (api.md §7.5) ------------------------------------------------------------------

def _address_view(entity: dict, with_name: bool) -> dict:
    view = {"id": entity.get("id")}
    if with_name:
        view["name"] = entity.get("name")
    view["type"] = entity.get("type")
    view.update({k: entity[k] for k in ADDRESS_FIELDS if k in entity})
    return view


def endpoints(config: Any, stats: Any = None) -> list[dict]:
    config = as_dict(config)
    flow_stats = _flow_stats(stats)
    inputs = {i["id"]: i for i in as_dicts(config.get("inputs")) if isinstance(i.get("id"), str)}
    outputs = {o["id"]: o for o in as_dicts(config.get("outputs")) if isinstance(o.get("id"), str)}
    entries = []
    for flow in as_dicts(config.get("flows")):
        members = [inputs[i] for i in as_list(flow.get("input_ids")) if i in inputs]
        on_air = active_input_id(flow, flow_stats.get(flow.get("id")), inputs)
        entries.append({
            "flow_id": flow.get("id"), "flow_name": flow.get("name"),
            "enabled": flow.get("enabled", True) is not False,
            "input": _address_view(inputs[on_air], False) if on_air in inputs else None,
            "inputs": [_address_view(i, False) for i in members],
            "outputs": [_address_view(outputs[o], True) for o in as_list(flow.get("output_ids")) if o in outputs],
        })
    return entries
