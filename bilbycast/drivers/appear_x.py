"""`appear_x` — Appear X Gateway (product.md §7.3; node-protocol.md §13; sidecar 0.11.8).

The node is the gateway sidecar; the Appear X chassis behind it is the *target*. Two statuses
matter and are kept apart: the sidecar link (the node's own online/offline status, which the
hub owns) and the target's reachability (from `health.gateway_target`, summarised here).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from . import edge_schema as S
from .base import NODE_ENTITY_ID, CommandSpec, Driver, Sample, object_schema, problem, worst_health
from .netaddr import is_hostname, parse_ip
from .payload import (as_dict, as_dicts, as_int, as_number, as_numeric_string, as_str, dig,
                      parse_rfc3339, rfc3339_ms, utc)

# Manager annotations added by merge_health (the hub stores the merged report).
RECEIVED_AT_KEY = "gateway_target_received_at"
PROVISIONAL_KEY = "gateway_target_provisional"
TARGET_STALE_SECS = 30          # ~3 × the 10 s alarm-poll interval (§13.5)
STATUS = {"ok": "healthy", "degraded": "warning", "critical": "critical"}
ALARM_SEVERITY = {"CRITICAL": "critical", "MAJOR": "critical", "MINOR": "warning", "WARNING": "warning"}
SLOT = S.integer(1)
TIMEOUT = 35                    # each chassis call may take 10 s and is retried once (§13.8)


def _spec(name: str, display: str, description: str, properties: dict | None = None,
          required: tuple[str, ...] = (), **flags: Any) -> CommandSpec:
    flags.setdefault("timeout_secs", TIMEOUT)
    return CommandSpec(name=name, display_name=display, description=description,
                       args_schema=object_schema(properties, required), **flags)


def _read(name: str, display: str, what: str, per_slot: bool = True) -> CommandSpec:
    props = {"slot": SLOT} if per_slot else {}
    where = " of card `slot` (default 1)" if per_slot else ""
    return _spec(name, display, f"Read {what}{where} from the chassis. Read-only.", props,
                 ai_exposed=True, preview_kind="read")


_KEYED_ITEMS = S.array({"type": "object"}, 1, 256)

_CATALOGUE = [
    _read("get_inputs", "Get inputs", "the IP gateway inputs"),
    _read("get_outputs", "Get outputs", "the IP gateway outputs"),
    _read("get_services", "Get services", "the board services"),
    _read("get_alarms", "Get alarms", "the active chassis alarms", per_slot=False),
    _read("get_ip_interfaces", "Get IP interfaces", "the IP interfaces"),
    _read("get_chassis", "Get chassis", "the chassis description", per_slot=False),
    _spec("get_config", "Get snapshot", "Read the sidecar's current chassis snapshot.", preview_kind="read"),
    _spec("set_ip_input", "Set IP inputs",
          "Write IP gateway input settings on card `slot`: `inputs` is a list of Appear X input "
          "objects ({key: uuid, value: {...}}), sent as {data: inputs}.",
          {"slot": SLOT, "inputs": _KEYED_ITEMS}, ("inputs",), ai_exposed=True, config_changing=True,
          preview_kind="update", preview_entity="input"),
    _spec("set_ip_output", "Set IP outputs",
          "Write IP gateway output settings on card `slot`: `outputs` is a list of Appear X output "
          "objects ({key: uuid, value: {...}}), sent as {data: outputs}.",
          {"slot": SLOT, "outputs": _KEYED_ITEMS}, ("outputs",), ai_exposed=True, config_changing=True,
          preview_kind="update", preview_entity="output"),
    _spec("clear_all_counters", "Clear all counters",
          "Clear every encoder/decoder counter on card `slot` (default 1).", {"slot": SLOT},
          ai_exposed=True, destructive=True, config_changing=True),
    _spec("install_license", "Install licence", "Install a chassis licence (`license`).",
          {"license": {"oneOf": [{"type": "string", "minLength": 1, "maxLength": 65536},
                                 {"type": "object"}]}},
          ("license",), requires_role="admin", destructive=True, config_changing=True),
]


class AppearXDriver(Driver):
    device_type = "appear_x"
    display_name = "Appear X Gateway"
    color = "#818cf8"
    accent = None
    icon = "gateway"
    features = frozenset({"stats_history", "target_status", "topology_ports"})
    protocol_version = 1
    known_protocol_versions = frozenset({1})
    stale_after_secs = 30
    sequential_commands = True
    default_timeout_secs = TIMEOUT
    commands = {spec.name: spec for spec in _CATALOGUE}
    history_metrics = (
        {"entity": "node", "metric": "bitrate_bps", "unit": "bps", "label": "IP input bitrate"},
        {"entity": "node", "metric": "alarms_active", "unit": None, "label": "Active alarms"},
        {"entity": "node", "metric": "qsfp_temp_c_max", "unit": "°C", "label": "QSFP temperature (max)"},
        {"entity": "node", "metric": "qsfp_rx_power_dbm_min", "unit": "dBm", "label": "QSFP RX power (min)"},
        {"entity": "input", "metric": "bitrate_bps", "unit": "bps", "label": "Input bitrate"},
    )
    summary_metrics = (
        {"key": "alarms_critical", "label": "Critical alarms", "unit": None},
        {"key": "alarms_major", "label": "Major alarms", "unit": None},
        {"key": "alarms_minor", "label": "Minor alarms", "unit": None},
        {"key": "alarms_warning", "label": "Warning alarms", "unit": None},
        {"key": "slots", "label": "Slots", "unit": None},
        {"key": "inputs", "label": "Inputs", "unit": None},
        {"key": "outputs", "label": "Outputs", "unit": None},
    )
    secret_paths = ("license",)
    entity_id_keys = ("key", "id", "alarmId")
    detail_panels = ("gateway_module", "chassis_io", "alarms", "events")
    ai_description = (
        "Appear X Gateway: a sidecar that fronts an Appear X chassis (the target). Two statuses: "
        "SIDECAR (the manager's link to the sidecar) and TARGET (whether the chassis answers). "
        "There are no flows, no config replace and no secret rotation. Per-card commands take "
        "`slot`, a positive decimal integer (default 1). Reads: get_inputs, get_outputs, "
        "get_services, get_ip_interfaces (per slot), get_alarms, get_chassis. Writes: set_ip_input "
        "/ set_ip_output take Appear X objects [{key: uuid, value: {...}}]. Alarm severities are "
        "CRITICAL, MAJOR, MINOR, WARNING. Chassis bitrates are string-encoded integers in bit/s. "
        "Commands run one at a time and can take up to 35 s; before discovery they fail with "
        "discovery_in_progress.")

    # -- checks (product.md §7.3 "Validation") -----------------------------------------------

    def validate(self, action: dict, config: dict | None) -> list[dict]:
        found: list[dict] = []
        for key in ("inputs", "outputs"):
            for index, item in enumerate(as_dicts(action.get(key))):
                base = f"/{key}/{index}"
                ident = item.get("key")
                if "key" in item and not (isinstance(ident, str) and UUID_RE.match(ident)):
                    found.append(problem(f"{base}/key", "must be a UUID"))
                found += _value_problems(item, base)
        return found

    # -- health ------------------------------------------------------------------------------

    def merge_health(self, prev: dict | None, report: Any, *, received_at: datetime | None = None) -> dict | None:
        """Merge, don't overwrite (§13.5): the bare 300 s heartbeat and the provisional first
        report of a sidecar process change nothing but the version."""
        if not isinstance(report, dict):
            return prev
        if is_heartbeat(report) or is_provisional(report):
            if prev:
                merged = dict(prev)
                if isinstance(report.get("version"), str):
                    merged["version"] = report["version"]
                return merged
            merged = dict(report)
            if is_provisional(report):
                merged[PROVISIONAL_KEY] = True
            return merged
        merged = dict(report)
        for key in ("capabilities", "alarms"):
            if key not in merged and prev and key in prev:
                merged[key] = prev[key]
        if received_at is not None and "gateway_target" in merged:
            merged[RECEIVED_AT_KEY] = rfc3339_ms(received_at)
        return merged

    def event_dedupe_key(self, event: Any) -> str | None:
        """A re-sent "alarm raised" (every 1800 s) is dropped while the first is unacknowledged."""
        payload = as_dict(event)
        alarm_id = dig(payload, "details", "alarm_id")
        message = as_str(payload.get("message")) or ""
        if payload.get("category") == "alarm" and message.startswith("Alarm raised") and alarm_id is not None:
            return f"alarm:{alarm_id}"
        return None

    def _summarise(self, stats, health, now, prev):
        summary = self.empty_summary(now)
        snapshot = stats or {}
        summary["flows_total"], summary["flows_running"] = 0, 0
        summary["bitrate_bps"] = input_bitrate(snapshot)
        chassis_uptime = as_int(snapshot.get("chassis_uptime_secs"))
        summary["uptime_secs"] = chassis_uptime if chassis_uptime is not None else as_int(snapshot.get("uptime_secs"))
        report = health or {}
        alarms = as_dicts(report["alarms"]) if "alarms" in report else as_dicts(snapshot.get("alarms"))
        counts = {sev: sum(1 for a in alarms if a.get("severity") == sev)
                  for sev in ("CRITICAL", "MAJOR", "MINOR", "WARNING")}
        summary["metrics"] = self.metrics({
            "alarms_critical": counts["CRITICAL"], "alarms_major": counts["MAJOR"],
            "alarms_minor": counts["MINOR"], "alarms_warning": counts["WARNING"],
            "slots": len(as_dicts(snapshot.get("slots"))) if stats is not None else None,
            "inputs": len(as_dicts(snapshot.get("inputs"))) if stats is not None else None,
            "outputs": len(as_dicts(snapshot.get("outputs"))) if stats is not None else None,
        })
        unmerged = health is not None and (is_heartbeat(report) or is_provisional(report))
        if unmerged and prev:
            # A raw heartbeat or provisional report must never turn a critical node healthy.
            summary.update(health=prev.get("health"), health_reasons=list(prev.get("health_reasons") or []),
                           target=prev.get("target"))
            return summary
        target = self._target(report, snapshot, now, prev)
        summary["target"] = target
        if unmerged or report.get(PROVISIONAL_KEY) or (health is None and stats is None):
            return summary
        reasons = []
        if target["status"] == "unreachable":
            reasons.append({"code": "target_unreachable", "severity": "critical",
                            "detail": f"Chassis {target['address'] or ''} not answering".replace("  ", " ")})
        status = as_str(report.get("status")) if health is not None else as_str(snapshot.get("status"))
        if status in ("degraded", "critical"):
            error = as_str(dig(report, "gateway_target", "last_error_code"))
            reasons.append({"code": f"sidecar_{status}", "severity": STATUS[status],
                            "detail": f"Sidecar reports {status}" + (f" (last error {error})" if error else "")})
        for severity, label in (("critical", ("CRITICAL", "MAJOR")), ("warning", ("MINOR", "WARNING"))):
            names = [as_str(a.get("alarmName")) or "?" for a in alarms if a.get("severity") in label]
            if names:
                reasons.append({"code": "chassis_alarm", "severity": severity,
                                "detail": f"{len(names)} {'/'.join(l.lower() for l in label)} alarm(s): "
                                          + ", ".join(names[:5])})
        summary["health_reasons"] = reasons
        summary["health"] = worst_health(r["severity"] for r in reasons) or (
            STATUS.get(status or "", "healthy"))
        return summary

    def _target(self, report: dict, snapshot: dict, now: datetime, prev: dict | None) -> dict:
        block = as_dict(report.get("gateway_target"))
        address = as_str(block.get("target_address")) or as_str(snapshot.get("appear_x_address"))
        status = "unknown"
        if block and not report.get(PROVISIONAL_KEY):
            received = parse_rfc3339(report.get(RECEIVED_AT_KEY))
            fresh = received is None or (utc(now) - received).total_seconds() <= TARGET_STALE_SECS
            if fresh and block.get("reachable") is True:
                status = "reachable"
            elif fresh and block.get("reachable") is False:
                status = "unreachable"
        previous = as_dict((prev or {}).get("target"))
        since = previous.get("since") if previous.get("status") == status and previous.get("since") else rfc3339_ms(now)
        return {"label": "Chassis", "address": address, "status": status, "since": since}

    def _history_samples(self, stats: dict) -> list[Sample]:
        samples: list[Sample] = []
        bitrate = input_bitrate(stats)
        if bitrate is not None:
            samples.append(("node", NODE_ENTITY_ID, None, "bitrate_bps", float(bitrate), False))
        if "alarms" in stats:
            samples.append(("node", NODE_ENTITY_ID, None, "alarms_active", float(len(as_dicts(stats["alarms"]))), False))
        signals = as_dict(dig(stats, "health_signals", "global"))
        for metric in ("qsfp_temp_c_max", "qsfp_rx_power_dbm_min"):
            value = as_number(signals.get(metric))
            if value is not None:
                samples.append(("node", NODE_ENTITY_ID, None, metric, float(value), False))
        for index, item in enumerate(as_dicts(stats.get("ip_input_status"))):
            value = _effective_bitrate(item)
            ident = _item_id(item)
            if value is not None and ident is not None:
                samples.append(("input", ident, _item_label(item), "bitrate_bps", float(value), False))
        return samples

    # -- topology ----------------------------------------------------------------------------

    def topology_ports(self, config: Any, stats: Any, health: Any = None) -> list[dict]:
        """The chassis's IP inputs and outputs; ones with no address are `unbound`."""
        snapshot = as_dict(stats) or as_dict(config)
        ports = []
        for key, direction in (("inputs", "in"), ("outputs", "out")):
            for index, item in enumerate(as_dicts(snapshot.get(key))):
                ident = _item_id(item) or f"slot{item.get('slot', '?')}-{direction}{index}"
                address = _item_address(item)
                protocol = _item_protocol(item)
                ports.append({"id": f"{direction}:{ident}", "direction": direction, "protocol": protocol,
                              "label": f"{protocol.upper()} {direction.upper()}", "address": address,
                              "role": "receiver" if direction == "in" else "sender", "entity_id": ident,
                              "flow_id": None, "active": address is not None,
                              "state": "configured" if address is not None else "unbound",
                              "bitrate_bps": None, "slot": as_int(item.get("slot")), "name": _item_label(item)})
        return ports

    def unbound_endpoints(self, config: Any, stats: Any) -> list[dict]:
        """"Unbound chassis endpoints" listed under the flow-view tables (product.md §7.3)."""
        return [p for p in self.topology_ports(config, stats) if p["address"] is None]


