"""Edge command checks (api.md §7.2), config validation, secrets, deploy_flow and previews."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bilbycast.drivers.base import ROLE_LEVELS, ActionError
from bilbycast.drivers.edge import DRIVER as EDGE

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"


def payload(name: str):
    return json.loads((EXAMPLES / name).read_text())["payload"]


def action(name: str) -> dict:
    return payload(name)["action"]


def capabilities() -> list[str]:
    return payload("edge-health.json")["capabilities"]


def as_role(role: str):
    return lambda required: ROLE_LEVELS[role] >= ROLE_LEVELS[required]


def refusal(act, **kwargs) -> ActionError:
    with pytest.raises(ActionError) as caught:
        EDGE.check_action(act, **kwargs)
    return caught.value


@pytest.fixture
def config():
    return payload("edge-config-response.json")


# -- the recorded commands --------------------------------------------------------------------

ACCEPTED = ["edge-command-activate-input.json", "edge-command-create-flow.json",
            "edge-command-create-input.json", "edge-command-create-output.json",
            "edge-command-create-tunnel-egress.json", "edge-command-create-tunnel-ingress.json",
            "edge-command-delete-tunnel.json", "edge-command-get-config.json",
            "edge-command-reset-counters.json", "edge-command-stop-flow.json",
            "edge-command-update-config.json"]


@pytest.mark.parametrize("name", ACCEPTED)
def test_recorded_edge_commands_pass_every_check(name):
    spec = EDGE.check_action(action(name), role_level_ok=as_role("admin"), capabilities=capabilities())
    assert spec.name == action(name)["type"]


@pytest.mark.parametrize("name, code", [
    ("edge-command-rotate-secret.json", "action_not_allowed"),   # reserved for POST /rotate-secret
    ("edge-command-unknown.json", "unknown_action"),
    # Not in the product catalogue (product.md §7.1, §14: no remote upgrades, no media library).
    ("edge-command-upgrade-binary.json", "unknown_action"),
    ("edge-command-upload-media-chunk.json", "unknown_action"),
])
def test_recorded_commands_outside_the_catalogue_are_refused(name, code):
    error = refusal(action(name), role_level_ok=as_role("super_admin"), capabilities=capabilities())
    assert (error.status, error.code) == (422, code)


def test_the_build_a_flow_sequence_passes_against_the_cached_config(config):
    steps = [action("edge-command-create-input.json"), action("edge-command-create-output.json")]
    for step in steps:
        EDGE.check_action(step, config=config)
    config["inputs"].append(steps[0]["input"])
    config["outputs"].append(steps[1]["output"])
    EDGE.check_action(action("edge-command-create-flow.json"), config=config)
    config["flows"].append(action("edge-command-create-flow.json")["flow"])
    EDGE.check_action(action("edge-command-reset-counters.json"), config=config)


def test_flow_commands_pass_against_the_cached_config(config):
    for name in ("edge-command-stop-flow.json", "edge-command-activate-input.json"):
        EDGE.check_action(action(name), config=config)
    EDGE.check_action(action("edge-command-update-config.json"), role_level_ok=as_role("admin"), config=config)


# -- refusals with the right code and pointer -------------------------------------------------

def test_a_listener_on_a_bound_port_is_a_port_conflict(config):
    error = refusal({"type": "create_input", "input": {
        "id": "srt-2", "name": "Second", "type": "srt", "mode": "listener", "local_addr": "0.0.0.0:9000"}},
        config=config)
    assert (error.status, error.code) == (422, "port_conflict")
    assert error.message.startswith("Port conflict: UDP 0.0.0.0:9000 is already bound by input srt-in")
    assert error.fields[0]["path"] == "/input/local_addr"


def test_a_specific_ip_collides_with_a_wildcard_listener_on_the_same_port(config):
    error = refusal({"type": "create_input", "input": {
        "id": "udp-2", "name": "U", "type": "udp", "bind_addr": "192.168.1.20:9000"}}, config=config)
    assert error.code == "port_conflict"


def test_the_edge_api_server_takes_part_in_the_port_rule(config):
    error = refusal({"type": "create_input", "input": {
        "id": "rtmp-in", "name": "RTMP", "type": "rtmp", "listen_addr": "0.0.0.0:8080"}}, config=config)
    assert error.code == "port_conflict" and "server API" in error.message


@pytest.mark.parametrize("entity", [
    {"id": "tcp", "name": "T", "type": "rtmp", "listen_addr": "0.0.0.0:9000"},        # TCP vs UDP
    {"id": "mc", "name": "M", "type": "udp", "bind_addr": "239.1.2.3:9000"},           # multicast exempt
    {"id": "any", "name": "A", "type": "udp", "bind_addr": "0.0.0.0:0"},               # ephemeral
    {"id": "other", "name": "O", "type": "srt", "mode": "listener", "local_addr": "0.0.0.0:9002"},
])
def test_binds_that_do_not_collide_are_accepted(config, entity):
    EDGE.check_action({"type": "create_input", "input": entity}, config=config)


def test_updating_an_input_does_not_conflict_with_itself(config):
    changed = dict(config["inputs"][0], latency_ms=400)
    EDGE.check_action({"type": "update_input", "input_id": "srt-in", "input": changed}, config=config)


def test_rist_rtcp_port_plus_one_is_checked(config):
    config["inputs"].append({"id": "u", "name": "U", "type": "udp", "bind_addr": "0.0.0.0:7001"})
    error = refusal({"type": "create_input", "input": {
        "id": "rist", "name": "R", "type": "rist", "bind_addr": "0.0.0.0:7000"}}, config=config)
    assert error.code == "port_conflict" and error.fields[0]["path"] == "/input/bind_addr"


def test_duplicate_ids_are_refused(config):
    error = refusal({"type": "create_input", "input": dict(config["inputs"][0], local_addr="0.0.0.0:9100")},
                    config=config)
    assert error.code == "validation_failed"
    assert error.fields == [{"path": "/input/id", "message": "input id 'srt-in' already exists on this node"}]
    error = refusal({"type": "create_flow", "flow": {"id": "main-feed", "name": "Again"}}, config=config)
    assert error.fields[0] == {"path": "/flow/id", "message": "Duplicate flow ID 'main-feed'"}


def test_missing_references_are_refused(config):
    error = refusal(action("edge-command-create-flow.json"), config=config)   # srt-in2 not created yet
    assert error.code == "validation_failed"
    assert [f["path"] for f in error.fields] == ["/flow/input_ids/0", "/flow/output_ids/0"]
    assert refusal({"type": "stop_flow", "flow_id": "nope"}, config=config).fields[0]["path"] == "/flow_id"
    error = refusal({"type": "activate_input", "flow_id": "main-feed", "input_id": "ghost"}, config=config)
    assert error.fields[0]["path"] == "/input_id"
    error = refusal({"type": "delete_input", "input_id": "srt-in"}, config=config)
    assert "unassign it first" in error.message


def test_an_input_may_feed_only_one_enabled_flow(config):
    error = refusal({"type": "create_flow", "flow": {"id": "copy", "name": "Copy", "enabled": False,
                                                      "input_ids": ["srt-in"]}}, config=config)
    assert error.fields[0]["path"] == "/flow/input_ids/0"   # create_flow starts it regardless


@pytest.mark.parametrize("act, pointer", [
    ({"type": "create_input", "input": {"id": "s", "name": "S", "type": "srt", "mode": "listener",
                                        "local_addr": "0.0.0.0:9100", "passphrase": "tooshort"}}, "/input/passphrase"),
    ({"type": "create_input", "input": {"id": "s", "name": "S", "type": "srt", "mode": "listener"}}, "/input/local_addr"),
    ({"type": "create_input", "input": {"id": "s", "name": "S", "type": "srt", "mode": "caller",
                                        "remote_addr": "not an address"}}, "/input/remote_addr"),
    ({"type": "create_input", "input": {"id": "s", "name": "S", "type": "rtp", "bind_addr": "example.com:5000"}},
     "/input/bind_addr"),
    ({"type": "create_input", "input": {"id": "r", "name": "R", "type": "rist", "bind_addr": "0.0.0.0:7001"}},
     "/input/bind_addr"),
    ({"type": "create_input", "input": {"id": "s", "name": "S", "type": "carrier-pigeon"}}, "/input/type"),
    ({"type": "create_input", "input": {"id": "bad id!", "name": "S", "type": "udp", "bind_addr": "0.0.0.0:1"}},
     "/input/id"),
    ({"type": "create_output", "output": {"id": "o", "name": "O", "type": "rtmp", "dest_url": "rtmp://a/b"}},
     "/output/stream_key"),
    ({"type": "create_output", "output": {"id": "o", "name": "O", "type": "hls", "ingest_url": "https://a",
                                          "segment_duration_secs": 11}}, "/output/segment_duration_secs"),
    ({"type": "create_output", "output": {"id": "o", "name": "O", "type": "udp", "dest_addr": "1.2.3.4:5",
                                          "dscp": 64}}, "/output/dscp"),
    ({"type": "create_flow", "flow": {"id": "f", "name": "F", "thumbnail_interval_secs": 0}},
     "/flow/thumbnail_interval_secs"),
    ({"type": "create_flow", "flow": {"id": "f"}}, "/flow/name"),
    ({"type": "stop_flow", "flow_id": "main-feed", "force": True}, "/force"),
    ({"type": "stop_flow"}, "/flow_id"),
    ({"type": "update_output", "output_id": "a", "output": {"id": "b", "name": "B", "type": "udp",
                                                            "dest_addr": "1.2.3.4:5"}}, "/output/id"),
    ({"type": "create_tunnel", "tunnel": {"id": "not-a-uuid", "name": "T", "protocol": "tcp", "mode": "relay",
                                          "direction": "egress", "local_addr": "0.0.0.0:1"}}, "/tunnel/id"),
    ({"type": "create_tunnel", "tunnel": {"id": "550e8400-e29b-41d4-a716-446655440000", "name": "T",
                                          "protocol": "tcp", "mode": "relay", "direction": "egress",
                                          "local_addr": "0.0.0.0:1"}}, "/tunnel/relay_addrs"),
    ({"type": "update_config", "config": {"server": {"listen_addr": "0.0.0.0", "listen_port": 8080},
                                          "flows": [], "version": 1}}, "/config/version"),
])
def test_bad_arguments_are_refused_with_a_json_pointer(act, pointer):
    error = refusal(act, role_level_ok=as_role("admin"), capabilities=capabilities())
    assert (error.status, error.code) == (422, "validation_failed")
    assert pointer in [f["path"] for f in error.fields], error.fields


def test_error_messages_never_echo_a_secret():
    error = refusal({"type": "create_input", "input": {"id": "s", "name": "S", "type": "srt", "mode": "listener",
                                                        "local_addr": "0.0.0.0:9100", "passphrase": "tooshort"}})
    assert "tooshort" not in json.dumps(error.to_body())


@pytest.mark.parametrize("act, role", [
    ({"type": "update_config", "config": {}}, "admin"),
    ({"type": "create_tunnel", "tunnel": {}}, "admin"),
    ({"type": "delete_tunnel", "tunnel_id": "550e8400-e29b-41d4-a716-446655440000"}, "admin"),
])
def test_admin_commands_refuse_operators(act, role):
    error = refusal(act, role_level_ok=as_role("operator"))
    assert (error.status, error.code, error.required_role) == (403, "insufficient_role", role)
    assert error.to_body()["required_role"] == role


@pytest.mark.parametrize("act, capability", [
    ({"type": "get_ptp_mode"}, "ptp"),
    ({"type": "set_bond_uplinks", "bond_uplinks": [{"interface": "eth1", "capacity_bps": 10_000_000}]}, "bonding"),
    ({"type": "create_input", "input": {"id": "w", "name": "W", "type": "whep", "whep_url": "https://x/whep"}}, "webrtc"),
    ({"type": "create_tunnel", "tunnel": {"id": "550e8400-e29b-41d4-a716-446655440000", "name": "T",
                                          "protocol": "udp", "transport": "udp", "mode": "relay",
                                          "direction": "egress", "local_addr": "0.0.0.0:1",
                                          "relay_addrs": ["relay.example.com:4433"]}}, "native-udp-tunnel"),
])
def test_capability_gated_commands_and_fields(act, capability):
    error = refusal(act, role_level_ok=as_role("admin"), capabilities=["resources"])
    assert (error.status, error.code) == (422, "capability_missing")
    assert capability in error.message
    EDGE.check_action(act, role_level_ok=as_role("admin"), capabilities=capabilities())


# -- whole-config validation (PUT /config) ----------------------------------------------------

def test_the_recorded_configs_validate(config):
    EDGE.validate_config(config)
    EDGE.validate_config(action("edge-command-update-config.json")["config"])


def test_config_validation_finds_conflicts_duplicates_and_dangling_references(config):
    config["outputs"].append({"id": "srt-listen", "name": "L", "type": "srt", "mode": "listener",
                              "local_addr": "0.0.0.0:9000"})
    with pytest.raises(ActionError) as caught:
        EDGE.validate_config(config)
    assert caught.value.code == "port_conflict"
    assert caught.value.fields[0]["path"] == "/outputs/1/local_addr"
    config["outputs"].pop()
    config["inputs"].append(dict(config["inputs"][0], local_addr="0.0.0.0:9100"))
    config["flows"][0]["output_ids"].append("missing-out")
    with pytest.raises(ActionError) as caught:
        EDGE.validate_config(config)
    assert caught.value.code == "validation_failed"
    assert {f["path"] for f in caught.value.fields} == {"/inputs/1/id", "/flows/0/output_ids/1"}


def test_a_passive_output_binds_nothing(config):
    config["outputs"].append({"id": "srt-listen", "name": "L", "type": "srt", "mode": "listener",
                              "local_addr": "0.0.0.0:9000", "active": False})
    EDGE.validate_config(config)


@pytest.mark.parametrize("bad", [None, [], "config", {"version": 2}])
def test_config_validation_refuses_non_configs(bad):
    with pytest.raises(ActionError) as caught:
        EDGE.validate_config(bad)
    assert caught.value.code == "validation_failed"


# -- secrets ----------------------------------------------------------------------------------

def test_mask_config_hides_kept_credentials_without_touching_the_original(config):
    masked = EDGE.mask_config(config)
    assert masked["inputs"][0]["passphrase"] == "{{secret}}"
    assert config["inputs"][0]["passphrase"] == "correct-horse-battery"
    assert masked["manager"]["node_id"] == config["manager"]["node_id"]
    assert masked["inputs"][0]["local_addr"] == "0.0.0.0:9000"


def test_every_known_secret_field_is_masked():
    config = {"version": 2, "server": {"listen_addr": "127.0.0.1", "listen_port": 8080, "auth": {"x": 1}},
              "manager": {"urls": ["wss://m/ws/node"], "node_secret": "s3cret-s3cret"},
              "inputs": [{"id": "r", "name": "R", "type": "rtsp", "rtsp_url": "rtsp://cam/1",
                          "username": "admin", "password": "hunter22"},
                         {"id": "w", "name": "W", "type": "whep", "whep_url": "https://x", "bearer_token": "tok"}],
              "outputs": [{"id": "m", "name": "M", "type": "rtmp", "dest_url": "rtmp://a/live", "stream_key": "key1"},
                          {"id": "h", "name": "H", "type": "hls", "ingest_url": "https://a", "auth_token": "tok2"}],
              "tunnels": [{"id": "550e8400-e29b-41d4-a716-446655440000", "tunnel_psk": "ab" * 32,
                           "tls_key_pem": "-----BEGIN PRIVATE KEY-----\nx"}],
              "flows": []}
    text = json.dumps(EDGE.mask_config(config))
    for secret in ("s3cret-s3cret", "hunter22", "admin", "tok", "key1", "tok2", "ab" * 32, "BEGIN PRIVATE"):
        assert f'"{secret}' not in text, secret
    assert '"auth": "{{secret}}"' in text


def test_restore_matches_by_entity_id_even_when_arrays_are_reordered():
    current = action("edge-command-update-config.json")["config"]
    edited = EDGE.mask_config(current)
    edited["outputs"].reverse()
    edited["outputs"][0]["latency_ms"] = 800
    restored = EDGE.restore_secrets(edited, current)
    by_id = {o["id"]: o for o in restored["outputs"]}
    assert by_id["srt-out-cloud"]["passphrase"] == "another-long-passphrase"
    assert "passphrase" not in by_id["udp-out"]
    assert restored["inputs"][0]["passphrase"] == "correct-horse-battery"


def test_a_placeholder_with_nothing_to_keep_is_refused(config):
    edited = EDGE.mask_config(config)
    edited["inputs"][0]["id"] = "renamed"            # a new id has no stored passphrase
    with pytest.raises(ActionError) as caught:
        EDGE.restore_secrets(edited, config)
    assert (caught.value.status, caught.value.code) == (422, "validation_failed")
    assert caught.value.fields[0]["path"] == "/inputs/0/passphrase"


def test_action_placeholders_are_restored_from_the_entity_named_by_the_action(config):
    edited = {"type": "update_input", "input_id": "srt-in",
              "input": dict(EDGE.mask_config(config)["inputs"][0], latency_ms=200)}
    edited["input"].pop("id")
    restored = EDGE.restore_action_secrets(edited, config)
    assert restored["input"]["passphrase"] == "correct-horse-battery"
    assert "id" not in restored["input"]
    with pytest.raises(ActionError) as caught:
        EDGE.restore_action_secrets({"type": "create_input", "input": {
            "id": "new", "name": "N", "type": "srt", "mode": "caller", "remote_addr": "1.2.3.4:5",
            "passphrase": "{{secret}}"}}, config)
    assert caught.value.fields[0]["path"] == "/input/passphrase"


def test_mask_action_for_the_audit_log():
    tunnel = action("edge-command-create-tunnel-egress.json")
    masked = EDGE.mask_action(tunnel, replacement="••••••")
    assert masked["tunnel"]["tunnel_encryption_key"] == "••••••"
    assert masked["tunnel"]["tunnel_bind_secret"] == "••••••"
    assert masked["tunnel"]["local_addr"] == "0.0.0.0:9000"
    assert tunnel["tunnel"]["tunnel_bind_secret"].startswith("da5f")          # original untouched
    update = EDGE.mask_action(action("edge-command-update-config.json"))
    assert "another-long-passphrase" not in json.dumps(update)
    assert EDGE.mask_action(action("edge-command-rotate-secret.json"))["new_secret"] == "{{secret}}"


# -- deploy_flow (product.md §7.1) -------------------------------------------------------------

def deploy_action():
    return {"type": "deploy_flow",
            "inputs": [action("edge-command-create-input.json")["input"]],
            "outputs": [action("edge-command-create-output.json")["output"]],
            "flow": dict(action("edge-command-create-flow.json")["flow"], output_ids=["rtp-out2", "udp-out"])}


def test_deploy_flow_validates_the_whole_set_against_the_cached_config(config):
    config["flows"][0]["output_ids"] = []          # free udp-out so the new flow may use it
    spec = EDGE.check_action(deploy_action(), config=config)
    assert spec.composite and spec.ai_exposed


def test_deploy_flow_refuses_conflicts_duplicates_and_missing_references(config):
    act = deploy_action()
    act["inputs"].append({"id": "srt-in", "name": "Dup", "type": "srt", "mode": "listener",
                          "local_addr": "0.0.0.0:9000"})
    act["flow"]["input_ids"].append("nowhere")
    error = refusal(act, config=config)
    paths = {f["path"] for f in error.fields}
    assert {"/inputs/1/id", "/inputs/1/local_addr", "/flow/input_ids/1", "/flow/output_ids/1"} <= paths


def test_deploy_flow_expands_into_ordered_node_commands_and_rolls_back_in_reverse():
    act = deploy_action()
    steps = EDGE.expand(act)
    assert [s["type"] for s in steps] == ["create_input", "create_output", "create_flow"]
    act["flow"]["enabled"] = False
    assert [s["type"] for s in EDGE.expand(act)][-1] == "stop_flow"      # create_flow always starts
    assert EDGE.rollback(steps[:2]) == [{"type": "delete_output", "output_id": "rtp-out2"},
                                        {"type": "delete_input", "input_id": "srt-in2"}]
    assert EDGE.expand({"type": "stop_flow", "flow_id": "x"}) == [{"type": "stop_flow", "flow_id": "x"}]


# -- previews ---------------------------------------------------------------------------------

def test_update_config_preview_shows_what_the_node_will_change(config):
    preview = EDGE.preview(config, action("edge-command-update-config.json"))
    assert (preview["kind"], preview["entity"]) == ("replace", "config")
    paths = [c["path"] for c in preview["changes"]]
    assert paths == ["/outputs/srt-out-cloud", "/flows/main-feed/output_ids"]   # manager block is never pushed
    assert preview["changes"][0]["after"]["passphrase"] == "{{secret}}"


def test_entity_previews_mark_secret_changes_without_values(config):
    changed = dict(config["inputs"][0], passphrase="a-brand-new-passphrase", latency_ms=300)
    preview = EDGE.preview(config, {"type": "update_input", "input_id": "srt-in", "input": changed})
    assert preview["entity_id"] == "srt-in"
    assert preview["changes"] == [{"path": "/latency_ms", "before": 120, "after": 300},
                                  {"path": "/passphrase", "before": "{{secret}}", "after": "{{secret}}"}]
    kept = dict(EDGE.mask_config(config)["inputs"][0], latency_ms=300)
    assert [c["path"] for c in EDGE.preview(config, {"type": "update_input", "input_id": "srt-in",
                                                     "input": kept})["changes"]] == ["/latency_ms"]
    stop = EDGE.preview(config, action("edge-command-stop-flow.json"))
    assert stop["changes"] == [{"path": "/enabled", "before": True, "after": False}]


def test_union_errors_point_at_the_branch_the_document_meant():
    server = {"listen_addr": "127.0.0.1", "listen_port": 8080}
    cases = [
        ({"type": "update_config", "config": {"version": 2, "server": server, "flows": [],
                                              "inputs": [{"id": "a", "name": "A"}]}},
         [{"path": "/config/inputs/0/type", "message": "is required"}]),
        ({"type": "create_output", "output": {"id": "o", "name": "O", "type": "srt"}},
         [{"path": "/output/mode", "message": "is required"}]),
        ({"type": "deploy_flow", "inputs": [{"id": "a", "name": "A", "type": "rtp", "bind_addr": 5}],
          "flow": {"id": "f", "name": "F"}},
         [{"path": "/inputs/0/bind_addr", "message": "must be of type string"}]),
        ({"type": "create_input", "input": "srt"}, [{"path": "/input", "message": "must be of type object"}]),
    ]
    for act, fields in cases:
        assert refusal(act, role_level_ok=as_role("admin")).fields == fields
