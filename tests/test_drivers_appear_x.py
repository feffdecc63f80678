"""appear_x gateway driver: the two statuses (sidecar link, chassis target), health merging,
alarm handling, commands and ports."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bilbycast.drivers.appear_x import DRIVER as GATEWAY
from bilbycast.drivers.base import ROLE_LEVELS, ActionError

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"
NOW = datetime(2026, 8, 21, 4, 44, 12, tzinfo=timezone.utc)
INPUT_KEY = "9f1c3e5a-7b2d-4c6e-8f0a-1b3d5e7f9a2c"


def payload(name: str):
    return json.loads((EXAMPLES / name).read_text())["payload"]


def as_role(role: str):
    return lambda required: ROLE_LEVELS[role] >= ROLE_LEVELS[required]


def metric_values(summary: dict) -> dict:
    return {m["key"]: m["value"] for m in summary["metrics"]}


def steady(at: datetime = NOW) -> dict:
    return GATEWAY.merge_health(None, payload("appearx-health.json"), received_at=at)


# -- summary and the two statuses -------------------------------------------------------------

def test_steady_state_with_a_minor_alarm_is_a_warning_with_a_reachable_target():
    summary = GATEWAY.summarise(payload("appearx-stats.json"), steady(), now=NOW)
    assert (summary["flows_total"], summary["flows_running"], summary["bitrate_bps"]) == (0, 0, None)
    assert summary["uptime_secs"] == 86400                       # chassis uptime wins over the sidecar's
    assert summary["health"] == "warning"
    assert {r["code"] for r in summary["health_reasons"]} == {"sidecar_degraded", "chassis_alarm"}
    assert summary["target"] == {"label": "Chassis", "address": "192.168.50.8", "status": "reachable",
                                 "since": "2026-08-21T04:44:12.000Z"}
    values = metric_values(summary)
    assert (values["alarms_minor"], values["alarms_major"], values["slots"], values["inputs"]) == (1, 0, 1, 0)


def test_an_unreachable_target_is_critical_with_target_status_unreachable():
    health = GATEWAY.merge_health(None, payload("appearx-health-discovery.json"), received_at=NOW)
    summary = GATEWAY.summarise(None, health, now=NOW)
    assert summary["health"] == "critical"
    assert summary["target"]["status"] == "unreachable"
    assert summary["health_reasons"][0] == {"code": "target_unreachable", "severity": "critical",
                                            "detail": "Chassis 192.168.50.8 not answering"}


def test_a_major_alarm_makes_the_node_critical_even_when_the_status_says_ok():
    report = payload("appearx-health.json")
    report["status"] = "ok"
    report["alarms"][0]["severity"] = "MAJOR"
    summary = GATEWAY.summarise(None, GATEWAY.merge_health(None, report, received_at=NOW), now=NOW)
    assert summary["health"] == "critical"
    assert summary["health_reasons"] == [{"code": "chassis_alarm", "severity": "critical",
                                          "detail": "1 critical/major alarm(s): sfpRxLow"}]


def test_bitrate_is_the_sum_of_effective_ip_input_bitrates():
    stats = payload("appearx-stats.json")
    stats["ip_input_status"] = [
        {"key": INPUT_KEY, "slot": 1, "bitrates": {"value": {"effectiveFlowBitrate": "8021504"}}},
        {"slot": 2, "value": {"bitrates": {"value": {"effectiveFlowBitrate": "1000000"}}}},
        {"slot": 2, "bitrates": {"value": {}}}]
    assert GATEWAY.summarise(stats, steady(), now=NOW)["bitrate_bps"] == 9021504
    assert ("input", INPUT_KEY, None, "bitrate_bps", 8021504.0, False) in GATEWAY.history_samples(stats)


# -- merging partial reports ------------------------------------------------------------------

def test_the_bare_heartbeat_never_erases_target_alarms_or_capabilities():
    merged = GATEWAY.merge_health(steady(), payload("appearx-health-heartbeat.json"), received_at=NOW)
    assert merged["gateway_target"]["reachable"] is True
    assert merged["alarms"] and merged["capabilities"] == ["upgrade"]
    assert merged["status"] == "degraded"


def test_heartbeat_and_provisional_reports_never_turn_a_critical_node_healthy():
    down = GATEWAY.merge_health(None, payload("appearx-health-discovery.json"), received_at=NOW)
    previous = GATEWAY.summarise(None, down, now=NOW)
    provisional = {"status": "critical", "version": "0.11.8", "alarms": [], "capabilities": ["upgrade"],
                   "gateway_target": {"reachable": False, "target_address": "192.168.50.8",
                                      "consecutive_failures": 0, "last_error_code": "tcp_refused"}}
    later = NOW + timedelta(seconds=5)
    for report in (payload("appearx-health-heartbeat.json"), provisional):
        # Merged, as the hub stores it …
        merged = GATEWAY.merge_health(down, report, received_at=later)
        assert GATEWAY.summarise(None, merged, now=later, prev=previous)["health"] == "critical"
        # … and raw, if a caller forgot to merge.
        assert GATEWAY.summarise(None, report, now=later, prev=previous)["health"] == "critical"


def test_the_first_report_of_a_sidecar_process_is_provisional():
    provisional = {"status": "critical", "version": "0.11.8", "alarms": [], "capabilities": ["upgrade"],
                   "gateway_target": {"reachable": False, "target_address": "192.168.50.8",
                                      "consecutive_failures": 0, "last_error_code": "tcp_refused"}}
    merged = GATEWAY.merge_health(None, provisional, received_at=NOW)
    summary = GATEWAY.summarise(None, merged, now=NOW)
    assert summary["target"]["status"] == "unknown"
    assert summary["health"] is None and summary["health_reasons"] == []
    assert GATEWAY.merge_health(steady(), provisional, received_at=NOW)["gateway_target"]["reachable"] is True


def test_a_target_block_older_than_30_seconds_is_unknown():
    report = steady(NOW)
    assert GATEWAY.summarise(None, report, now=NOW + timedelta(seconds=30))["target"]["status"] == "reachable"
    stale = GATEWAY.summarise(None, report, now=NOW + timedelta(seconds=31))
    assert stale["target"]["status"] == "unknown"
    assert GATEWAY.summarise(payload("appearx-stats.json"), None, now=NOW)["target"]["status"] == "unknown"


def test_target_since_is_kept_while_the_status_holds_and_reset_when_it_changes():
    first = GATEWAY.summarise(None, steady(NOW), now=NOW)
    later = NOW + timedelta(seconds=10)
    second = GATEWAY.summarise(None, steady(later), now=later, prev=first)
    assert second["target"]["since"] == first["target"]["since"] == "2026-08-21T04:44:12.000Z"
    down = GATEWAY.merge_health(None, payload("appearx-health-discovery.json"), received_at=later)
    third = GATEWAY.summarise(None, down, now=later, prev=second)
    assert third["target"] == {"label": "Chassis", "address": "192.168.50.8", "status": "unreachable",
                               "since": "2026-08-21T04:44:22.000Z"}


# -- events -----------------------------------------------------------------------------------

def test_repeated_alarm_raised_events_share_a_dedupe_key():
    raised = payload("appearx-event-alarm-raised.json")
    assert GATEWAY.event_dedupe_key(raised) == "alarm:a-20"
    assert GATEWAY.event_dedupe_key(payload("appearx-event-alarm-minor.json")) == "alarm:a-19"
    assert GATEWAY.event_dedupe_key(payload("appearx-event-target-unreachable.json")) is None
    cleared = {"severity": "info", "category": "alarm", "message": "Alarm cleared: a-20",
               "details": {"alarm_id": "a-20"}}
    assert GATEWAY.event_dedupe_key(cleared) is None
    assert GATEWAY.normalise_severity(payload("appearx-event-alarm-minor.json")["severity"]) == "warning"


# -- commands ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["appearx-command-get-config.json", "appearx-command-get-inputs.json"])
def test_recorded_gateway_commands_pass(name):
    act = payload(name)["action"]
    assert GATEWAY.check_action(act, role_level_ok=as_role("operator")).name == act["type"]


@pytest.mark.parametrize("act", [
    payload("appearx-command-set-coder-services.json")["action"],   # not in the product catalogue
    {"type": "rotate_secret", "new_secret": "x"},                    # sidecars have no rotation
    {"type": "update_config", "config": {}},
    {"type": "create_flow", "flow": {"id": "f", "name": "F"}},
])
def test_commands_outside_the_gateway_catalogue_are_unknown(act):
    with pytest.raises(ActionError) as caught:
        GATEWAY.check_action(act)
    assert (caught.value.status, caught.value.code) == (422, "unknown_action")


@pytest.mark.parametrize("act, pointer", [
    ({"type": "get_inputs", "slot": "A"}, "/slot"),      # the sidecar would silently use slot 1
    ({"type": "get_inputs", "slot": 0}, "/slot"),
    ({"type": "get_inputs", "slot": 1.5}, "/slot"),
    ({"type": "set_ip_input", "slot": 1}, "/inputs"),
    ({"type": "set_ip_input", "inputs": [{"key": "not-a-uuid", "value": {}}]}, "/inputs/0/key"),
    ({"type": "set_ip_input", "inputs": [{"key": INPUT_KEY, "value": {"destinationAddress": "10.0.0.999"}}]},
     "/inputs/0/value/destinationAddress"),
    ({"type": "set_ip_output", "outputs": [{"key": INPUT_KEY, "value": {"udpPort": 70000}}]},
     "/outputs/0/value/udpPort"),
    ({"type": "get_alarms", "slot": 1}, "/slot"),
])
def test_gateway_arguments_are_validated_before_sending(act, pointer):
    with pytest.raises(ActionError) as caught:
        GATEWAY.check_action(act)
    assert caught.value.code == "validation_failed"
    assert pointer in [f["path"] for f in caught.value.fields]


def test_valid_gateway_writes_pass():
    GATEWAY.check_action({"type": "set_ip_input", "slot": 2, "inputs": [
        {"key": INPUT_KEY, "value": {"label": "Feed A", "destinationAddress": "239.1.1.1", "udpPort": 5000,
                                     "macAddress": "00:11:22:33:44:55"}}]})
    GATEWAY.check_action({"type": "clear_all_counters", "slot": 3})


def test_licence_install_needs_admin_and_is_masked_in_audit():
    act = {"type": "install_license", "license": "LICENSE-BLOB"}
    with pytest.raises(ActionError) as caught:
        GATEWAY.check_action(act, role_level_ok=as_role("operator"))
    assert caught.value.required_role == "admin"
    GATEWAY.check_action(act, role_level_ok=as_role("admin"))
    assert GATEWAY.mask_action(act)["license"] == "{{secret}}"


def test_gateway_reads_are_ai_exposed_and_writes_are_flagged():
    specs = GATEWAY.commands
    assert all(specs[n].ai_exposed for n in ("get_inputs", "get_outputs", "get_services", "get_alarms",
                                             "get_ip_interfaces", "get_chassis", "set_ip_input", "set_ip_output"))
    assert specs["clear_all_counters"].destructive and specs["install_license"].destructive
    assert not specs["get_config"].ai_exposed


# -- ports ------------------------------------------------------------------------------------

def test_chassis_inputs_and_outputs_become_ports_and_unbound_ones_are_listed():
    stats = payload("appearx-stats.json")
    stats["inputs"] = [{"key": INPUT_KEY, "slot": 1, "value": {"label": "Feed A", "protocol": "SRT",
                                                               "ipAddress": "10.20.0.5", "port": 9000}},
                       {"key": "6d2e8f1a-4b3c-4d5e-9f6a-7b8c9d0e1f2a", "slot": 1, "value": {"label": "Spare"}}]
    ports = GATEWAY.topology_ports(None, stats)
    assert [(p["id"], p["protocol"], p["address"], p["state"]) for p in ports] == [
        (f"in:{INPUT_KEY}", "srt", "10.20.0.5:9000", "configured"),
        ("in:6d2e8f1a-4b3c-4d5e-9f6a-7b8c9d0e1f2a", "ip", None, "unbound")]
    assert [p["name"] for p in GATEWAY.unbound_endpoints(None, stats)] == ["Spare"]


def test_gateway_history_uses_the_snapshot_signals():
    samples = GATEWAY.history_samples(payload("appearx-stats.json"))
    assert ("node", "", None, "alarms_active", 1.0, False) in samples
    assert ("node", "", None, "qsfp_temp_c_max", 42.3, False) in samples
    assert not [s for s in samples if s[3] == "bitrate_bps"]         # no bitrate reported: no series