# -- Appear X snapshot helpers (raw JSON-RPC shapes: camelCase, often {key, value, slot}) -------

UUID_RE = re.compile(S.UUID["pattern"])


def is_heartbeat(report: dict) -> bool:
    """The SDK's bare `{status, version}` heartbeat (every 300 s)."""
    return not any(key in report for key in ("gateway_target", "alarms", "capabilities"))


def is_provisional(report: dict) -> bool:
    """First report of every sidecar process: unreachable with zero failures (quirk 38)."""
    block = report.get("gateway_target")
    return isinstance(block, dict) and block.get("reachable") is False and block.get("consecutive_failures") == 0


def _effective_bitrate(item: dict) -> int | None:
    for source in (item, as_dict(item.get("value"))):
        value = as_numeric_string(dig(source, "bitrates", "value", "effectiveFlowBitrate"))
        if value is not None:
            return value
    return None


def input_bitrate(snapshot: dict) -> int | None:
    """Σ ip_input_status[].bitrates.value.effectiveFlowBitrate (string-encoded), else None."""
    values = [v for v in (_effective_bitrate(i) for i in as_dicts(snapshot.get("ip_input_status"))) if v is not None]
    return sum(values) if values else None


def _item_id(item: dict) -> str | None:
    for source in (item, as_dict(item.get("value"))):
        for key in ("key", "id", "uuid"):
            if isinstance(source.get(key), str) and source[key]:
                return source[key]
    return None


