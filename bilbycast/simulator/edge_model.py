"""In-memory edge AppConfig v2 plus the edge's config commands (node-protocol §5.5, §7).

The model owns the configuration (with its secrets, exactly as the node stores them) and the
runtime state (which flows run, which input is on air, which tunnels are up).  Commands are
applied with the edge's own rules: a candidate config is built, checked with
:func:`validate_app_config` and committed only when valid, so a failure never leaves a half
applied change behind.

Flow commands live in :mod:`.edge_flows`, update_config / tunnels / flow groups in
:mod:`.edge_apply` (both mixed into :class:`EdgeModel`); diagnostics, media library and
replay commands in :mod:`.edge_extras`; telemetry reads this model in :mod:`.telemetry`.
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
import uuid
from typing import Any, Callable

from . import edge_rules as rules
from . import edge_validate as ev
from .edge_apply import TUNNEL_SECRETS, ApplyCommands
from .edge_extras import EdgeExtras
from .edge_flows import FlowCommands
from .edge_validate import arg as _arg
from .wire import EDGE_VERSION, CommandError, event

Emit = Callable[[dict], None]
_INDEXED = ("inputs", "outputs", "flows")

OMIT_WHEN_EMPTY = ("inputs", "outputs", "tunnels", "flow_groups", "bond_uplinks",
                   "cellular_uplinks", "starlink_uplinks")

_FLOW_NAMES = ("Main Program", "Backup Feed", "Studio B", "Sports 1", "News Desk", "Weather",
               "Remote OB", "Cloud Return", "Stadium Cam", "Newsroom Clean")


class FlowRun:
    """Runtime state of one running flow."""
    __slots__ = ("started", "generation", "active_input_id")

    def __init__(self, generation: int, active_input_id: str | None):
        self.started = time.monotonic()
        self.generation = generation
        self.active_input_id = active_input_id


def default_flows(count: int, index: int = 0) -> tuple[list, list, list]:
    """``count`` believable flows (inputs, outputs, flows) for a freshly simulated edge."""
    inputs, outputs, flows = [], [], []
    third = index % 250 + 1
    for k in range(count):
        n = k + 1
        kind = k % 3
        if kind == 0:
            inp = {"id": f"srt-in-{n}", "name": f"Camera SRT {n}", "type": "srt",
                   "mode": "listener", "local_addr": f"0.0.0.0:{9000 + k}",
                   "passphrase": f"sim-passphrase-{n:03d}", "aes_key_len": 16}
        elif kind == 1:
            inp = {"id": f"rtp-in-{n}", "name": f"Contribution RTP {n}", "type": "rtp",
                   "bind_addr": f"239.20.{third}.{n % 250}:5004"}
        else:
            inp = {"id": f"srt-in-{n}", "name": f"Remote SRT {n}", "type": "srt",
                   "mode": "caller", "remote_addr": f"203.0.113.{n % 250 + 1}:{9100 + k}",
                   "latency_ms": 500}
        if k % 2 == 0:
            out = {"id": f"udp-out-{n}", "name": f"Playout {n}", "type": "udp",
                   "dest_addr": f"239.1.{third}.{n % 250}:5004"}
        else:
            out = {"id": f"srt-out-{n}", "name": f"Cloud SRT {n}", "type": "srt",
                   "mode": "caller", "remote_addr": f"198.51.100.{n % 250 + 1}:9100",
                   "latency_ms": 500, "passphrase": f"cloud-passphrase-{n:03d}",
                   "aes_key_len": 32}
        inputs.append(ev.parse_input(inp))
        outputs.append(ev.parse_output(out))
        name = _FLOW_NAMES[k % len(_FLOW_NAMES)] + ("" if k < len(_FLOW_NAMES) else f" {n}")
        flows.append(ev.parse_flow({"id": f"flow-{n}", "name": name, "enabled": True,
                                    "input_ids": [inp["id"]], "output_ids": [out["id"]]}))
    return inputs, outputs, flows


class EdgeModel(FlowCommands, ApplyCommands):
    def __init__(self, *, device_name: str = "Simulated Edge", urls: list[str] | None = None,
                 accept_self_signed_cert: bool = False, cert_fingerprint: str | None = None,
                 flows: int = 0, index: int = 0, rng: random.Random | None = None,
                 emit: Emit | None = None, bind_watch_secs: float = 0.6,
                 occupied_ports: set | None = None, listen_port: int = 8080):
        self.rng = rng or random.Random()
        self.emit: Emit = emit or (lambda payload: None)
        self.bind_watch_secs = bind_watch_secs
        #: (protocol, port) pairs held by "other programs" on the simulated host: binds to
        #: them pass config validation but fail at runtime (the 600 ms bind watch)
        self.occupied_ports: set = set(occupied_ports or ())
        self.urls = list(urls or [])
        self.accept_self_signed_cert = accept_self_signed_cert
        self.cert_fingerprint = cert_fingerprint
        self.software_version = EDGE_VERSION
        self.manager_node_id: str | None = None
        self.setup_enabled = True
        self.config: dict = {
            "version": 2,
            "node_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "server": {"listen_addr": "0.0.0.0", "listen_port": listen_port},
            "device_name": device_name,
            "flows": [],
        }
        self.rev = 0
        self._index_rev = -1
        self._index: dict[str, dict[str, dict]] = {}
        inputs, outputs, flow_list = default_flows(flows, index)
        if flow_list:
            self.config.update(inputs=inputs, outputs=outputs, flows=flow_list)
        self.running: dict[str, FlowRun] = {}
        self.tunnel_started: dict[str, float] = {}
        self._generation = 0
        self.tunnel_listeners: list[Callable[[str, dict | None], None]] = []
        self.extras = EdgeExtras(self)
        for flow in flow_list:
            self._start(flow["id"], quiet=True)

    # ------------------------------------------------------------------ lookups
    def items(self, coll: str) -> list[dict]:
        return self.config.get(coll) or []

    def find(self, coll: str, item_id: str) -> dict | None:
        if coll in _INDEXED:
            if self._index_rev != self.rev:
                self._index = {c: {i.get("id"): i for i in self.items(c)} for c in _INDEXED}
                self._index_rev = self.rev
            return self._index[coll].get(item_id)
        for item in self.items(coll):
            if item.get("id") == item_id:
                return item
        return None

    def touch(self) -> None:
        """Call after replacing or adding to config collections (invalidates the index)."""
        self.rev += 1

    def flow(self, flow_id: str) -> dict:
        flow = self.find("flows", flow_id)
        if flow is None:
            raise CommandError(f"Flow '{flow_id}' not found")
        return flow

    def flows_using_input(self, input_id: str) -> list[dict]:
        return [f for f in self.items("flows") if input_id in (f.get("input_ids") or [])]

    def flows_using_output(self, output_id: str) -> list[dict]:
        return [f for f in self.items("flows") if output_id in (f.get("output_ids") or [])]

    # ------------------------------------------------------------------ get_config
    def config_response(self) -> dict:
        """AppConfig v2 as ``get_config`` returns it: secrets stripped per §7.10."""
        cfg = copy.deepcopy(self.config)
        cfg["setup_enabled"] = self.setup_enabled
        server = cfg.get("server") or {}
        server.pop("tls", None)
        server.pop("auth", None)
        cfg.pop("setup_token", None)
        nmos = cfg.get("nmos_registration")
        if isinstance(nmos, dict):
            nmos.pop("bearer_token", None)
        for tunnel in cfg.get("tunnels") or []:
            for key in TUNNEL_SECRETS:
                tunnel.pop(key, None)
        for uplink in cfg.get("cellular_uplinks") or []:
            if isinstance(uplink, dict):
                uplink.pop("password", None)
        manager: dict = {"enabled": True, "urls": list(self.urls),
                         "accept_self_signed_cert": self.accept_self_signed_cert}
        if self.cert_fingerprint:
            manager["cert_fingerprint"] = self.cert_fingerprint
        if self.manager_node_id:
            manager["node_id"] = self.manager_node_id
        cfg["manager"] = manager
        for key in OMIT_WHEN_EMPTY:
            if key in cfg and not cfg[key]:
                del cfg[key]
        cfg.setdefault("flows", [])
        return cfg

    # ------------------------------------------------------------------ runtime
    def _start(self, flow_id: str, *, quiet: bool = False) -> list[tuple]:
        """Start a flow; returns the binds that fail at runtime (occupied host ports)."""
        flow = self.flow(flow_id)
        self._generation += 1
        active = None
        for iid in flow.get("input_ids") or []:
            inp = self.find("inputs", iid)
            if inp is not None and inp.get("active", True):
                active = iid
                break
        if active is None and flow.get("input_ids"):
            active = flow["input_ids"][0]
        self.running[flow_id] = FlowRun(self._generation, active)
        if not quiet:
            self.emit(event("info", "flow", f"Flow '{flow.get('name')}' started",
                            flow_id=flow_id))
        return self.runtime_bind_failures(flow)

    def _stop(self, flow_id: str, *, quiet: bool = False, name: str | None = None) -> None:
        if self.running.pop(flow_id, None) is not None and not quiet:
            flow = self.find("flows", flow_id)
            name = name or (flow.get("name") if flow else flow_id)
            self.emit(event("info", "flow", f"Flow '{name}' stopped", flow_id=flow_id))

    def runtime_bind_failures(self, flow: dict, only_input: str | None = None) -> list[tuple]:
        failures = []
        for iid in flow.get("input_ids") or []:
            if only_input and iid != only_input:
                continue
            inp = self.find("inputs", iid)
            for bind in rules.input_binds(inp or {}):
                if (bind[0], bind[2]) in self.occupied_ports:
                    failures.append(("input_id", iid, bind))
        if not only_input:
            for oid in flow.get("output_ids") or []:
                out = self.find("outputs", oid)
                for bind in rules.output_binds(out or {}):
                    if (bind[0], bind[2]) in self.occupied_ports:
                        failures.append(("output_id", oid, bind))
        return failures

    def _bind_failure_error(self, flow_id: str, failures: list[tuple]) -> CommandError:
        """Raise the §10.2 port-conflict event(s) and build the failed ack's error."""
        first = None
        for scope_key, scope_id, bind in failures:
            proto, _host, _port, _owner, component, addr = bind
            message = (f"Port conflict: {component} could not bind to {proto} {addr} — "
                       f"address already in use")
            first = first or message
            scope = {"input_id": scope_id} if scope_key == "input_id" else {"output_id": scope_id}
            self.emit(event("critical", "port_conflict", message, flow_id=flow_id,
                            details={"error_code": "port_conflict", "component": component,
                                     "addr": addr, "protocol": proto,
                                     "error": "Address already in use (os error 98)"},
                            **scope))
        return CommandError(first or "Port conflict", "port_conflict")

    async def _bind_watch(self) -> None:
        if self.bind_watch_secs > 0:
            await asyncio.sleep(self.bind_watch_secs)

    # ------------------------------------------------------------------ commit helper
    def _commit(self, candidate: dict) -> None:
        for key in OMIT_WHEN_EMPTY:
            if key in candidate and not candidate[key]:
                del candidate[key]
        candidate.setdefault("flows", [])
        rules.validate_app_config(candidate)
        self.config = candidate
        self.touch()

    def _candidate(self) -> dict:
        return copy.deepcopy(self.config)

    # ------------------------------------------------------------------ dispatch
    async def execute(self, action: dict) -> Any:
        """Run one command action; returns the ack ``data`` (None = no data) or raises."""
        kind = action.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            result = handler(self, action)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        if isinstance(kind, str) and self.extras.handles(kind):
            return await self.extras.execute(kind, action)
        raise CommandError(f"Unknown command: {kind}", "unknown_action")

    # ------------------------------------------------------------------ inputs
    def create_input(self, action: dict) -> None:
        inp = ev.parse_input(_arg(action, "input", dict))
        if self.find("inputs", inp["id"]):
            raise CommandError(f"Duplicate input ID '{inp['id']}'")
        cand = self._candidate()
        cand.setdefault("inputs", []).append(inp)
        self._commit(cand)

    def update_input(self, action: dict) -> None:
        iid = _arg(action, "input_id")
        body = dict(_arg(action, "input", dict))
        old = self.find("inputs", iid)
        if old is None:
            raise CommandError(f"Input '{iid}' not found")
        body["id"] = iid                        # the body id is overwritten (quirk 37)
        body["active"] = old.get("active", True)
        inp = ev.parse_input(body)
        cand = self._candidate()
        cand["inputs"] = [inp if i["id"] == iid else i for i in cand["inputs"]]
        self._commit(cand)
        if inp != old:
            for flow in self.flows_using_input(iid):
                if flow["id"] in self.running:
                    self._stop(flow["id"], quiet=True)
                    self._start(flow["id"], quiet=True)

    def delete_input(self, action: dict) -> None:
        iid = _arg(action, "input_id")
        if self.find("inputs", iid) is None:
            raise CommandError(f"Input '{iid}' not found")
        if self.flows_using_input(iid):
            raise CommandError(f"Input '{iid}' is assigned to a flow — unassign first")
        cand = self._candidate()
        cand["inputs"] = [i for i in cand["inputs"] if i["id"] != iid]
        self._commit(cand)

    # ------------------------------------------------------------------ outputs
    def create_output(self, action: dict) -> None:
        out = ev.parse_output(_arg(action, "output", dict))
        if self.find("outputs", out["id"]):
            raise CommandError(f"Duplicate output ID '{out['id']}'")
        cand = self._candidate()
        cand.setdefault("outputs", []).append(out)
        self._commit(cand)

    def update_output(self, action: dict) -> None:
        oid = _arg(action, "output_id")
        body = _arg(action, "output", dict)
        if self.find("outputs", oid) is None:
            raise CommandError(f"Output '{oid}' not found", "unknown_output")
        if body.get("id") != oid:
            raise CommandError(f"Output body id '{body.get('id')}' does not match output_id "
                               f"'{oid}'", "invalid_value")
        out = ev.parse_output(body)
        cand = self._candidate()
        cand["outputs"] = [out if o["id"] == oid else o for o in cand["outputs"]]
        self._commit(cand)

    def delete_output(self, action: dict) -> None:
        oid = _arg(action, "output_id")
        if self.find("outputs", oid) is None:
            raise CommandError(f"Output '{oid}' not found", "unknown_output")
        cand = self._candidate()
        cand["outputs"] = [o for o in cand["outputs"] if o["id"] != oid]
        for flow in cand["flows"]:
            if oid in (flow.get("output_ids") or []):
                flow["output_ids"] = [x for x in flow["output_ids"] if x != oid]
                if not flow["output_ids"]:
                    del flow["output_ids"]
        self._commit(cand)

_HANDLERS: dict[str, Callable[[EdgeModel, dict], Any]] = {
    name: getattr(EdgeModel, name) for name in (
        "update_config", "create_flow", "update_flow", "update_flow_assembly", "delete_flow",
        "stop_flow", "start_flow", "restart_flow", "add_output", "remove_output", "add_input",
        "remove_input", "activate_input", "activate_output", "create_input", "update_input",
        "delete_input", "create_output", "update_output", "delete_output", "reset_counters",
        "create_tunnel", "delete_tunnel", "set_bond_uplinks", "add_flow_group",
        "update_flow_group", "remove_flow_group", "start_flow_group", "stop_flow_group",
        "add_essence_flow", "remove_essence_flow")
}
