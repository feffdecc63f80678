"""The edge command catalogue (product.md §7.1 roles and flags; node-protocol.md §5.5 arguments).

Descriptions are given verbatim to the AI assistant, so they say what each command does on the
node, not how the manager implements it.
"""

from __future__ import annotations

from typing import Any

from . import edge_schema as S
from .base import CommandSpec, object_schema

FLOW_ID = S.ENTITY_ID
NO_ARGS = object_schema()


def _spec(name: str, display: str, description: str, properties: dict | None = None,
          required: tuple[str, ...] = (), **flags: Any) -> CommandSpec:
    return CommandSpec(name=name, display_name=display, description=description,
                       args_schema=object_schema(properties, required), **flags)


_CATALOGUE = [
    _spec("get_config", "Get configuration",
          "Read the node's whole configuration (AppConfig v2). Read-only.", preview_kind="read"),
    _spec("update_config", "Replace configuration",
          "Replace the node's whole configuration with `config` (AppConfig v2, must keep `version: 2` "
          "and `server`). The node diffs it: removed flows stop, new enabled flows start. The "
          "`manager` block is never applied. Prefer the per-entity commands for single changes.",
          {"config": S.APP_CONFIG}, ("config",), requires_role="admin", destructive=True,
          timeout_secs=30, config_changing=True, preview_kind="replace", preview_entity="config"),
    _spec("create_flow", "Create flow",
          "Create a flow from inputs and outputs that already exist on the node (`flow.input_ids`, "
          "`flow.output_ids`). The node starts it at once, even when `enabled` is false.",
          {"flow": S.FLOW}, ("flow",), ai_exposed=True, config_changing=True,
          preview_kind="create", preview_entity="flow"),
    _spec("update_flow", "Update flow",
          "Change a flow (`flow`, with `flow_id` defaulting to `flow.id`). Metadata edits apply "
          "without a restart; `enabled` starts or stops it; an unknown id creates the flow.",
          {"flow": S.FLOW, "flow_id": FLOW_ID}, ("flow",), ai_exposed=True, config_changing=True,
          preview_kind="update", preview_entity="flow"),
    _spec("delete_flow", "Delete flow", "Stop the flow `flow_id` if it runs and remove it.",
          {"flow_id": FLOW_ID}, ("flow_id",), ai_exposed=True, destructive=True,
          config_changing=True, preview_kind="delete", preview_entity="flow"),
    _spec("start_flow", "Start flow", "Start the flow `flow_id` and set `enabled` to true.",
          {"flow_id": FLOW_ID}, ("flow_id",), ai_exposed=True, config_changing=True,
          preview_kind="update", preview_entity="flow"),
    _spec("stop_flow", "Stop flow", "Stop the flow `flow_id` and set `enabled` to false; it goes off air.",
          {"flow_id": FLOW_ID}, ("flow_id",), ai_exposed=True, destructive=True,
          config_changing=True, preview_kind="update", preview_entity="flow"),
    _spec("restart_flow", "Restart flow",
          "Tear down and restart the flow `flow_id` from its config (a short interruption).",
          {"flow_id": FLOW_ID}, ("flow_id",), ai_exposed=True, destructive=True,
          config_changing=True, preview_entity="flow"),
    _spec("activate_input", "Make input active",
          "Switch the on-air input of flow `flow_id` to `input_id` (one of its `input_ids`).",
          {"flow_id": FLOW_ID, "input_id": S.ENTITY_ID,
           "splice_mode_override": S.enum("pmt_bump", "pes_aligned")},
          ("flow_id", "input_id"), ai_exposed=True, config_changing=True, preview_entity="flow"),
    _spec("activate_output", "Set output active",
          "Make output `output_id` of flow `flow_id` active (`active: true`) or passive (`false`).",
          {"flow_id": FLOW_ID, "output_id": S.ENTITY_ID, "active": S.BOOL},
          ("flow_id", "output_id", "active"), ai_exposed=True, config_changing=True,
          preview_kind="update", preview_entity="output"),
    _spec("add_input", "Add input to flow",
          "Create input `input` and hot-add it to the running flow `flow_id`.",
          {"flow_id": FLOW_ID, "input": S.INPUT}, ("flow_id", "input"), ai_exposed=True,
          config_changing=True, preview_kind="create", preview_entity="input"),
    _spec("add_output", "Add output to flow",
          "Create output `output` and hot-add it to flow `flow_id`.",
          {"flow_id": FLOW_ID, "output": S.OUTPUT}, ("flow_id", "output"), ai_exposed=True,
          config_changing=True, preview_kind="create", preview_entity="output"),
    _spec("remove_input", "Remove input from flow",
          "Hot-remove input `input_id` from flow `flow_id`; the input is deleted when no flow uses it.",
          {"flow_id": FLOW_ID, "input_id": S.ENTITY_ID}, ("flow_id", "input_id"), ai_exposed=True,
          destructive=True, config_changing=True, preview_kind="update", preview_entity="flow"),
    _spec("remove_output", "Remove output from flow",
          "Hot-remove output `output_id` from flow `flow_id`; the output is deleted when no flow uses it.",
          {"flow_id": FLOW_ID, "output_id": S.ENTITY_ID}, ("flow_id", "output_id"), ai_exposed=True,
          destructive=True, config_changing=True, preview_kind="update", preview_entity="flow"),
    _spec("create_input", "Create input",
          "Create the input `input` (InputDefinition: id, name, type and the protocol's fields).",
          {"input": S.INPUT}, ("input",), ai_exposed=True, config_changing=True,
          preview_kind="create", preview_entity="input"),
    _spec("update_input", "Update input",
          "Replace input `input_id` with `input`; a running flow that uses it restarts if needed.",
          {"input_id": S.ENTITY_ID, "input": S.INPUT}, ("input_id", "input"), ai_exposed=True,
          config_changing=True, preview_kind="update", preview_entity="input"),
    _spec("delete_input", "Delete input",
          "Delete input `input_id`. Refused while a flow uses it: remove it from the flow first.",
          {"input_id": S.ENTITY_ID}, ("input_id",), ai_exposed=True, destructive=True,
          config_changing=True, preview_kind="delete", preview_entity="input"),
    _spec("create_output", "Create output",
          "Create the output `output` (OutputConfig: id, name, type and the protocol's fields).",
          {"output": S.OUTPUT}, ("output",), ai_exposed=True, config_changing=True,
          preview_kind="create", preview_entity="output"),
    _spec("update_output", "Update output",
          "Replace output `output_id` with `output` (whose id must equal `output_id`).",
          {"output_id": S.ENTITY_ID, "output": S.OUTPUT}, ("output_id", "output"), ai_exposed=True,
          config_changing=True, preview_kind="update", preview_entity="output"),
    _spec("delete_output", "Delete output", "Delete output `output_id`.",
          {"output_id": S.ENTITY_ID}, ("output_id",), ai_exposed=True, destructive=True,
          config_changing=True, preview_kind="delete", preview_entity="output"),
    _spec("reset_counters", "Reset counters",
          "Reset the statistics counters of flow `flow_id` (`scope` defaults to \"all\").",
          {"flow_id": FLOW_ID, "scope": S.string(1, 64)}, ("flow_id",), ai_exposed=True,
          preview_entity="flow"),
    _spec("test_input", "Test input",
          "Probe input `input_id` (not on a running flow): bind or connect briefly and report.",
          {"input_id": S.ENTITY_ID}, ("input_id",), ai_exposed=True, timeout_secs=30,
          preview_kind="read", preview_entity="input"),
    _spec("test_output", "Test output", "Probe output `output_id` and report reachability.",
          {"output_id": S.ENTITY_ID}, ("output_id",), ai_exposed=True, timeout_secs=30,
          preview_kind="read", preview_entity="output"),
    _spec("create_tunnel", "Create tunnel",
          "Create or replace the tunnel `tunnel` (TunnelConfig; `id` is a UUID) and start it.",
          {"tunnel": S.TUNNEL}, ("tunnel",), requires_role="admin", config_changing=True,
          preview_kind="create", preview_entity="tunnel"),
    _spec("delete_tunnel", "Delete tunnel", "Stop and remove the tunnel `tunnel_id`.",
          {"tunnel_id": S.UUID}, ("tunnel_id",), requires_role="admin", destructive=True,
          config_changing=True, preview_kind="delete", preview_entity="tunnel"),
    _spec("get_ptp_mode", "Get PTP mode", "Read the node's PTP daemon settings.",
          requires_capability="ptp", preview_kind="read"),
    _spec("set_ptp_mode", "Set PTP mode",
          "Set the PTP mode (`auto`, `grandmaster`, `slave-only`, `off`) and optional daemon settings.",
          {"mode": S.enum("auto", "grandmaster", "slave-only", "off", "gm", "master", "slave",
                          "disabled", "none"),
           "iface": S.string(1, 64), "domain": S.integer(0, 127), "priority1": S.integer(0, 255),
           "scan_timeout": S.integer(0), "offset_warn_ns": S.integer(0), "path_delay_warn_ns": S.integer(0)},
          ("mode",), requires_role="admin", destructive=True, requires_capability="ptp"),
    _spec("set_bond_uplinks", "Set bond uplinks",
          "Set the bonding uplinks (`bond_uplinks`: interface and capacity_bps each).",
          {"bond_uplinks": S.array(S.BOND_UPLINK), "replace": S.BOOL,
           "shared_leg_broker": {"oneOf": [{"type": "boolean"}, {"type": "null"}]}},
          ("bond_uplinks",), requires_role="admin", requires_capability="bonding", config_changing=True),
    _spec("deploy_flow", "Deploy flow",
          "Create new inputs and outputs and a flow that uses them (and/or existing ones) in one "
          "step: `inputs` (InputDefinition list), `outputs` (OutputConfig list), `flow` "
          "(FlowConfig). Use this for \"make a flow from A to B\". Undone on any failure.",
          {"inputs": S.array(S.INPUT, 0, 32), "outputs": S.array(S.OUTPUT, 0, 64), "flow": S.FLOW},
          ("flow",), ai_exposed=True, config_changing=True, composite=True,
          preview_kind="create", preview_entity="flow"),
    _spec("rotate_secret", "Rotate node secret", "Manager-internal secret rotation.",
          {"new_secret": S.string(1, 4096)}, ("new_secret",), requires_role="admin", reserved=True),
]

COMMANDS = {spec.name: spec for spec in _CATALOGUE}