def _item_label(item: dict) -> str | None:
    value = as_dict(item.get("value")) or item
    return as_str(value.get("label")) or as_str(value.get("name"))


def _item_protocol(item: dict) -> str:
    value = as_dict(item.get("value")) or item
    for key in ("protocol", "transportProtocol", "type", "mode"):
        text = as_str(value.get(key))
        if text:
            lowered = text.lower()
            for known in ("srt", "rist", "rtp", "udp", "zixi", "hls"):
                if known in lowered:
                    return known
    return "ip"


def _item_address(item: Any, depth: int = 0) -> str | None:
    """First `…address` (not MAC) with a sibling `…port`, searched a few levels deep."""
    if depth > 3 or not isinstance(item, dict):
        return None
    host = port = None
    for key, value in item.items():
        lowered = key.lower()
        if host is None and (lowered.endswith("address") or lowered.endswith("addr")) and "mac" not in lowered \
                and isinstance(value, str) and parse_ip(value) is not None:
            host = value
        elif port is None and lowered.endswith("port") and as_numeric_string(value) is not None:
            port = as_numeric_string(value)
    if host is not None:
        ip = parse_ip(host)
        shown = f"[{host}]" if ip is not None and ip.version == 6 else host
        return f"{shown}:{port}" if port is not None else host
    for value in item.values():
        nested = _item_address(value, depth + 1) if isinstance(value, dict) else None
        if nested:
            return nested
    return None


def _value_problems(value: Any, base: str, depth: int = 0) -> list[dict]:
    """IP addresses and ports anywhere inside an Appear X object (product.md §7.3)."""
    found: list[dict] = []
    if depth > 8:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{base}/{str(key).replace('~', '~0').replace('/', '~1')}"
            lowered = str(key).lower()
            if (lowered.endswith("address") or lowered.endswith("addr")) and "mac" not in lowered \
                    and isinstance(item, str) and item:
                if parse_ip(item) is None and (not is_hostname(item) or item.replace(".", "").isdigit()):
                    found.append(problem(path, "must be an IP address or host name"))
            elif lowered.endswith("port") and as_numeric_string(item) is not None:
                if not 0 <= as_numeric_string(item) <= 65535:
                    found.append(problem(path, "must be a port number (0–65535)"))
            else:
                found += _value_problems(item, path, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _value_problems(item, f"{base}/{index}", depth + 1)
    return found


DRIVER = AppearXDriver()
