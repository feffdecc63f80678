"""Edge ``update_config`` (§7.11), tunnels (§7.6), bond uplinks and flow groups (§7.7).
Mixed into :class:`.edge_model.EdgeModel`.
"""

from __future__ import annotations

import copy
import time

from . import edge_validate as ev
from .edge_validate import arg as _arg
from .wire import CommandError, event

#: keys the edge keeps when an update_config push leaves them out (§7.11 rule 3)
KEEP_WHEN_ABSENT = ("upgrades", "monitor", "resource_limits", "logging", "nmos_registration",
                    "device_name", "tuning")
#: keys adopted from a push (§7.11 rule 7); the manager block never is
ADOPTED = ("inputs", "outputs", "flows", "tunnels", "server", "monitor", "flow_groups",
           "device_name", "resource_limits", "cellular_uplinks", "starlink_uplinks",
           "bond_uplinks", "shared_leg_broker", "logging", "nmos_registration", "upgrades",
           "tuning")
TUNNEL_SECRETS = ("tunnel_encryption_key", "tunnel_bind_secret", "tunnel_psk", "tls_cert_pem",
                  "tls_key_pem")


class ApplyCommands:
    # ------------------------------------------------------------------ tunnels
    def create_tunnel(self, action: dict) -> None:
        tunnel = ev.parse_tunnel(_arg(action, "tunnel", dict))
        cand = self._candidate()
        tunnels = [t for t in cand.get("tunnels") or [] if t["id"] != tunnel["id"]]
        tunnels.append(tunnel)
        cand["tunnels"] = tunnels
        self._commit(cand)
        self.tunnel_started[tunnel["id"]] = time.monotonic()
        for listener in self.tunnel_listeners:
            listener(tunnel["id"], tunnel)

    def delete_tunnel(self, action: dict) -> None:
        tid = _arg(action, "tunnel_id")
        cand = self._candidate()
        cand["tunnels"] = [t for t in cand.get("tunnels") or [] if t["id"] != tid]
        self._commit(cand)
        self.tunnel_started.pop(tid, None)
        for listener in self.tunnel_listeners:
            listener(tid, None)

    def set_bond_uplinks(self, action: dict) -> dict:
        uplinks = _arg(action, "bond_uplinks", list)
        for up in uplinks:
            if not isinstance(up, dict) or not isinstance(up.get("interface"), str) \
                    or not isinstance(up.get("capacity_bps"), int):
                raise CommandError("Invalid bond uplink: each needs interface and capacity_bps",
                                   "validation_error")
        current = {u["interface"]: u for u in self.items("bond_uplinks")}
        if action.get("replace"):
            current = {}
        for up in uplinks:
            current[up["interface"]] = up
        self.config["bond_uplinks"] = list(current.values())
        if "shared_leg_broker" in action:
            if action["shared_leg_broker"] is None:
                self.config.pop("shared_leg_broker", None)
            else:
                self.config["shared_leg_broker"] = bool(action["shared_leg_broker"])
        return {"bond_uplinks_count": len(current)}

    # ------------------------------------------------------------------ flow groups
    def _group(self, gid: str) -> dict:
        group = self.find("flow_groups", gid)
        if group is None:
            raise CommandError(f"Flow group '{gid}' not found")
        return group

    def _put_group(self, action: dict, create: bool) -> None:
        group = copy.deepcopy(_arg(action, "flow_group", dict))
        prefix = "Invalid flow group config: "
        ev.require(group, "id", prefix)
        ev.require(group, "name", prefix)
        group.setdefault("flows", [])
        ev.check_range(group, "clock_domain", 0, 127, prefix)
        exists = self.find("flow_groups", group["id"]) is not None
        if create and exists:
            raise CommandError(f"Duplicate flow group ID '{group['id']}'")
        if not create and not exists:
            raise CommandError(f"Flow group '{group['id']}' not found")
        cand = self._candidate()
        groups = [g for g in cand.get("flow_groups") or [] if g["id"] != group["id"]]
        groups.append(group)
        cand["flow_groups"] = groups
        self._commit(cand)

    def add_flow_group(self, action: dict) -> None:
        self._put_group(action, create=True)

    def update_flow_group(self, action: dict) -> None:
        self._put_group(action, create=False)

    def remove_flow_group(self, action: dict) -> None:
        gid = _arg(action, "flow_group_id")
        self._group(gid)
        self.config["flow_groups"] = [g for g in self.items("flow_groups") if g["id"] != gid]

    def start_flow_group(self, action: dict) -> None:
        group = self._group(_arg(action, "flow_group_id"))
        started = []
        for fid in group.get("flows") or []:
            if fid in self.running:
                continue
            failures = self._start(fid)
            started.append(fid)
            if failures:                        # all-or-nothing: roll back
                for done in started:
                    self._stop(done, quiet=True)
                raise self._bind_failure_error(fid, failures)
        for fid in group.get("flows") or []:
            self.flow(fid)["enabled"] = True

    def stop_flow_group(self, action: dict) -> None:
        group = self._group(_arg(action, "flow_group_id"))
        for fid in group.get("flows") or []:
            self._stop(fid)
            flow = self.find("flows", fid)
            if flow is not None:
                flow["enabled"] = False

    def add_essence_flow(self, action: dict) -> None:
        group = self._group(_arg(action, "flow_group_id"))
        fid = _arg(action, "flow_id")
        self.flow(fid)
        if fid not in group.setdefault("flows", []):
            group["flows"].append(fid)

    def remove_essence_flow(self, action: dict) -> None:
        group = self._group(_arg(action, "flow_group_id"))
        fid = _arg(action, "flow_id")
        group["flows"] = [x for x in group.get("flows") or [] if x != fid]

    # ------------------------------------------------------------------ update_config
    def update_config(self, action: dict) -> None:
        """Whole-config diff-apply, §7.11."""
        prefix = "Invalid config: "
        raw = _arg(action, "config", dict)
        push = copy.deepcopy(raw)
        ev.require(push, "version", prefix, int)
        ev.require(push, "server", prefix, dict)
        # rule 2: drop server secrets, fill absent secrets from the node's own store
        push["server"].pop("tls", None)
        push["server"].pop("auth", None)
        push.pop("setup_token", None)
        push.pop("manager", None)                 # never taken from a push
        own_tunnels = {t["id"]: t for t in self.items("tunnels")}
        parsed_tunnels = []
        for raw_tunnel in push.get("tunnels") or []:
            tunnel = ev.parse_tunnel(raw_tunnel)
            old = own_tunnels.get(tunnel["id"], {})
            for key in TUNNEL_SECRETS:
                if key not in tunnel and key in old:
                    tunnel[key] = old[key]
            parsed_tunnels.append(tunnel)
        push["tunnels"] = parsed_tunnels
        own_cell = {u.get("interface"): u for u in self.items("cellular_uplinks")
                    if isinstance(u, dict)}
        for uplink in push.get("cellular_uplinks") or []:
            if isinstance(uplink, dict) and "password" not in uplink:
                old = own_cell.get(uplink.get("interface"), {})
                if "password" in old:
                    uplink["password"] = old["password"]
        nmos = push.get("nmos_registration")
        own_nmos = self.config.get("nmos_registration") or {}
        if isinstance(nmos, dict) and "bearer_token" not in nmos and "bearer_token" in own_nmos:
            nmos["bearer_token"] = own_nmos["bearer_token"]
        server = push["server"]
        for key in ("tls", "auth"):
            if key in (self.config.get("server") or {}):
                server[key] = self.config["server"][key]
        # rule 3: keep own values for blocks absent from the push
        for key in KEEP_WHEN_ABSENT:
            if key not in push and key in self.config:
                push[key] = copy.deepcopy(self.config[key])
        push["inputs"] = [ev.parse_input(i) for i in push.get("inputs") or []]
        push["outputs"] = [ev.parse_output(o) for o in push.get("outputs") or []]
        push["flows"] = [ev.parse_flow(f) for f in push.get("flows") or []]
        # rule 4: hold each running flow's active input to what is on air
        inputs = {i["id"]: i for i in push["inputs"]}
        for flow in push["flows"]:
            run = self.running.get(flow["id"])
            if run is None or run.active_input_id not in (flow.get("input_ids") or []):
                continue
            for iid in flow.get("input_ids") or []:
                if iid in inputs:
                    inputs[iid]["active"] = iid == run.active_input_id
        cand = self._candidate()
        for key in ADOPTED:                      # rule 7 (absent = the empty default)
            if key in push:
                cand[key] = push[key]
            else:
                cand.pop(key, None)
        old_flows = {f["id"]: f for f in self.items("flows")}
        self._commit(cand)                       # rule 5: validate, nothing applied on failure
        self._apply_diff(old_flows)
        self.emit(event("info", "config", "Configuration updated"))

    def _apply_diff(self, old_flows: dict[str, dict]) -> None:
        """Rule 6: reconcile runtime with the adopted config; failures become events."""
        flows = {f["id"]: f for f in self.items("flows")}
        for fid in list(self.running):
            if fid not in flows or not flows[fid].get("enabled", True):
                self._stop(fid, name=(old_flows.get(fid) or {}).get("name"))
            elif self._needs_restart(old_flows.get(fid), flows[fid]):
                self._stop(fid, quiet=True)
                self._start(fid, quiet=True)
        for fid, flow in flows.items():
            if flow.get("enabled", True) and fid not in self.running:
                failures = self._start(fid)
                if failures:
                    self._stop(fid, quiet=True)
                    self._bind_failure_error(fid, failures)   # emits the events
            elif fid in self.running:
                run = self.running[fid]
                if run.active_input_id not in (flow.get("input_ids") or []):
                    run.active_input_id = (flow.get("input_ids") or [None])[0]
        tunnels = {t["id"]: t for t in self.items("tunnels")}
        for tid in list(self.tunnel_started):
            if tid not in tunnels:
                self.tunnel_started.pop(tid)
                for listener in self.tunnel_listeners:
                    listener(tid, None)
        for tid, tunnel in tunnels.items():
            if tid not in self.tunnel_started:
                self.tunnel_started[tid] = time.monotonic()
            for listener in self.tunnel_listeners:
                listener(tid, tunnel)
