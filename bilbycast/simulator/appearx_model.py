"""A simulated Appear X chassis behind an appear_x gateway sidecar (node-protocol §13).

The chassis has slots with discovered modules (which gate the per-slot commands), alarms that
come and go, occasional reachability outages, and the raw JSON-RPC-shaped data the sidecar
flattens into its 56-key snapshot (§13.6).  Command semantics follow §13.8: every failure
carries an ``error_code``; unknown actions are ``Unknown action: <t>``; before discovery
completes everything but ``upgrade_binary`` fails with ``discovery_in_progress``.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any, Callable

from .wire import APPEARX_VERSION, CommandError, event

_FULL_CARD = ("Xger/cardStatus", "Xger/coderService", "Xger/multiService",
              "Xger/audioProfile", "Xger/ipInterface", "Xger/cardAllocation",
              "Xger/ipConnection", "Xger/redundancyGroup", "Xger/redundancyGroupStatus",
              "Xger/poolConfig", "Xger/dpi", "Xger/dpiStatus", "Xger/esamConfig",
              "Xger/esamStatus", "Xger/scte35Config", "Xger/poisServerStatus",
              "Xger/lockStatus", "Xger/psiStatus", "Xger/imageUpload", "Xger/hipEncoder",
              "Xger/hipDecoder", "TimeX/cardPtp", "TimeX/systemTimeSettings")
_IPGW_BOARD = ("ipGateway/input", "ipGateway/output", "ipGateway/ipinterface",
               "ipGateway/status", "ipGateway/physicalports", "ipGateway/triggers",
               "board/services", "TimeX/cardPtp", "TimeX/systemTimeSettings")
_MINIMAL_CARD = ("Xger/cardStatus", "TimeX/systemTimeSettings")

_ALARM_CATALOGUE = (("sfpRxLow", "SFP RX level low", "MINOR", "D3"),
                    ("inputLoss", "No signal on input", "MAJOR", "IN-1"),
                    ("fanSpeedLow", "Fan speed below threshold", "WARNING", "FAN-2"),
                    ("ccErrors", "Continuity counter errors", "MINOR", "IN-2"),
                    ("psuFailure", "Power supply failure", "CRITICAL", "PSU-1"))

# action → (gate module or None, argument key for sets, kind)
# kinds: get | set | keyed | delete | global_get | global_set
_ACTIONS: dict[str, tuple[str | None, str | None, str]] = {
    "get_inputs": ("ipGateway/input", "inputs", "get"),
    "get_outputs": ("ipGateway/output", "outputs", "get"),
    "get_ip_interfaces": ("ipGateway/ipinterface", "ip_interfaces", "get"),
    "get_services": ("board/services", "input_services", "get"),
    "get_ip_input_status": ("ipGateway/status", "ip_input_status", "get"),
    "get_ip_output_status": ("ipGateway/status", "ip_output_status", "get"),
    "get_srt_input_status": ("ipGateway/status", "srt_input_status", "get"),
    "get_srt_output_status": ("ipGateway/status", "srt_output_status", "get"),
    "get_pid_status": ("ipGateway/status", "pid_status", "get"),
    "get_physical_ports": ("ipGateway/physicalports", "phys_ports", "get"),
    "get_virtual_ports": ("ipGateway/physicalports", "virtual_ports", "get"),
    "get_triggers": ("ipGateway/triggers", "triggers", "get"),
    "set_ip_input": ("ipGateway/input", "inputs", "set"),
    "set_ip_output": ("ipGateway/output", "outputs", "set"),
    "get_ptp_status": ("TimeX/cardPtp", "ptp_status", "get"),
    "get_ptp_settings": ("TimeX/cardPtp", "ptp_settings", "get"),
    "get_card_ptp_capabilities": ("TimeX/cardPtp", "ptp_capabilities", "get"),
    "set_ptp_settings": ("TimeX/cardPtp", "settings", "set"),
    "get_system_time_status": ("TimeX/systemTimeSettings", "system_time_status", "get"),
    "get_system_time_settings": ("TimeX/systemTimeSettings", "system_time_settings", "get"),
    "get_current_utc_time": ("TimeX/systemTimeSettings", "utc_time", "get"),
    "set_system_time_settings": ("TimeX/systemTimeSettings", "settings", "set"),
    "get_card_status": ("Xger/cardStatus", "card_status", "get"),
    "get_pool_config": ("Xger/poolConfig", "pool_config", "get"),
    "set_pool_config": ("Xger/poolConfig", "pool_config", "set"),
    "get_dpi": ("Xger/dpi", "dpi", "get"),
    "set_dpi": ("Xger/dpi", "dpi", "set"),
    "get_dpi_status": ("Xger/dpiStatus", "dpi_status", "get"),
    "get_esam_config": ("Xger/esamConfig", "esam_config", "get"),
    "set_esam_config": ("Xger/esamConfig", "esam_config", "set"),
    "get_esam_status": ("Xger/esamStatus", "esam_status", "get"),
    "get_scte35_config": ("Xger/scte35Config", "scte35_config", "get"),
    "set_scte35_config": ("Xger/scte35Config", "scte35_config", "set"),
    "get_scte35_history": ("Xger/scte35LogApi", None, "get"),   # never discovered on 0.11.8
    "get_pois_server_status": ("Xger/poisServerStatus", "pois_server_status", "get"),
    "get_lock_status": ("Xger/lockStatus", "lock_status", "get"),
    "get_psi_status": ("Xger/psiStatus", "psi_status", "get"),
    "get_images": ("Xger/imageUpload", "images", "get"),
    "get_redundancy_group_status": ("Xger/redundancyGroupStatus", "redundancy_group_status",
                                    "get"),
    "get_hip_encoders": ("Xger/hipEncoder", "hip_encoders", "get"),
    "set_hip_encoders": ("Xger/hipEncoder", "config", "set"),
    "get_hip_decoders": ("Xger/hipDecoder", "hip_decoders", "get"),
    "set_hip_decoders": ("Xger/hipDecoder", "config", "set"),
    "clear_all_counters": ("Xger/hipEncoder", None, "set"),
    "get_alarms": (None, "alarms", "global_get"),
    "get_registered_alarms": (None, "registered_alarms", "global_get"),
    "get_all_alarm_overrides": (None, "alarm_overrides", "global_get"),
    "get_alarm_history": (None, "alarm_history", "global_get"),
    "set_alarm_overrides": (None, "overrides", "global_set"),
    "delete_alarm_overrides": (None, "ids", "global_set"),
    "get_chassis": (None, "chassis", "global_get"),
    "get_features_info": (None, "features_info", "global_get"),
    "get_license": (None, "license", "global_get"),
    "get_hardware_id": (None, "hardware_id", "global_get"),
    "install_license": (None, "license", "global_set"),
}
# keyed collections: (module, snapshot key, set-argument key)
for _name, _module, _key, _arg in (
        ("coder_services", "Xger/coderService", "coder_services", "coder_services"),
        ("multi_services", "Xger/multiService", "multi_services", "multi_services"),
        ("audio_profiles", "Xger/audioProfile", "audio_profiles", "audio_profiles"),
        ("xger_ip_interfaces", "Xger/ipInterface", "xger_ip_interfaces", "ip_interfaces"),
        ("ip_connections", "Xger/ipConnection", "ip_connections", "ip_connections"),
        ("redundancy_groups", "Xger/redundancyGroup", "redundancy_groups",
         "redundancy_groups")):
    _ACTIONS[f"get_{_name}"] = (_module, _key, "get")
    _ACTIONS[f"set_{_name}"] = (_module, _key + "|" + _arg, "keyed")
    _ACTIONS[f"delete_{_name}"] = (_module, _key, "delete")
_ACTIONS["get_card_allocations"] = ("Xger/cardAllocation", "card_allocations", "get")
_ACTIONS["set_card_allocations"] = ("Xger/cardAllocation", "card_allocations|card_allocations",
                                    "keyed")

SLOT_MAP_KEYS = ("card_status", "lock_status", "redundancy_group_status", "hip_encoder_transport",
                 "hip_decoder_status", "hip_network_status", "sdi_port_status", "pool_config",
                 "psi_status", "hip_encoders", "hip_decoders", "dpi_status", "esam_status",
                 "pois_server_status", "sdi_card_info", "sdi_physical_ports", "triggers",
                 "ptp_status", "ptp_settings", "system_time_status")
FLAT_KEYS = ("inputs", "outputs", "ip_interfaces", "ip_input_status", "ip_output_status",
             "srt_input_status", "srt_output_status", "phys_ports", "virtual_ports",
             "coder_services", "multi_services", "audio_profiles", "xger_ip_interfaces",
             "card_allocations", "ip_connections", "redundancy_groups", "output_services",
             "input_services")
POOL_KEYS = ("pool_video_profiles", "pool_audio_profiles", "pool_coder_services",
             "pool_test_generator_profiles", "decoder_pool_video_profiles",
             "decoder_pool_coder_services")


def _slot_arg(action: dict) -> int:
    """Quirk 42: a missing or non-integer slot silently becomes slot 1."""
    slot = action.get("slot")
    if isinstance(slot, int) and not isinstance(slot, bool) and slot >= 0:
        return slot
    return 1


class Chassis:
    def __init__(self, *, index: int = 0, rng: random.Random | None = None,
                 emit: Callable[[dict], None] | None = None, discovery_secs: float = 3.0,
                 gateway_host: str = "x-gw-1"):
        self.rng = rng or random.Random()
        self.emit = emit or (lambda payload: None)
        self.software_version = APPEARX_VERSION
        self.address = f"10.60.{(index // 254) % 255}.{index % 254 + 1}"
        self.gateway_host = gateway_host
        self.egress_ip = f"10.61.{(index // 254) % 255}.{index % 254 + 1}"
        big = index % 2 == 0
        self.model = "X20_2RU" if big else "X5_1RU"
        self.started = time.monotonic()
        self.discovery_secs = discovery_secs
        self.discovery_attempts = 0
        self.chassis_uptime0 = self.rng.randint(3600, 90 * 86400)
        self.slots: dict[int, dict] = {}
        if big:
            self._add_slot(1, "X20 HEVC Encoder", "net.appear.x20.hevc-enc", _FULL_CARD,
                           ["encoder", "srt", "hevc"])
            self._add_slot(2, "IP Gateway 2x100G", "net.appear.ipgw", _IPGW_BOARD,
                           ["ipgateway", "srt", "2022-7"])
        else:
            self._add_slot(1, "X5", "net.appear.x5.hevc-sdi", _MINIMAL_CARD, ["encoder", "srt"])
        self.data: dict[str, Any] = {k: [] for k in FLAT_KEYS}
        self.maps: dict[str, dict] = {k: {} for k in SLOT_MAP_KEYS}
        self.globals: dict[str, Any] = {"registered_alarms": [], "alarm_overrides": [],
                                        "alarm_history": [], "license": {"valid": True},
                                        "hardware_id": f"HW-{index:06d}"}
        self._seed()
        self.alarms: dict[str, dict] = {}
        self._next_alarm = 1
        self.reachable = True
        self.consecutive_failures = 0
        self.last_error_code: str | None = None
        self.last_poll_ok = True
        self.last_success_unix = int(time.time())
        self.outage_until = 0.0
        self.unreachable_since: float | None = None
        self.unreachable_reported = False
        self.temp = 40.0 + self.rng.uniform(-3, 6)

    # ------------------------------------------------------------------ setup
    def _add_slot(self, slot: int, name: str, sw_id: str, modules: tuple, features: list):
        self.slots[slot] = {
            "slot": slot, "name": name, "serial": str(1250000 + self.rng.randint(0, 99999)),
            "software_id": sw_id, "software_display_name": name, "software_version": "1.0.2",
            "features": features,
            "discovered_modules": [{"family": m.split("/")[0], "interface": m.split("/")[0],
                                    "module": m.split("/")[1], "version": "2.55"}
                                   for m in modules]}

    def modules(self, slot: int) -> set[str]:
        info = self.slots.get(slot)
        if not info:
            return set()
        return {f"{m['family']}/{m['module']}" for m in info["discovered_modules"]}

    def _seed(self) -> None:
        for slot, info in self.slots.items():
            mods = self.modules(slot)
            self.maps["card_status"][str(slot)] = {"ptpLock": {"value": "LOCKED"},
                                                   "qsfpStatus": {"value": []}}
            self.maps["ptp_status"][str(slot)] = {"state": "LOCKED", "domain": 127}
            if "ipGateway/input" in mods:
                for n in range(1, 3):
                    key = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                    self.data["inputs"].append({"key": key, "value": {"label": f"Feed {n}"},
                                                "slot": slot})
                    self.data["ip_input_status"].append(
                        {"key": key, "slot": slot, "value": {"bitrates": {"value": {
                            "effectiveFlowBitrate": str(self.rng.randint(8, 40) * 1_000_000)}}}})
            if "Xger/coderService" in mods:
                key = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                self.data["coder_services"].append({"key": key, "value": {"label": "HEVC 1"},
                                                    "slot": slot})
            self.data["input_services"].append({"label": "SRT out", "slot": slot})

    # ------------------------------------------------------------------ state
    @property
    def discovered(self) -> bool:
        return time.monotonic() - self.started >= self.discovery_secs

    def alarm_list(self) -> list[dict]:
        return list(self.alarms.values())

    def alarm_status(self) -> str:
        sev = {a["severity"] for a in self.alarms.values()}
        if sev & {"MAJOR", "CRITICAL"}:
            return "critical"
        if sev & {"MINOR", "WARNING"}:
            return "degraded"
        return "ok"

    @staticmethod
    def _event_severity(raw: str) -> str:
        return {"CRITICAL": "critical", "MAJOR": "critical", "MINOR": "minor",
                "WARNING": "minor"}.get(raw, "info")

    def _alarm_event(self, alarm: dict) -> dict:
        details = {"alarm_id": alarm["alarmId"], "severity": alarm["severity"],
                   "slot": alarm["configObjectSlot"], "object_label": alarm["configObjectLabel"]}
        return event(self._event_severity(alarm["severity"]), "alarm",
                     f"Alarm raised: {alarm['alarmName']} — {alarm['alarmDescription']}",
                     details=details)

    def reemit_alarms(self) -> None:
        """Quirk 40: every 1800 s every active alarm is re-emitted as raised."""
        for alarm in self.alarms.values():
            self.emit(self._alarm_event(alarm))

    def poll(self) -> None:
        """One 10 s alarm poll: alarms come and go, the target occasionally vanishes."""
        now = time.monotonic()
        rng = self.rng
        if now >= self.outage_until and self.reachable and rng.random() < 1 / 720:
            self.outage_until = now + rng.uniform(30, 150)
        if now < self.outage_until:
            self.last_poll_ok = False
            self.consecutive_failures += 1
            self.last_error_code = rng.choice(("http_timeout", "tcp_refused"))
            if self.consecutive_failures >= 2 and self.reachable:
                self.reachable = False
                self.unreachable_since = now
                self.unreachable_reported = False
            if not self.reachable and not self.unreachable_reported \
                    and now - (self.unreachable_since or now) >= 60:
                self.unreachable_reported = True
                self.emit(event("critical", "target_reachability",
                                f"Target Appear X at {self.address} unreachable",
                                details={"error_code": "target_unreachable",
                                         "consecutive_failures": self.consecutive_failures,
                                         "target_address": self.address,
                                         "last_error_code": self.last_error_code}))
            return
        if not self.reachable or self.consecutive_failures:
            down = int(now - (self.unreachable_since or now))
            if not self.reachable:
                self.emit(event("info", "target_reachability",
                                f"Target Appear X at {self.address} reachable again "
                                f"(downtime {down} s)",
                                details={"error_code": "target_recovered",
                                         "downtime_secs": down,
                                         "target_address": self.address}))
            self.reachable = True
            self.unreachable_since = None
        self.consecutive_failures = 0
        self.last_error_code = None
        self.last_poll_ok = True
        self.last_success_unix = int(time.time())
        self.temp = min(75.0, max(30.0, self.temp + rng.gauss(0, 0.3)))
        if self.alarms and rng.random() < 0.04:
            alarm_id = rng.choice(list(self.alarms))
            del self.alarms[alarm_id]
            self.emit(event("info", "alarm", f"Alarm cleared: {alarm_id}",
                            details={"alarm_id": alarm_id}))
        elif len(self.alarms) < 3 and rng.random() < 0.02:
            name, desc, sev, label = rng.choice(_ALARM_CATALOGUE)
            if all(a["alarmName"] != name for a in self.alarms.values()):
                alarm = {"alarmId": f"a-{self._next_alarm}", "alarmName": name,
                         "alarmDescription": desc, "severity": sev,
                         "configObjectLabel": label, "configObjectSlot": min(self.slots)}
                self._next_alarm += 1
                self.alarms[alarm["alarmId"]] = alarm
                self.emit(self._alarm_event(alarm))

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> dict:
        if not self.discovered:
            return {"discovery_in_progress": True}
        slot_temps = {str(s): {"qsfp_temp_c_max": round(self.temp + s * 0.7, 1),
                               "ptp_locked": True, "ptp_state": "LOCKED"} for s in self.slots}
        snap: dict[str, Any] = {
            "status": self.alarm_status(), "version": self.software_version,
            "uptime_secs": int(time.monotonic() - self.started),
            "chassis_uptime_secs": self.chassis_uptime0 + int(time.monotonic() - self.started),
            "chassis_model": self.model, "appear_x_address": self.address,
            "chassis": {"model": self.model, "serialNumber": f"AX{self.chassis_uptime0 % 10**7}"},
            "chassis_info": {"hostname": f"appearx-{self.address.replace('.', '-')}"},
            "card_states": [{"slot": s, "state": "RUNNING"} for s in self.slots],
            "alarms": self.alarm_list(), "slots": [self.slots[s] for s in sorted(self.slots)],
            "health_signals": {"by_slot": slot_temps,
                               "global": {"qsfp_temp_c_max": max(v["qsfp_temp_c_max"]
                                                                 for v in slot_temps.values()),
                                          "ptp_locked": True}},
        }
        for key in FLAT_KEYS:
            snap[key] = self.data[key]
        for key in SLOT_MAP_KEYS:
            snap[key] = self.maps[key]
        for key in POOL_KEYS:
            snap[key] = []
        return snap

    # ------------------------------------------------------------------ commands
    def execute(self, action: dict) -> Any:
        """Returns the raw JSON-RPC ``result`` (None → the ack has no data) or raises."""
        kind = action.get("type")
        if not isinstance(kind, str) or not kind:
            raise CommandError("missing 'type' field", "validation_error")
        spec = _ACTIONS.get(kind)
        if spec is None:
            raise CommandError(f"Unknown action: {kind}", "unknown_action")
        if not self.discovered:
            raise CommandError("Chassis discovery in progress; try again shortly",
                               "discovery_in_progress")
        if not self.reachable:
            raise CommandError(f"RPC {kind} failed: connection to {self.address} timed out",
                               "vendor_api_error")
        gate, key, mode = spec
        slot = _slot_arg(action)
        if mode in ("global_get", "global_set"):
            return self._global(kind, key or "", mode, action)
        if gate and gate not in self.modules(slot):
            raise CommandError(f"{kind} requires the `{gate}` module on slot {slot}. This card "
                               f"family does not expose that interface.", "unsupported_on_card")
        if mode == "get":
            if key in self.data:
                return {"data": [{k: v for k, v in item.items() if k != "slot"}
                                 for item in self.data[key] if item.get("slot") == slot]}
            if key in self.maps:
                return {"data": self.maps[key].get(str(slot), {})}
            return {"data": {}}
        if mode == "set":
            if key is not None:
                if key not in action:
                    raise CommandError(f"missing '{key}' field", "validation_error")
                if key in ("inputs", "outputs"):
                    value = action[key]
                    items = value if isinstance(value, list) else [value]
                    self.data[key] = [i for i in self.data[key] if i.get("slot") != slot] + [
                        dict(i, slot=slot) if isinstance(i, dict) else {"value": i, "slot": slot}
                        for i in items]
                elif key in self.maps:
                    self.maps[key][str(slot)] = action[key]
            return None
        store_key, _, arg_key = (key or "").partition("|")
        if mode == "keyed":
            items = action.get(arg_key)
            if items is None:
                raise CommandError(f"missing '{arg_key}' field", "validation_error")
            if not isinstance(items, list) or not all(
                    isinstance(i, dict) and isinstance(i.get("key"), str) and i["key"]
                    and "value" in i for i in items):
                raise CommandError(f"'{arg_key}' must be an array of {{key, value}} with "
                                   f"non-empty keys", "validation_error")
            current = {i["key"]: i for i in self.data[store_key] if i.get("slot") == slot}
            for item in items:
                current[item["key"]] = {"key": item["key"], "value": item["value"], "slot": slot}
            self.data[store_key] = [i for i in self.data[store_key]
                                    if i.get("slot") != slot] + list(current.values())
            return None
        ids = action.get("ids")
        if not isinstance(ids, list):
            raise CommandError("'ids' must be an array", "validation_error")
        self.data[store_key] = [i for i in self.data[store_key]
                                if not (i.get("slot") == slot and i.get("key") in ids)]
        return None

    def _global(self, kind: str, key: str, mode: str, action: dict) -> Any:
        if mode == "global_get":
            if kind == "get_alarms":
                return {"data": self.alarm_list()}
            if kind == "get_chassis":
                return {"data": {"model": self.model, "slots": sorted(self.slots)}}
            if kind == "get_features_info":
                return {"data": {str(s): i["features"] for s, i in self.slots.items()}}
            return {"data": self.globals.get(key, {})}
        if key not in action:
            raise CommandError(f"missing '{key}' field", "validation_error")
        if key == "ids" and not isinstance(action["ids"], list):
            raise CommandError("'ids' must be an array", "validation_error")
        if kind == "set_alarm_overrides":
            self.globals["alarm_overrides"] = action["overrides"]
        elif kind == "install_license":
            self.globals["license"] = {"valid": True, "installed": True}
        return None
