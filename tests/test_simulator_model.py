"""The simulated edge's config model: real validation, error texts and codes, apply rules."""

from __future__ import annotations

import asyncio
import copy
import json
import os
from pathlib import Path

import pytest

from bilbycast.simulator.edge_model import EdgeModel
from bilbycast.simulator.edge_node import EdgePersonality
from bilbycast.simulator.node import NodeOptions, SimulatedNode
from bilbycast.simulator.wire import CommandError

EXAMPLES = Path(os.environ.get("BILBYCAST_SPEC_DIR",
                               Path(__file__).resolve().parents[2] / "shared" / "spec")) / "examples"
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="spec examples not found")


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def action(name: str) -> dict:
    return copy.deepcopy(example(name)["payload"]["action"])


class Harness:
    def __init__(self, **kw):
        self.events: list[dict] = []
        kw.setdefault("bind_watch_secs", 0.0)
        kw.setdefault("urls", ["wss://manager.example.com:8443/ws/node"])
        self.model = EdgeModel(emit=self.events.append, **kw)

    def do(self, act: dict):
        """(success, data-or-error, code)"""
        async def go():
            try:
                return True, await self.model.execute(act), None
            except CommandError as exc:
                return False, exc.message, exc.code
        return asyncio.run(go())


def build_remote_feed(h: Harness) -> None:
    for name in ("edge-command-create-input", "edge-command-create-output",
                 "edge-command-create-flow"):
        ok, _, _ = h.do(action(name))
        assert ok, name


def test_create_stop_delete_cycle():
    h = Harness()
    build_remote_feed(h)
    assert "remote-feed" in h.model.running
    assert h.events[-1] == {"severity": "info", "category": "flow",
                            "message": "Flow 'Remote Feed' started", "flow_id": "remote-feed"}
    ok, data, _ = h.do(action("edge-command-reset-counters"))
    assert ok and data == example("edge-ack-success-data")["payload"]["data"]
    ok, _, _ = h.do({"type": "stop_flow", "flow_id": "remote-feed"})
    assert ok and "remote-feed" not in h.model.running
    assert h.model.find("flows", "remote-feed")["enabled"] is False
    ok, err, code = h.do({"type": "delete_input", "input_id": "srt-in2"})
    assert (ok, err, code) == (False, "Input 'srt-in2' is assigned to a flow — unassign first",
                               None)
    assert h.do({"type": "delete_flow", "flow_id": "remote-feed"})[0]
    assert h.do({"type": "delete_input", "input_id": "srt-in2"})[0]
    assert h.do({"type": "delete_output", "output_id": "rtp-out2"})[0]
    assert h.model.config["flows"] == [] and "inputs" not in h.model.config
    ok, err, code = h.do({"type": "stop_flow", "flow_id": "remote-feed"})
    assert (ok, err, code) == (False, "Flow 'remote-feed' not found", None)


def test_duplicate_ids_have_no_code():
    h = Harness()
    build_remote_feed(h)
    ok, err, code = h.do(action("edge-command-create-flow"))
    assert (ok, err, code) == (False, example("edge-ack-failure-no-code")["payload"]["error"],
                               None)
    assert h.do(action("edge-command-create-input"))[1:] == ("Duplicate input ID 'srt-in2'",
                                                             None)
    assert h.do(action("edge-command-create-output"))[1:] == ("Duplicate output ID 'rtp-out2'",
                                                              None)


def test_missing_reference_matches_example():
    h = Harness()
    ok, err, code = h.do(action("edge-command-create-flow"))
    ref = example("edge-ack-failure-missing-ref")["payload"]
    assert (ok, err, code) == (False, ref["error"], None)
    assert h.model.config["flows"] == []


