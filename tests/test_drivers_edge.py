"""Edge driver live state: summaries, history series, topology ports and endpoints, built on the
recorded frames in shared/spec/examples."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bilbycast.drivers.edge import DRIVER as EDGE

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"
NOW = datetime(2026, 5, 1, 10, 0, 6, tzinfo=timezone.utc)


def payload(name: str):
    return json.loads((EXAMPLES / name).read_text())["payload"]


@pytest.fixture
def stats():
    return payload("edge-stats.json")


@pytest.fixture
def config():
    return payload("edge-config-response.json")


# -- summary ----------------------------------------------------------------------------------

def test_flow_path_stats_and_health_summarise_to_the_card_values(stats):
    summary = EDGE.summarise(stats, payload("edge-health.json"), now=NOW)
    assert summary == {
        "flows_total": 2, "flows_running": 1, "bitrate_bps": 8021504, "cpu_percent": 12.5,
        "ram_percent": 41.27, "uptime_secs": 3605, "health": "healthy", "health_reasons": [],
        "target": None, "metrics": [{"key": "tunnels_active", "label": "Tunnels", "value": 0, "unit": None}],
        "updated_at": "2026-05-01T10:00:06.000Z"}


def test_bitrate_sums_flow_inputs_and_the_larger_direction_of_each_tunnel(stats):
    second = copy.deepcopy(stats["flows"][0])
    second.update(flow_id="second", flow_name="Second")
    second["input"]["bitrate_bps"] = 1_000_000
    stats["flows"].append(second)
    stats["tunnels"] = payload("edge-stats-timer.json")["tunnels"]           # out 16000 > in 0
    summary = EDGE.summarise(stats, None, now=NOW)
    assert summary["bitrate_bps"] == 8021504 + 1_000_000 + 16000
    assert summary["flows_total"] == 3 and summary["flows_running"] == 2
    assert summary["metrics"][0]["value"] == 1


@pytest.mark.parametrize("label, expected", [("Warning", "warning"), ("Error", "critical"), ("Critical", "critical")])
def test_an_unhealthy_flow_makes_the_node_unhealthy_with_a_reason(stats, label, expected):
    stats["flows"][0]["health"] = label
    stats["flows"][0]["health_reasons"] = [{"code": "srt_loss", "severity": label, "detail": "Packet loss 2%"}]
    summary = EDGE.summarise(stats, payload("edge-health.json"), now=NOW)
    assert summary["health"] == expected
    assert summary["health_reasons"] == [{"code": "flow_unhealthy", "severity": expected,
                                          "detail": f"Flow main-feed reports {label}: Packet loss 2%"}]


def test_the_worst_flow_wins(stats):
    stats["flows"][0]["health"] = "Warning"
    stats["flows"][1]["health"] = "Critical"
    summary = EDGE.summarise(stats, None, now=NOW)
    assert summary["health"] == "critical"
    assert [r["detail"] for r in summary["health_reasons"]] == ["Flow main-feed reports Warning",
                                                                "Flow backup reports Critical"]


def test_a_degraded_health_status_counts_too(stats):
    health = dict(payload("edge-health.json"), status="degraded")
    summary = EDGE.summarise(stats, health, now=NOW)
    assert summary["health"] == "warning"
    assert summary["health_reasons"][0]["code"] == "node_degraded"


def test_timer_path_stats_keep_the_flow_figures_of_the_previous_summary(stats):
    stats["flows"][0]["health"] = "Warning"
    previous = EDGE.summarise(stats, None, now=NOW)
    timer = payload("edge-stats-timer.json")
    summary = EDGE.summarise(timer, None, now=NOW, prev=previous)
    assert summary["flows_total"] == 2          # not 0: an empty list is not "all flows deleted"
    assert summary["flows_running"] == 1
    assert summary["bitrate_bps"] == previous["bitrate_bps"]
    assert summary["health"] == "warning"      # flow health carried over as well
    assert summary["metrics"][0]["value"] == 1  # the tunnel in the timer message is up


def test_timer_path_without_history_reports_unknown_bitrate_rather_than_a_false_number():
    summary = EDGE.summarise(payload("edge-stats-timer.json"), None, now=NOW)
    assert summary["flows_running"] == 1 and summary["flows_total"] == 1
    assert summary["bitrate_bps"] is None


def test_a_tunnel_only_node_reports_the_tunnel_bitrate():
    timer = payload("edge-stats-timer.json")
    timer.update(active_flows=0, total_flows=0)
    summary = EDGE.summarise(timer, None, now=NOW)
    assert (summary["flows_total"], summary["flows_running"], summary["bitrate_bps"]) == (0, 0, 16000)


def test_health_alone_gives_resources_and_running_flows_but_no_flow_total():
    summary = EDGE.summarise(None, payload("edge-health.json"), now=NOW)
    assert summary["flows_total"] is None and summary["flows_running"] == 1
    assert (summary["cpu_percent"], summary["ram_percent"], summary["uptime_secs"]) == (12.5, 41.27, 3600)
    assert summary["health"] == "healthy"


# -- history ----------------------------------------------------------------------------------

def test_history_samples_of_the_flow_path(stats):
    samples = EDGE.history_samples(stats)
    assert ("node", "", None, "bitrate_bps", 8021504.0, False) in samples
    assert ("node", "", None, "cpu_percent", 12.5, False) in samples
    assert ("flow", "main-feed", "Main Program", "bitrate_bps", 8021504.0, False) in samples
    assert ("flow", "main-feed", "Main Program", "packets_lost", 0.0, True) in samples
    assert ("output", "udp-out", "Playout", "packets_dropped", 0.0, True) in samples
    assert not [s for s in samples if s[1] == "backup"], "idle flows leave a gap, not zeros"
    declared = {(m["entity"], m["metric"]) for m in EDGE.history_metrics}
    assert {(s[0], s[3]) for s in samples} <= declared


def test_history_records_srt_rtt_and_tunnel_throughput(stats):
    stats["flows"][0]["input"]["srt_stats"] = {"state": "connected", "rtt_ms": 12.5}
    samples = EDGE.history_samples(stats)
    assert ("flow", "main-feed", "Main Program", "srt_rtt_ms", 12.5, False) in samples
    timer = EDGE.history_samples(payload("edge-stats-timer.json"))
    assert ("tunnel", "550e8400-e29b-41d4-a716-446655440000", "Studio to Cloud", "bitrate_bps", 16000.0, False) in timer
    assert not [s for s in timer if s[0] == "node" and s[3] == "bitrate_bps"], \
        "a timer-path message has no flow bitrate: no node sample rather than a false dip"


# -- topology and endpoints -------------------------------------------------------------------

def test_topology_ports_join_config_and_live_stats(config, stats):
    ports = EDGE.topology_ports(config, stats)
    assert ports == [
        {"id": "in:srt-in", "direction": "in", "protocol": "srt", "label": "SRT IN", "address": "0.0.0.0:9000",
         "role": "listener", "entity_id": "srt-in", "flow_id": "main-feed", "active": True,
         "state": "receiving", "bitrate_bps": 8021504},
        {"id": "out:udp-out", "direction": "out", "protocol": "udp", "label": "UDP OUT",
         "address": "239.1.2.1:5004", "role": "sender", "entity_id": "udp-out", "flow_id": "main-feed",
         "active": True, "state": "active", "bitrate_bps": 8019840}]


def test_ports_of_a_stopped_flow_are_idle(config):
    ports = EDGE.topology_ports(config, None)
    assert [(p["id"], p["state"], p["bitrate_bps"]) for p in ports] == [("in:srt-in", "idle", 0),
                                                                        ("out:udp-out", "idle", 0)]


def test_standby_inputs_are_not_on_air(config, stats):
    config["inputs"].append({"id": "srt-b", "name": "Backup SRT", "type": "srt", "mode": "caller",
                             "remote_addr": "203.0.113.10:9000", "active": False})
    config["flows"][0]["input_ids"].append("srt-b")
    by_id = {p["id"]: p for p in EDGE.topology_ports(config, stats)}
    assert by_id["in:srt-in"]["active"] is True
    assert (by_id["in:srt-b"]["active"], by_id["in:srt-b"]["state"], by_id["in:srt-b"]["role"]) == \
        (False, "standby", "caller")
    assert by_id["in:srt-b"]["address"] == "203.0.113.10:9000"


def test_tunnel_ends_become_ports_and_tunnel_records(config):
    timer = payload("edge-stats-timer.json")
    ports = EDGE.topology_ports(config, timer)
    tunnel = next(p for p in ports if p["id"].startswith("tunnel:"))
    assert tunnel["direction"] == "out"            # egress: local traffic enters the tunnel here
    assert (tunnel["protocol"], tunnel["label"], tunnel["address"]) == ("udp-tunnel", "UDP-TUNNEL OUT", "0.0.0.0:9000")
    assert tunnel["tunnel_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert (tunnel["state"], tunnel["bitrate_bps"], tunnel["active"]) == ("ready", 16000, True)
    [end] = EDGE.tunnels(config, timer)
    assert end["relay_addrs"] == ["relay.example.com:4433"] and end["mode"] == "relay"


def test_without_a_config_ports_come_from_stats(stats):
    ports = EDGE.topology_ports(None, stats)
    assert [(p["id"], p["address"], p["bitrate_bps"]) for p in ports] == [
        ("in:srt-in", "0.0.0.0:9000", 8021504), ("out:udp-out", "239.1.2.1:5004", 8019840)]


def test_endpoints_copy_only_address_fields(config):
    assert EDGE.endpoints(config) == [{
        "flow_id": "main-feed", "flow_name": "Main Program", "enabled": True,
        "input": {"id": "srt-in", "type": "srt", "mode": "listener", "local_addr": "0.0.0.0:9000"},
        "inputs": [{"id": "srt-in", "type": "srt", "mode": "listener", "local_addr": "0.0.0.0:9000"}],
        "outputs": [{"id": "udp-out", "name": "Playout", "type": "udp", "dest_addr": "239.1.2.1:5004"}]}]
    assert "passphrase" not in json.dumps(EDGE.endpoints(config))


def test_the_on_air_input_follows_live_stats(config, stats):
    config["inputs"].append({"id": "srt-b", "name": "B", "type": "srt", "mode": "caller",
                             "remote_addr": "203.0.113.10:9000"})
    config["flows"][0]["input_ids"] = ["srt-b", "srt-in"]
    assert EDGE.endpoints(config, stats)[0]["input"]["id"] == "srt-in"     # stats: active_input_id
    assert EDGE.endpoints(config)[0]["input"]["id"] == "srt-in"            # config: explicit active


def test_node_addresses_come_from_interfaces_and_the_api_address():
    assert EDGE.addresses(payload("edge-health.json")) == ["192.168.1.20"]


def test_ai_state_is_compact_and_masked(config, stats):
    state = EDGE.ai_state(config, stats, payload("edge-health.json"), now=NOW)
    text = json.dumps(state)
    assert "correct-horse-battery" not in text
    assert state["flows"][0]["state"] == "Running" and state["flows"][0]["bitrate_bps"] == 8021504
    assert state["inputs"][0]["local_addr"] == "0.0.0.0:9000"
    assert len(EDGE.ai_primer()) <= 8000 and "deploy_flow" in EDGE.ai_primer()
