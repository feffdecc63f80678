"""`edge` — Edge Transport Node (product.md §7.1; node-protocol.md §5.5, §7; edge 0.106.0)."""

from __future__ import annotations

from typing import Any

from . import edge_live, edge_rules
from . import edge_schema as S
from .base import ActionError, Driver, problem, raise_for_problems
from .edge_catalogue import COMMANDS
from .payload import as_dict, as_dicts, as_list, as_str
from .schema_errors import make_validator, schema_fields

# Field-level capability gates (node-protocol.md §4.3 gating guide): an edge without the
# capability would silently accept and ignore these.
TYPE_CAPABILITIES = {"webrtc": "webrtc", "whep": "webrtc", "st2110_30": "st2110-30",
                     "st2110_31": "st2110-31", "st2110_40": "st2110-40", "st2110_20": "st2110-20",
                     "st2110_23": "st2110-23", "display": "display", "sdi": "sdi-decklink",
                     "mosaic": "mv-compositor", "mxl_video": "mxl-video", "mxl_audio": "mxl-audio",
                     "mxl_anc": "mxl-anc"}

# Which config collection and id argument each action entity field corresponds to.
_ENTITY_FIELDS = {"input": ("inputs", "input_id"), "output": ("outputs", "output_id"),
                  "flow": ("flows", "flow_id"), "tunnel": ("tunnels", "tunnel_id")}