def test_validation_errors_and_json_shape_errors():
    h = Harness()
    build_remote_feed(h)
    flow = {"id": "f2", "name": "", "input_ids": [], "output_ids": []}
    ok, err, code = h.do({"type": "create_flow", "flow": flow})
    ref = example("edge-ack-failure")["payload"]
    assert (ok, err, code) == (False, ref["error"], ref["error_code"])
    ok, err, code = h.do({"type": "create_flow", "flow": {"id": "f2"}})
    assert (ok, err, code) == (False, "Invalid flow config: missing field `name`", None)
    bad_srt = {"id": "s", "name": "S", "type": "srt", "mode": "caller",
               "remote_addr": "203.0.113.1:9000", "passphrase": "short"}
    ok, err, code = h.do({"type": "create_input", "input": bad_srt})
    assert not ok and code == "validation_error" and err.startswith("Invalid input config: ")
    ok, err, code = h.do({"type": "create_input", "input": dict(bad_srt, type="carrier-pigeon")})
    assert not ok and code is None and "unknown variant `carrier-pigeon`" in err
    ok, err, code = h.do({"type": "create_output",
                          "output": {"id": "o", "name": "O", "type": "udp",
                                     "dest_addr": "239.1.1.1:5000", "dscp": 64}})
    assert not ok and code == "validation_error"
    ok, err, code = h.do({"type": "create_output",
                          "output": {"id": "r", "name": "R", "type": "rist",
                                     "remote_addr": "198.51.100.1:5001"}})
    assert not ok and "even" in err
    ok, err, code = h.do({"type": "stop_flow"})
    assert (ok, code) == (False, "missing_field")


def test_port_conflict_rule():
    h = Harness()
    listener = {"id": "srt-in-1", "name": "A", "type": "srt", "mode": "listener",
                "local_addr": "0.0.0.0:9000"}
    assert h.do({"type": "create_input", "input": listener})[0]
    clash = dict(listener, id="srt-in-2", local_addr="192.168.1.20:9000")
    ok, err, code = h.do({"type": "create_input", "input": clash})
    assert (ok, code) == (False, "port_conflict")
    assert err == "Port conflict: UDP 192.168.1.20:9000 is already bound by input srt-in-1"
    # different protocol, multicast and port 0 are exempt
    assert h.do({"type": "create_input", "input": {"id": "rtmp", "name": "R", "type": "rtmp",
                                                   "listen_addr": "0.0.0.0:9000"}})[0]
    assert h.do({"type": "create_input", "input": {"id": "m1", "name": "M", "type": "udp",
                                                   "bind_addr": "239.1.1.1:5004"}})[0]
    assert h.do({"type": "create_input", "input": {"id": "m2", "name": "M", "type": "udp",
                                                   "bind_addr": "239.1.1.1:5004"}})[0]
    # the API server takes part
    ok, err, code = h.do({"type": "create_input", "input": {"id": "web", "name": "W",
                                                            "type": "rtmp",
                                                            "listen_addr": "0.0.0.0:8080"}})
    assert code == "port_conflict" and err.endswith("by the API server")


def test_runtime_bind_failure_matches_examples():
    """A bind that collides with something outside the config: 600 ms watch, event, ack."""
    h = Harness(occupied_ports={("UDP", 9000)}, bind_watch_secs=0.01)
    cfg = example("edge-config-response")["payload"]
    assert h.do({"type": "create_input", "input": cfg["inputs"][0]})[0]
    assert h.do({"type": "create_output", "output": cfg["outputs"][0]})[0]
    ok, err, code = h.do({"type": "create_flow", "flow": cfg["flows"][0]})
    ref = example("edge-ack-port-conflict")["payload"]
    assert (ok, err, code) == (False, ref["error"], ref["error_code"])
    assert example("edge-event-port-conflict")["payload"] in h.events
    assert h.model.find("flows", "main-feed") is None and not h.model.running   # torn down


