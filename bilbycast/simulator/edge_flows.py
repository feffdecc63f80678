"""Edge flow commands (node-protocol §5.5): create/update/delete/start/stop/restart, hot
add/remove of inputs and outputs, the on-air input, counters.  Mixed into
:class:`.edge_model.EdgeModel`.

Quirks reproduced: ``create_flow`` starts the flow even when ``enabled`` is false (14) and,
like ``add_input``, holds its ack for the 600 ms bind watch (15); ``update_flow`` honours
``enabled``; ``update_input`` overwrites the body id, ``update_output`` insists on it (37).
"""

from __future__ import annotations

from . import edge_validate as ev
from .edge_validate import arg as _arg
from .wire import CommandError, event

#: flow fields whose change never needs a restart
FLOW_METADATA = ("name", "thumbnail", "thumbnail_interval_secs", "thumbnail_program_number",
                 "media_analysis", "bandwidth_limit", "flow_group_id", "content_analysis",
                 "recording")


class FlowCommands:
    # ------------------------------------------------------------------ flows
    async def create_flow(self, action: dict) -> None:
        flow = ev.parse_flow(_arg(action, "flow", dict))
        if self.find("flows", flow["id"]):
            raise CommandError(f"Duplicate flow ID '{flow['id']}'")
        cand = self._candidate()
        cand["flows"].append(flow)
        self._commit(cand)
        # quirk 14: create_flow starts the flow even when enabled is false
        failures = self._start(flow["id"])
        await self._bind_watch()
        if failures:
            self._stop(flow["id"], quiet=True)
            self.config["flows"] = [f for f in self.items("flows") if f["id"] != flow["id"]]
            self.touch()
            raise self._bind_failure_error(flow["id"], failures)

    async def update_flow(self, action: dict) -> None:
        body = dict(_arg(action, "flow", dict))
        fid = _arg(action, "flow_id", optional=True) or body.get("id")
        if fid is not None:
            body["id"] = fid
        flow = ev.parse_flow(body)
        fid = flow["id"]
        old = self.find("flows", fid)
        cand = self._candidate()
        if old is None:
            cand["flows"].append(flow)             # unknown id → creates
        else:
            # §7.11 rule 4 applies here too: activate_input is the only way to switch
            cand["flows"] = [flow if f["id"] == fid else f for f in cand["flows"]]
        self._commit(cand)
        running = fid in self.running
        if not flow.get("enabled", True):
            self._stop(fid)
            return
        if not running:
            failures = self._start(fid)
            await self._bind_watch()
            if failures:
                self._stop(fid, quiet=True)
                raise self._bind_failure_error(fid, failures)
            return
        if self._needs_restart(old, flow):
            self._stop(fid, quiet=True)
            self._start(fid, quiet=True)
        else:
            run = self.running[fid]
            if run.active_input_id not in (flow.get("input_ids") or []):
                run.active_input_id = (flow.get("input_ids") or [None])[0]

    @staticmethod
    def _needs_restart(old: dict | None, new: dict) -> bool:
        """Metadata edits and input/output roster changes apply without a restart."""
        if old is None:
            return False
        keys = (set(new) | set(old)) - set(FLOW_METADATA) - {"input_ids", "output_ids",
                                                             "enabled"}
        return any(old.get(k) != new.get(k) for k in keys)

    def delete_flow(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        self.flow(fid)
        self._stop(fid)
        cand = self._candidate()
        cand["flows"] = [f for f in cand["flows"] if f["id"] != fid]
        for group in cand.get("flow_groups") or []:
            group["flows"] = [x for x in group.get("flows") or [] if x != fid]
        self._commit(cand)

    def stop_flow(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        flow = self.flow(fid)
        self._stop(fid)
        flow["enabled"] = False

    def _start_cmd(self, fid: str, restart: bool) -> None:
        flow = self.flow(fid)
        if restart:
            self._stop(fid, quiet=True)
        elif fid in self.running:
            flow["enabled"] = True
            return
        cand = self._candidate()
        for f in cand["flows"]:
            if f["id"] == fid:
                f["enabled"] = True
        self._commit(cand)                  # an input may be held by another enabled flow
        failures = self._start(fid)
        if failures:
            self._stop(fid, quiet=True)
            raise self._bind_failure_error(fid, failures)

    def start_flow(self, action: dict) -> None:
        self._start_cmd(_arg(action, "flow_id"), restart=False)

    def restart_flow(self, action: dict) -> None:
        self._start_cmd(_arg(action, "flow_id"), restart=True)

    def add_output(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        self.flow(fid)
        out = ev.parse_output(_arg(action, "output", dict))
        if self.find("outputs", out["id"]):
            raise CommandError(f"Duplicate output ID '{out['id']}'")
        cand = self._candidate()
        cand.setdefault("outputs", []).append(out)
        for f in cand["flows"]:
            if f["id"] == fid:
                f.setdefault("output_ids", []).append(out["id"])
        self._commit(cand)

    def remove_output(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        oid = _arg(action, "output_id")
        flow = self.flow(fid)
        if oid not in (flow.get("output_ids") or []):
            raise CommandError(f"Output '{oid}' is not part of flow '{fid}'", "unknown_output")
        cand = self._candidate()
        for f in cand["flows"]:
            if f["id"] == fid:
                f["output_ids"] = [x for x in f["output_ids"] if x != oid]
                if not f["output_ids"]:
                    del f["output_ids"]
        if not any(oid in (f.get("output_ids") or []) for f in cand["flows"]):
            cand["outputs"] = [o for o in cand.get("outputs") or [] if o["id"] != oid]
        self._commit(cand)

    async def add_input(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        flow = self.flow(fid)
        inp = ev.parse_input(_arg(action, "input", dict))
        iid = inp["id"]
        if iid in (flow.get("input_ids") or []):
            raise CommandError(f"Input '{iid}' is already a member of flow '{fid}'",
                               "input_already_member")
        if self.find("inputs", iid):
            raise CommandError(f"Duplicate input ID '{iid}'")
        has_active = any((self.find("inputs", x) or {}).get("active", True)
                         for x in flow.get("input_ids") or [])
        if has_active:
            inp["active"] = False            # joins as a passive (standby) member
        cand = self._candidate()
        cand.setdefault("inputs", []).append(inp)
        for f in cand["flows"]:
            if f["id"] == fid:
                f.setdefault("input_ids", []).append(iid)
        self._commit(cand)
        run = self.running.get(fid)
        if run is not None and run.active_input_id is None:
            run.active_input_id = iid
        failures = self.runtime_bind_failures(self.flow(fid), only_input=iid) if run else []
        await self._bind_watch()
        if failures:
            self.config["inputs"] = [i for i in self.items("inputs") if i["id"] != iid]
            self.touch()
            for f in self.items("flows"):
                if f["id"] == fid:
                    f["input_ids"] = [x for x in f.get("input_ids", []) if x != iid]
                    if not f["input_ids"]:
                        del f["input_ids"]
            if run is not None and run.active_input_id == iid:
                run.active_input_id = None
            raise self._bind_failure_error(fid, failures)

    def remove_input(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        iid = _arg(action, "input_id")
        flow = self.flow(fid)
        members = flow.get("input_ids") or []
        if iid not in members:
            raise CommandError(f"Input '{iid}' is not a member of flow '{fid}'",
                               "input_not_member")
        run = self.running.get(fid)
        if run is not None and run.active_input_id == iid and len(members) > 1:
            raise CommandError(f"Input '{iid}' is the active input of running flow '{fid}' — "
                               f"activate another input first", "active_input_in_use")
        cand = self._candidate()
        for f in cand["flows"]:
            if f["id"] == fid:
                f["input_ids"] = [x for x in f["input_ids"] if x != iid]
                if not f["input_ids"]:
                    del f["input_ids"]
        if not any(iid in (f.get("input_ids") or []) for f in cand["flows"]):
            cand["inputs"] = [i for i in cand.get("inputs") or [] if i["id"] != iid]
        self._commit(cand)
        if run is not None and run.active_input_id == iid:
            run.active_input_id = None

    def activate_input(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        iid = _arg(action, "input_id")
        flow = self.flow(fid)
        if iid not in (flow.get("input_ids") or []):
            raise CommandError(f"Input '{iid}' is not a member of flow '{fid}'",
                               "input_not_member")
        for member in flow.get("input_ids") or []:
            inp = self.find("inputs", member)
            if inp is not None:
                inp["active"] = member == iid
        run = self.running.get(fid)
        if run is not None and run.active_input_id != iid:
            run.active_input_id = iid
            self.emit(event("info", "flow", f"Flow '{flow.get('name')}' switched to input "
                                            f"'{iid}'", flow_id=fid, input_id=iid))

    def activate_output(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        oid = _arg(action, "output_id")
        active = _arg(action, "active", bool)
        flow = self.flow(fid)
        if oid not in (flow.get("output_ids") or []):
            raise CommandError(f"Output '{oid}' is not part of flow '{fid}'", "unknown_output")
        out = self.find("outputs", oid)
        if out is not None:
            out["active"] = active

    def reset_counters(self, action: dict) -> dict:
        fid = _arg(action, "flow_id")
        self.flow(fid)
        scope = _arg(action, "scope", optional=True) or "all"
        run = self.running.get(fid)
        if run is not None:
            self._generation += 1
            run.generation = self._generation    # telemetry restarts its counters
        return {"flow_id": fid, "scope": scope}

    def update_flow_assembly(self, action: dict) -> None:
        fid = _arg(action, "flow_id")
        flow = self.flow(fid)
        assembly = _arg(action, "assembly", dict)
        if fid not in self.running:
            raise CommandError(f"Flow '{fid}' is not running", "flow_not_running")
        flow["assembly"] = assembly