class EdgeDriver(Driver):
    device_type = "edge"
    display_name = "Edge Transport Node"
    color = "#60a5fa"
    accent = None
    icon = "edge"
    features = frozenset({"flows", "inputs_outputs", "thumbnails", "config_editor", "stats_history",
                          "secret_rotation", "topology_ports"})
    protocol_version = 4
    known_protocol_versions = frozenset({4})
    stale_after_secs = 10
    sequential_commands = False
    commands = COMMANDS
    history_metrics = edge_live.HISTORY_METRICS
    summary_metrics = ({"key": "tunnels_active", "label": "Tunnels", "unit": None},)
    # §7.10 kept credentials, plus the stripped ones a push or a command may carry.
    secret_paths = ("inputs[*].passphrase", "inputs[*].stream_key", "inputs[*].username",
                    "inputs[*].password", "inputs[*].bearer_token", "outputs[*].passphrase",
                    "outputs[*].stream_key", "outputs[*].bearer_token", "outputs[*].auth_token",
                    "**.passphrase", "**.tunnel_encryption_key", "**.tunnel_bind_secret",
                    "**.tunnel_psk", "**.tls_key_pem", "manager.node_secret",
                    "manager.registration_token", "server.tls", "server.auth", "setup_token",
                    "nmos_registration.bearer_token", "cellular_uplinks[*].password")
    entity_id_keys = ("id", "interface")
    action_entities = {"config": ("", None, False), "input": ("inputs", "input_id", False),
                       "output": ("outputs", "output_id", False), "flow": ("flows", "flow_id", False),
                       "tunnel": ("tunnels", "tunnel_id", False), "inputs": ("inputs", None, True),
                       "outputs": ("outputs", None, True)}
    editor = "edge_forms"
    detail_panels = ("resources", "network_interfaces", "flows", "events")
    entity_schemas = S.entity_schemas()
    config_schema = S.APP_CONFIG
    ai_description = (
        "Edge Transport Node (bilbycast-edge). Config model v2: top-level `inputs`, `outputs` and "
        "`flows`; a flow references inputs and outputs by id (`input_ids`, `output_ids`), and "
        "inputs/outputs must exist before a flow uses them (use `deploy_flow` to create all in one "
        "step). Ids are 1–64 characters of letters, digits, '.', '_' or '-'. Input types: srt, rtp, "
        "udp, rist, rtmp, rtsp, webrtc (WHIP server), whep, st2110_*, test_pattern, …; output "
        "types: srt, rtp, udp, rist, rtmp, hls, cmaf, webrtc, st2110_*, …. SRT `mode` is caller "
        "(needs `remote_addr`), listener (needs `local_addr`) or rendezvous (both); `passphrase` "
        "is 10–79 characters; `latency_ms` defaults to 120. Listening addresses are `ip:port` "
        "(0.0.0.0 for all interfaces); two listeners on the same protocol and port conflict. RIST "
        "ports are even. RTMP outputs need `dest_url` (rtmp://) and `stream_key`; HLS needs "
        "`ingest_url`. UDP/RTP outputs send to `dest_addr` (multicast allowed, dscp default 46). "
        "Stats: flow `state` is Running/Idle; flow `health` is Healthy/Warning/Error/Critical; "
        "bitrates are bits per second. Secrets appear as {{secret}} and must be kept as-is.")

    def __init__(self) -> None:
        super().__init__()
        self._config_validator = make_validator(S.APP_CONFIG)

    # -- checks ------------------------------------------------------------------------------

    def required_capabilities(self, action: dict) -> list[tuple[str, str]]:
        needed: list[tuple[str, str]] = []
        for key, base in (("input", "/input"), ("output", "/output")):
            entity = action.get(key)
            kind = as_str(entity.get("type")) if isinstance(entity, dict) else None
            if kind in TYPE_CAPABILITIES:
                needed.append((TYPE_CAPABILITIES[kind], f"{base}/type"))
        for key in ("inputs", "outputs"):
            for index, entity in enumerate(as_dicts(action.get(key))):
                if as_str(entity.get("type")) in TYPE_CAPABILITIES:
                    needed.append((TYPE_CAPABILITIES[entity["type"]], f"/{key}/{index}/type"))
        tunnels = [(action["tunnel"], "/tunnel")] if isinstance(action.get("tunnel"), dict) else []
        config = action.get("config")
        if isinstance(config, dict):
            for key in ("inputs", "outputs"):
                for index, entity in enumerate(as_dicts(config.get(key))):
                    if as_str(entity.get("type")) in TYPE_CAPABILITIES:
                        needed.append((TYPE_CAPABILITIES[entity["type"]], f"/config/{key}/{index}/type"))
            tunnels += [(t, f"/config/tunnels/{i}") for i, t in enumerate(as_dicts(config.get("tunnels")))]
            if config.get("tuning"):
                needed.append(("node_tuning", "/config/tuning"))
        for tunnel, base in tunnels:
            if tunnel.get("transport") == "udp":
                needed.append(("native-udp-tunnel", f"{base}/transport"))
            for key in ("interface", "source", "gateway"):
                if tunnel.get(key):
                    needed.append(("tunnel-nic-pin", f"{base}/{key}"))
        return needed

    def validate(self, action: dict, config: dict | None) -> list[dict]:
        kind = action["type"]
        found: list[dict] = []
        for key, check in (("input", edge_rules.input_problems), ("output", edge_rules.output_problems),
                           ("flow", edge_rules.flow_problems), ("tunnel", edge_rules.tunnel_problems)):
            if isinstance(action.get(key), dict):
                found += check(action[key], f"/{key}")
        if kind == "update_config":
            return [dict(p, path="/config" + p["path"]) for p in edge_rules.config_problems(action["config"])]
        if kind == "deploy_flow":
            return found + self._deploy_problems(action, config)
        if kind == "update_flow" and action.get("flow_id") not in (None, action["flow"].get("id")):
            found.append(problem("/flow/id", "must equal flow_id"))
        if kind == "update_output" and action["output"].get("id") not in (None, action["output_id"]):
            found.append(problem("/output/id", "must equal output_id (the node requires it)"))
        if isinstance(config, dict):
            found += self._reference_problems(action, config)
        return found

    def _reference_problems(self, action: dict, config: dict) -> list[dict]:
        """Checks against the cached config: ids, references, membership and port conflicts."""
        kind = action["type"]
        ids = {c: edge_rules.entity_ids(config.get(c)) for c in ("inputs", "outputs", "flows")}
        flows = edge_rules.by_id(config.get("flows"))
        found: list[dict] = []
        flow_id = action.get("flow_id")
        if isinstance(flow_id, str) and kind not in ("update_flow",) and flow_id not in flows:
            found.append(problem("/flow_id", f"flow '{flow_id}' does not exist on this node"))
            return found
        flow = flows.get(flow_id)
        for key, collection in (("input_id", "inputs"), ("output_id", "outputs")):
            ident = action.get(key)
            if not isinstance(ident, str):
                continue
            if flow is not None and kind in ("activate_input", "activate_output", "remove_input", "remove_output"):
                if ident not in as_list(flow.get(key + "s")):
                    found.append(problem(f"/{key}", f"'{ident}' is not part of flow '{flow_id}'"))
            elif ident not in ids[collection]:
                found.append(problem(f"/{key}", f"{key[:-3]} '{ident}' does not exist on this node"))
        if kind == "delete_input" and not found:
            users = [ident for ident, f in flows.items() if action["input_id"] in as_list(f.get("input_ids"))]
            if users:
                found.append(problem("/input_id", f"input '{action['input_id']}' is assigned to flow "
                                                  f"'{users[0]}'; unassign it first"))
        for key, collection in (("input", "inputs"), ("output", "outputs")):
            entity = action.get(key)
            if not isinstance(entity, dict):
                continue
            replacing = action.get(f"{key}_id") if kind.startswith("update_") else None
            if replacing is None and entity.get("id") in ids[collection]:
                found.append(problem(f"/{key}/id", f"{key} id '{entity.get('id')}' already exists on this node"))
            exclude = [(key, replacing)] if replacing else []
            found += edge_rules.conflict_problems(edge_rules.entity_binds(key, entity, f"/{key}"),
                                                  edge_rules.config_binds(config, exclude=exclude))
        if kind in ("create_flow", "update_flow"):
            new_flow = action["flow"]
            new_id = action.get("flow_id") or new_flow.get("id")
            if kind == "create_flow" and new_id in flows:
                found.append(problem("/flow/id", f"Duplicate flow ID '{new_id}'"))
            found += edge_rules.reference_problems(new_flow, "/flow", ids["inputs"], ids["outputs"])
            # create_flow starts the flow even when `enabled` is false (quirk 14).
            checked = dict(new_flow, id=new_id, enabled=True if kind == "create_flow" else new_flow.get("enabled", True))
            others = [f for ident, f in flows.items() if ident != new_id]
            found += [p for p in edge_rules.membership_problems(
                others + [checked], "", pointers=[f"/flows/{i}" for i in range(len(others))] + ["/flow"])
                if p["path"].startswith("/flow/")]
        return found

    def _deploy_problems(self, action: dict, config: dict | None) -> list[dict]:
        inputs, outputs, flow = as_dicts(action.get("inputs")), as_dicts(action.get("outputs")), action["flow"]
        found: list[dict] = []
        for index, entity in enumerate(inputs):
            found += edge_rules.input_problems(entity, f"/inputs/{index}")
        for index, entity in enumerate(outputs):
            found += edge_rules.output_problems(entity, f"/outputs/{index}")
        found += edge_rules.duplicate_id_problems(inputs, "/inputs")
        found += edge_rules.duplicate_id_problems(outputs, "/outputs")
        known = isinstance(config, dict)
        cfg = config if known else {}
        existing_inputs = edge_rules.entity_ids(cfg.get("inputs"))
        existing_outputs = edge_rules.entity_ids(cfg.get("outputs"))
        for key, items, existing in (("inputs", inputs, existing_inputs), ("outputs", outputs, existing_outputs)):
            for index, entity in enumerate(items):
                if entity.get("id") in existing:
                    found.append(problem(f"/{key}/{index}/id", f"id '{entity.get('id')}' already exists on this node"))
        if known:   # without a config, references to existing entities cannot be checked
            found += edge_rules.reference_problems(flow, "/flow",
                                                   existing_inputs | edge_rules.entity_ids(inputs),
                                                   existing_outputs | edge_rules.entity_ids(outputs))
        flows = as_dicts(cfg.get("flows"))
        if flow.get("id") in edge_rules.entity_ids(flows):
            found.append(problem("/flow/id", f"Duplicate flow ID '{flow.get('id')}'"))
        found += [p for p in edge_rules.membership_problems(
            flows + [dict(flow, enabled=True)], "", pointers=[f"/flows/{i}" for i in range(len(flows))] + ["/flow"])
            if p["path"].startswith("/flow/")]
        candidates = [b for i, e in enumerate(inputs) for b in edge_rules.entity_binds("input", e, f"/inputs/{i}")]
        candidates += [b for i, e in enumerate(outputs) for b in edge_rules.entity_binds("output", e, f"/outputs/{i}")]
        found += edge_rules.conflict_problems(candidates, edge_rules.config_binds(cfg) if known else [])
        return found

    def validate_config(self, config: Any) -> None:
        fields = schema_fields(self._config_validator, config)
        if fields:
            raise ActionError(422, "validation_failed", "The configuration failed validation", fields=fields)
        raise_for_problems(edge_rules.config_problems(config), "The configuration was refused")

    # -- composite deploy_flow (product.md §7.1) ---------------------------------------------

    def expand(self, action: dict) -> list[dict]:
        """deploy_flow → create_input…, create_output…, create_flow (+ stop_flow when the flow
        should stay stopped, because create_flow always starts it)."""
        if action.get("type") != "deploy_flow":
            return [action]
        steps = [{"type": "create_input", "input": i} for i in as_dicts(action.get("inputs"))]
        steps += [{"type": "create_output", "output": o} for o in as_dicts(action.get("outputs"))]
        steps.append({"type": "create_flow", "flow": action["flow"]})
        if action["flow"].get("enabled") is False:
            steps.append({"type": "stop_flow", "flow_id": action["flow"].get("id")})
        return steps

    @staticmethod
    def rollback(completed: list[dict]) -> list[dict]:
        """Undo steps for the expanded commands that succeeded, newest first."""
        undo = {"create_input": ("delete_input", "input_id", "input"),
                "create_output": ("delete_output", "output_id", "output"),
                "create_flow": ("delete_flow", "flow_id", "flow")}
        steps = []
        for step in reversed(completed):
            if step.get("type") in undo:
                kind, key, body = undo[step["type"]]
                steps.append({"type": kind, key: as_dict(step.get(body)).get("id")})
        return steps

    # -- live state --------------------------------------------------------------------------

    def _summarise(self, stats, health, now, prev):
        return edge_live.summarise(self, stats, health, now, prev)

    def _history_samples(self, stats: dict):
        return edge_live.history_samples(stats)

    def topology_ports(self, config: Any, stats: Any, health: Any = None) -> list[dict]:
        try:
            return edge_live.topology_ports(config, stats)
        except Exception:   # noqa: BLE001 — a broken payload must not break the topology
            return []

    def tunnels(self, config: Any, stats: Any) -> list[dict]:
        try:
            return edge_live.tunnel_ends(config, stats)
        except Exception:   # noqa: BLE001
            return []

    def endpoints(self, config: Any, stats: Any = None) -> list[dict]:
        try:
            return edge_live.endpoints(config, stats)
        except Exception:   # noqa: BLE001
            return []

    # -- previews and AI ---------------------------------------------------------------------

    def _preview_states(self, config, action, spec):
        cfg = config or {}
        kind = action["type"]
        if kind == "update_config":
            return None, cfg, effective_push(cfg, action["config"]), ()
        if kind == "deploy_flow":
            after = {"inputs": action.get("inputs") or [], "outputs": action.get("outputs") or [],
                     "flows": [action["flow"]]}
            return action["flow"].get("id"), {"inputs": [], "outputs": [], "flows": []}, after, ()
        entity_kind = spec.preview_entity
        if entity_kind not in _ENTITY_FIELDS:
            return action.get("flow_id"), None, None, ()
        collection, id_arg = _ENTITY_FIELDS[entity_kind]
        prefix = (collection, 0)
        body = action.get(entity_kind) if isinstance(action.get(entity_kind), dict) else None
        ident = action.get(id_arg) or (body or {}).get("id")
        current = edge_rules.by_id(cfg.get(collection)).get(ident) if isinstance(ident, str) else None
        if spec.preview_kind == "delete":
            return ident, current, None, prefix
        if kind in ("start_flow", "stop_flow") and current is not None:
            return ident, current, dict(current, enabled=(kind == "start_flow")), prefix
        if kind == "activate_output" and current is not None:
            return ident, current, dict(current, active=action["active"]), prefix
        if kind in ("remove_input", "remove_output") and current is not None:
            member = action["input_id" if kind == "remove_input" else "output_id"]
            key = "input_ids" if kind == "remove_input" else "output_ids"
            return ident, current, dict(current, **{key: [i for i in as_list(current.get(key)) if i != member]}), prefix
        if body is None:
            return ident, None, None, prefix
        return ident, current, (dict(body, id=ident) if ident else body), prefix

    def _ai_state(self, config, stats, health, now):
        state = self._summary_state(stats, health, now)
        masked = self.mask_config(as_dict(config))
        live = {f["flow_id"]: f for f in as_dicts(as_dict(stats).get("flows")) if isinstance(f.get("flow_id"), str)}
        flows = []
        for flow in as_dicts(masked.get("flows")):
            running = live.get(flow.get("id")) if isinstance(flow.get("id"), str) else None
            flows.append({"id": flow.get("id"), "name": flow.get("name"), "enabled": flow.get("enabled", True),
                          "state": (running or {}).get("state"), "health": (running or {}).get("health"),
                          "bitrate_bps": as_dict((running or {}).get("input")).get("bitrate_bps"),
                          "input_ids": flow.get("input_ids", []), "output_ids": flow.get("output_ids", [])})
        keep_in = ("id", "name", "type", *edge_live.ADDRESS_FIELDS)
        keep_out = keep_in + ("active",)
        state["flows"] = flows
        state["inputs"] = [{k: v for k, v in i.items() if k in keep_in} for i in as_dicts(masked.get("inputs"))]
        state["outputs"] = [{k: v for k, v in o.items() if k in keep_out} for o in as_dicts(masked.get("outputs"))]
        state["tunnels"] = self.tunnels(config, stats)
        return state


# §7.11 step 7: the blocks an edge adopts from a push; everything else (`manager`, `node_id`,
# `setup_enabled`, …) stays as the node has it.
ADOPTED = ("inputs", "outputs", "flows", "tunnels", "server", "monitor", "flow_groups", "device_name",
           "resource_limits", "cellular_uplinks", "starlink_uplinks", "bond_uplinks",
           "shared_leg_broker", "logging", "nmos_registration", "upgrades", "tuning")
# §7.11 step 3: adopted blocks the edge keeps from its own config when a push leaves them out.
KEPT_WHEN_ABSENT = ("upgrades", "monitor", "resource_limits", "logging", "nmos_registration",
                    "device_name", "tuning")


def effective_push(current: dict, pushed: dict) -> dict:
    """The config an edge will hold after `update_config` of `pushed` (for previews)."""
    result = {key: value for key, value in current.items() if key not in ADOPTED}
    for key in ADOPTED:
        if key in pushed:
            result[key] = pushed[key]
        elif key in KEPT_WHEN_ABSENT and key in current:
            result[key] = current[key]
    return result


DRIVER = EdgeDriver()