def test_quirk_14_create_flow_starts_disabled_flow_and_update_flow_honours_it():
    h = Harness()
    act = action("edge-command-create-input")
    h.do(act)
    h.do(action("edge-command-create-output"))
    flow = action("edge-command-create-flow")
    flow["flow"]["enabled"] = False
    assert h.do(flow)[0]
    assert "remote-feed" in h.model.running
    assert h.do({"type": "update_flow", "flow": flow["flow"]})[0]
    assert "remote-feed" not in h.model.running


def test_inputs_roster_activate_and_update_rules():
    h = Harness()
    build_remote_feed(h)
    second = {"id": "srt-in3", "name": "Backup SRT", "type": "srt", "mode": "caller",
              "remote_addr": "203.0.113.11:9000"}
    assert h.do({"type": "add_input", "flow_id": "remote-feed", "input": second})[0]
    assert h.model.find("inputs", "srt-in3")["active"] is False        # joins passive
    ok, err, code = h.do({"type": "remove_input", "flow_id": "remote-feed",
                          "input_id": "srt-in2"})
    assert (ok, code) == (False, "active_input_in_use")
    ok, _, code = h.do({"type": "activate_input", "flow_id": "remote-feed",
                        "input_id": "nope"})
    assert code == "input_not_member"
    assert h.do({"type": "activate_input", "flow_id": "remote-feed", "input_id": "srt-in3"})[0]
    assert h.model.running["remote-feed"].active_input_id == "srt-in3"
    assert h.model.find("inputs", "srt-in2")["active"] is False
    # update_input overwrites the body id and keeps `active`
    body = dict(second, id="ignored", latency_ms=800)
    assert h.do({"type": "update_input", "input_id": "srt-in3", "input": body})[0]
    assert h.model.find("inputs", "srt-in3")["latency_ms"] == 800
    assert h.model.find("inputs", "srt-in3")["active"] is True
    # update_output requires body id == output_id
    out = {"type": "rtp", "id": "other", "name": "X", "dest_addr": "192.168.1.50:5004"}
    ok, _, code = h.do({"type": "update_output", "output_id": "rtp-out2", "output": out})
    assert not ok and code == "invalid_value"


def test_update_config_apply_rules():
    h = Harness(device_name="Old name")
    h.model.manager_node_id = "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21"
    h.model.setup_enabled = False
    h.model.config["tuning"] = {"probe_4k": True}
    tunnel = action("edge-command-create-tunnel-egress")
    tunnel["tunnel"]["local_addr"] = "0.0.0.0:9500"
    assert h.do(tunnel)[0]
    push = action("edge-command-update-config")
    push["config"]["manager"] = {"enabled": False, "urls": ["wss://evil/ws/node"]}
    stripped = h.model.config_response()["tunnels"][0]
    assert "tunnel_encryption_key" not in stripped and "tunnel_bind_secret" not in stripped
    push["config"]["tunnels"] = [stripped]                # secrets omitted → kept
    assert h.do(push)[0]
    assert h.events[-1] == {"severity": "info", "category": "config",
                            "message": "Configuration updated"}
    cfg = h.model.config
    assert cfg["tuning"] == {"probe_4k": True}                          # kept when absent
    assert cfg["tunnels"][0]["tunnel_bind_secret"].startswith("da5fc683")
    assert "main-feed" in h.model.running
    resp = h.model.config_response()
    assert resp["manager"] == {"enabled": True, "urls": ["wss://manager.example.com:8443/ws/node"],
                               "accept_self_signed_cert": False,
                               "node_id": "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21"}
    # a failing push changes nothing
    bad = action("edge-command-update-config")
    bad["config"]["flows"][0]["output_ids"].append("ghost")
    before = copy.deepcopy(h.model.config)
    ok, err, _ = h.do(bad)
    assert not ok and "ghost" in err and h.model.config == before


def test_config_response_roundtrips_the_example():
    """Push the example config, read it back: the same document, secrets as the node
    reports them (SRT passphrase kept, manager secret absent)."""
    ref = example("edge-config-response")["payload"]
    h = Harness(device_name="x")
    h.model.config["node_id"] = ref["node_id"]      # the NMOS id is the node's own (not adopted)
    h.model.manager_node_id = ref["manager"]["node_id"]
    h.model.setup_enabled = False
    push = {k: v for k, v in ref.items() if k != "manager"}
    assert h.do({"type": "update_config", "config": push})[0]
    assert h.model.config_response() == ref


