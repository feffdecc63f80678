"""Relay driver: summaries, history, commands, secrets, rotation rule and ports."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bilbycast.drivers.base import ROLE_LEVELS, ActionError
from bilbycast.drivers.appear_x import DRIVER as GATEWAY
from bilbycast.drivers.edge import DRIVER as EDGE
from bilbycast.drivers.relay import DRIVER as RELAY

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"
NOW = datetime(2026, 5, 1, 10, 0, 1, tzinfo=timezone.utc)
TUNNEL = "550e8400-e29b-41d4-a716-446655440000"


def payload(name: str):
    return json.loads((EXAMPLES / name).read_text())["payload"]


def as_role(role: str):
    return lambda required: ROLE_LEVELS[role] >= ROLE_LEVELS[required]


def metric_values(summary: dict) -> dict:
    return {m["key"]: m["value"] for m in summary["metrics"]}


def test_relay_stats_and_health_summarise_to_tunnels_edges_and_bandwidth():
    summary = RELAY.summarise(payload("relay-stats.json"), payload("relay-health.json"), now=NOW)
    assert (summary["flows_total"], summary["flows_running"]) == (None, None)
    assert (summary["bitrate_bps"], summary["uptime_secs"], summary["health"]) == (16000, 3600, "healthy")
    assert (summary["cpu_percent"], summary["ram_percent"], summary["target"]) == (None, None, None)
    assert metric_values(summary) == {"tunnels_active": 1, "edges_connected": 2, "tunnels_total": 1,
                                      "bytes_forwarded": 2000, "tcp_streams_active": 0, "udp_sessions_active": 0}


def test_relay_health_alone_and_degraded_status():
    summary = RELAY.summarise(None, payload("relay-health.json"), now=NOW)
    assert summary["uptime_secs"] == 86400 and summary["bitrate_bps"] is None
    assert metric_values(summary)["edges_connected"] == 2
    degraded = RELAY.summarise(None, dict(payload("relay-health.json"), status="degraded"), now=NOW)
    assert degraded["health"] == "warning" and degraded["health_reasons"][0]["code"] == "node_degraded"
    assert RELAY.summarise(payload("relay-stats.json"), None, now=NOW)["health"] is None


def test_relay_history_records_bandwidth_and_tunnel_bits_as_a_counter():
    samples = RELAY.history_samples(payload("relay-stats.json"))
    assert samples == [("node", "", None, "bandwidth_bps", 16000.0, False),
                       ("tunnel", TUNNEL, None, "bitrate_bps", 8000.0, True)]


@pytest.mark.parametrize("name", ["relay-command-authorize-tunnel.json", "relay-command-list-tunnels.json"])
def test_recorded_relay_commands_pass(name):
    act = payload(name)["action"]
    assert RELAY.check_action(act, role_level_ok=as_role("admin")).name == act["type"]


def test_relay_rotate_secret_is_reserved_and_unknown_commands_are_refused():
    with pytest.raises(ActionError) as caught:
        RELAY.check_action(payload("relay-command-rotate-secret.json")["action"])
    assert caught.value.code == "action_not_allowed"
    with pytest.raises(ActionError) as caught:
        RELAY.check_action({"type": "create_flow", "flow": {}})
    assert caught.value.code == "unknown_action"


def test_relay_roles_follow_the_catalogue():
    assert RELAY.check_action({"type": "list_edges"}, role_level_ok=as_role("operator")).name == "list_edges"
    for act in ({"type": "close_tunnel", "tunnel_id": TUNNEL}, {"type": "disconnect_edge", "edge_id": "e1"},
                {"type": "revoke_tunnel", "tunnel_id": TUNNEL}):
        with pytest.raises(ActionError) as caught:
            RELAY.check_action(act, role_level_ok=as_role("operator"))
        assert (caught.value.code, caught.value.required_role) == ("insufficient_role", "admin")


@pytest.mark.parametrize("act, pointer", [
    ({"type": "close_tunnel", "tunnel_id": "tunnel-1"}, "/tunnel_id"),
    ({"type": "close_tunnel"}, "/tunnel_id"),
    ({"type": "authorize_tunnel", "tunnel_id": TUNNEL, "ingress_token": "AB" * 32, "egress_token": "ab" * 32},
     "/ingress_token"),
    ({"type": "configure_distribution", "public_base_url": "ftp://x"}, "/public_base_url"),
    ({"type": "configure_distribution", "public_ip": "relay.example.com"}, "/public_ip"),
    ({"type": "configure_distribution", "cascade_sources": [{"local_stream": "a"}]},
     "/cascade_sources/0/upstream_whep_url"),
    ({"type": "list_tunnels", "verbose": True}, "/verbose"),
])
def test_relay_arguments_are_validated(act, pointer):
    with pytest.raises(ActionError) as caught:
        RELAY.check_action(act)
    assert caught.value.code == "validation_failed"
    assert [f["path"] for f in caught.value.fields] == [pointer]


def test_relay_config_masks_redactions_and_a_consumed_token():
    config = payload("relay-config-response.json")
    config["manager"]["registration_token"] = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
    masked = RELAY.mask_config(config)
    assert masked["api_token"] == masked["manager"]["node_secret"] == "{{secret}}"
    assert masked["manager"]["registration_token"] == "{{secret}}"
    assert masked["quic_addr"] == "0.0.0.0:4433"
    audit = RELAY.mask_action(payload("relay-command-authorize-tunnel.json")["action"], replacement="••••••")
    assert audit["ingress_token"] == audit["egress_token"] == "••••••"


def test_relay_has_no_full_config_replace():
    with pytest.raises(ActionError) as caught:
        RELAY.validate_config(payload("relay-config-response.json"))
    assert caught.value.code == "not_supported"


def test_relay_secret_rotation_waits_for_a_restart_after_registration():
    health = payload("relay-health.json")                     # uptime 86400 s
    RELAY.check_secret_rotation(health=health, registered_at=NOW - timedelta(days=3), now=NOW)
    with pytest.raises(ActionError) as caught:
        RELAY.check_secret_rotation(health=health, registered_at=NOW - timedelta(hours=2), now=NOW)
    assert (caught.value.status, caught.value.code) == (422, "validation_failed")
    with pytest.raises(ActionError):
        RELAY.check_secret_rotation(health=None, registered_at=NOW - timedelta(days=3), now=NOW)
    EDGE.check_secret_rotation(health=None, registered_at=NOW, now=NOW)
    with pytest.raises(ActionError) as caught:
        GATEWAY.check_secret_rotation(health=None, registered_at=NOW, now=NOW)
    assert caught.value.code == "not_supported"


def test_relay_ports_are_its_listeners_and_one_per_tunnel_leg():
    ports = RELAY.topology_ports(payload("relay-config-response.json"), payload("relay-stats.json"),
                                 payload("relay-health.json"))
    assert [(p["id"], p["direction"], p["address"]) for p in ports] == [
        ("quic", "in", "relay.example.com:4433"),
        (f"tunnel:{TUNNEL}:ingress", "in", "203.0.113.9:40122"),
        (f"tunnel:{TUNNEL}:egress", "out", "198.51.100.7:53211")]
    assert ports[1]["peer_node_id"] == "9c2d5e7f-3a1b-4c6d-8e9f-0a1b2c3d4e5f"
    assert ports[2]["peer_node_id"] == "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21"
    assert ports[1]["protocol"] == "udp-tunnel" and ports[1]["state"] == "active"


def test_relay_tunnels_feed_relay_pairing():
    [tunnel] = RELAY.tunnels(None, payload("relay-stats.json"))
    assert tunnel["id"] == TUNNEL and tunnel["state"] == "active"
    assert tunnel["egress_edge_id"] == "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21"
    assert RELAY.endpoints(payload("relay-config-response.json")) == []