def _personality_acks(cmds: list[dict]) -> list[dict]:
    sent: list = []

    class FakeSession:
        closed = False

        def send(self, frame):
            sent.append(frame)

    async def go():
        node = SimulatedNode({"name": "e", "device_type": "edge", "flows": 0},
                             NodeOptions(urls=["wss://m/ws/node"], bind_watch_secs=0))
        p: EdgePersonality = node.personality
        for cmd in cmds:
            await p._command(FakeSession(), cmd["payload"])
    asyncio.run(go())
    return sent


def test_ack_shapes_match_examples():
    acks = _personality_acks([example("edge-command-unknown"),
                              {"type": "command", "payload": {"action": {"type": "x"}}},
                              example("edge-command-get-config")])
    assert acks[0]["payload"] == example("edge-ack-unknown-action")["payload"]
    assert set(acks[0]) == {"type", "timestamp", "payload"}
    assert acks[1]["payload"]["command_id"] == "unknown"
    assert acks[2]["type"] == "config_response" and "command_id" not in acks[2]["payload"]
    assert "node_secret" not in acks[2]["payload"]["manager"]


def test_tunnels_and_flow_groups():
    h = Harness()
    t = action("edge-command-create-tunnel-ingress")
    assert h.do(t)[0]
    assert h.do(t)[0]                                           # upsert
    assert len(h.model.config["tunnels"]) == 1
    bad = copy.deepcopy(t)
    bad["tunnel"]["id"] = "not-a-uuid"
    ok, err, code = h.do(bad)
    assert not ok and code == "validation_error"
    assert h.do(action("edge-command-delete-tunnel"))[0]
    assert "tunnels" not in h.model.config_response()
    build_remote_feed(h)
    grp = {"type": "add_flow_group", "flow_group": {"id": "g", "name": "G",
                                                    "flows": ["remote-feed"]}}
    assert h.do(grp)[0]
    assert h.do(grp)[1:] == ("Duplicate flow group ID 'g'", None)
    assert h.do({"type": "stop_flow_group", "flow_group_id": "g"})[0]
    assert not h.model.running
    assert h.do({"type": "start_flow_group", "flow_group_id": "g"})[0]
    assert "remote-feed" in h.model.running
    ok, data, _ = h.do({"type": "set_bond_uplinks",
                        "bond_uplinks": [{"interface": "eth1", "capacity_bps": 10**7}]})
    assert ok and data == {"bond_uplinks_count": 1}


def test_diagnostics_and_catalogue_odds():
    h = Harness()
    build_remote_feed(h)
    for kind in ("get_nmos_state", "get_ptp_state", "get_sdp_document", "set_audio_channel_map"):
        ok, data, _ = h.do({"type": kind})
        assert ok and data["status"] == "use_rest_endpoint" and data["hint"]
    for kind in ("set_speed", "step_frame"):                  # quirk 20
        assert h.do({"type": kind})[2] == "unknown_action"
    ok, data, _ = h.do({"type": "set_master_clock_lipsync", "flow_id": "remote-feed",
                        "lipsync_offset_90k": 99999})
    assert data == {"lipsync_offset_90k": 18000}
    ok, data, _ = h.do({"type": "set_ptp_mode", "mode": "gm"})
    assert data["mode"] == "grandmaster"
    ok, _, code = h.do({"type": "update_flow_assembly", "flow_id": "remote-feed",
                        "assembly": {}})
    assert ok
    h.do({"type": "stop_flow", "flow_id": "remote-feed"})
    assert h.do({"type": "update_flow_assembly", "flow_id": "remote-feed",
                 "assembly": {}})[2] == "flow_not_running"
