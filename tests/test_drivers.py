"""Driver contract and registry: describe() shapes, the §7.2 check order, extensibility."""

from __future__ import annotations

import sys
import types
from datetime import datetime, timezone

import pytest

from bilbycast.drivers import base
from bilbycast.drivers.base import ActionError, CommandSpec, Driver, object_schema
from bilbycast.drivers.registry import (BUILTIN_DRIVER_MODULES, DriverRegistry, default_registry)

NOW = datetime(2026, 5, 18, 0, 36, 15, 123000, tzinfo=timezone.utc)


def role_checker(role: str):
    """What the API passes: does the caller's role reach the required one?"""
    return lambda required: base.ROLE_LEVELS[role] >= base.ROLE_LEVELS[required]


# -- registry ---------------------------------------------------------------------------------

def test_default_registry_holds_the_three_builtin_types_sorted():
    registry = default_registry()
    assert BUILTIN_DRIVER_MODULES == ("bilbycast.drivers.edge", "bilbycast.drivers.relay",
                                      "bilbycast.drivers.appear_x")
    assert [d.device_type for d in registry.all()] == ["appear_x", "edge", "relay"]
    assert [e["device_type"] for e in registry.describe_all()["device_types"]] == ["appear_x", "edge", "relay"]


def test_registries_are_independent_instances():
    first, second = default_registry(), DriverRegistry()
    assert first.get("edge") is not None
    assert second.get("edge") is None


def test_duplicate_device_type_is_a_startup_error():
    registry = default_registry()
    with pytest.raises(ValueError, match="duplicate"):
        registry.register(registry.get("edge"))


def test_unknown_device_type_refuses_every_command():
    registry = default_registry()
    assert registry.get("frobnicator") is None
    with pytest.raises(ActionError) as caught:
        registry.require("frobnicator")
    assert (caught.value.status, caught.value.code) == (422, "unknown_action")


class ToyDriver(Driver):
    """A device type defined entirely outside the package, as a plug-in would be."""
    device_type = "toy_box"
    display_name = "Toy Box"
    color = "#123456"
    icon = "generic"
    features = frozenset({"stats_history"})
    commands = {
        "ping": CommandSpec("ping", "Ping", "Ping the toy.", ai_exposed=True),
        "reboot": CommandSpec("reboot", "Reboot", "Reboot the toy.", requires_role="admin",
                              destructive=True,
                              args_schema=object_schema({"delay_secs": {"type": "integer", "minimum": 0}})),
        "rotate_secret": CommandSpec("rotate_secret", "Rotate", "Internal.", reserved=True),
    }
    summary_metrics = ({"key": "toys", "label": "Toys", "unit": None},)

    def _summarise(self, stats, health, now, prev):
        summary = self.empty_summary(now)
        summary["metrics"] = self.metrics({"toys": (stats or {}).get("toys")})
        summary["health"] = "healthy"
        return summary


def test_a_new_device_type_is_one_module_exposing_DRIVER():
    module = types.ModuleType("toy_driver_module")
    module.DRIVER = ToyDriver()
    sys.modules["toy_driver_module"] = module
    try:
        registry = default_registry(BUILTIN_DRIVER_MODULES + ("toy_driver_module",))
    finally:
        del sys.modules["toy_driver_module"]
    listed = registry.describe_all()["device_types"]
    assert [e["device_type"] for e in listed] == ["appear_x", "edge", "relay", "toy_box"]
    toy = listed[-1]
    assert toy["display_name"] == "Toy Box"
    assert [c["name"] for c in toy["supported_commands"]] == ["ping", "reboot"]
    driver = registry.get("toy_box")
    assert driver.check_action({"type": "reboot", "delay_secs": 3},
                               role_level_ok=role_checker("admin")).name == "reboot"
    with pytest.raises(ActionError) as caught:
        driver.check_action({"type": "reboot"}, role_level_ok=role_checker("operator"))
    assert caught.value.code == "insufficient_role"
    summary = driver.summarise({"toys": 3}, None, now=NOW)
    assert summary["metrics"] == [{"key": "toys", "label": "Toys", "value": 3, "unit": None}]


def test_registering_a_module_without_DRIVER_fails_loudly():
    module = types.ModuleType("empty_driver_module")
    sys.modules["empty_driver_module"] = module
    try:
        with pytest.raises(ValueError, match="no DRIVER"):
            DriverRegistry().register_module("empty_driver_module")
    finally:
        del sys.modules["empty_driver_module"]


@pytest.mark.parametrize("bad", ["Edge", "e", "9edge", "edge-node", "x" * 33])
def test_device_type_must_match_the_id_pattern(bad):
    class Bad(Driver):
        device_type = bad
    with pytest.raises(ValueError):
        Bad()


# -- describe() -------------------------------------------------------------------------------

COMMAND_KEYS = {"name", "display_name", "description", "requires_role", "args_schema", "ai_exposed",
                "destructive", "requires_capability", "timeout_secs"}
# api.md §7.4 keys plus `ui`, the driver's UI hints (product.md §6), an additive field.
ENTRY_KEYS = {"device_type", "display_name", "color", "accent", "icon", "features", "history_metrics",
              "summary_metrics", "supported_commands", "ui"}


def test_describe_entries_have_exactly_the_api_shape():
    for entry in default_registry().describe_all()["device_types"]:
        assert set(entry) == ENTRY_KEYS
        assert set(entry["ui"]) == {"editor", "summary_metrics", "panels"}
        assert entry["features"] == sorted(entry["features"])
        assert set(entry["features"]) <= set(base.FEATURES)
        for metric in entry["history_metrics"]:
            assert set(metric) == {"entity", "metric", "unit", "label"}
        for metric in entry["summary_metrics"]:
            assert set(metric) == {"key", "label", "unit"}
        for command in entry["supported_commands"]:
            assert set(command) == COMMAND_KEYS
            assert command["args_schema"]["type"] == "object"
            assert command["requires_role"] in ("operator", "admin", "super_admin")
            assert 0 < command["timeout_secs"] <= 60


def test_relay_entry_matches_the_api_example():
    entry = default_registry().get("relay").describe()
    assert entry["display_name"] == "Relay Server"
    assert (entry["color"], entry["accent"], entry["icon"]) == ("#a78bfa", "#a78bfa", "relay")
    assert entry["features"] == ["secret_rotation", "stats_history", "topology_ports"]
    assert entry["history_metrics"] == [
        {"entity": "node", "metric": "bandwidth_bps", "unit": "bps", "label": "Forwarded bandwidth"},
        {"entity": "tunnel", "metric": "bitrate_bps", "unit": "bps", "label": "Tunnel throughput"}]
    assert entry["summary_metrics"][:2] == [{"key": "tunnels_active", "label": "Tunnels", "unit": None},
                                            {"key": "edges_connected", "label": "Edges", "unit": None}]
    close = next(c for c in entry["supported_commands"] if c["name"] == "close_tunnel")
    assert close["description"] == "Force-close one tunnel on the relay; both edges reconnect."
    assert (close["requires_role"], close["ai_exposed"], close["destructive"]) == ("admin", True, True)
    assert close["args_schema"]["required"] == ["tunnel_id"]
    assert close["args_schema"]["additionalProperties"] is False
    assert close["timeout_secs"] == 10 and close["requires_capability"] is None


def test_reserved_actions_are_hidden_from_describe():
    registry = default_registry()
    for device_type in ("edge", "relay"):
        driver = registry.get(device_type)
        assert driver.reserved_actions == {"rotate_secret"}
        names = [c["name"] for c in driver.describe()["supported_commands"]]
        assert "rotate_secret" not in names
    assert "rotate_secret" not in registry.get("appear_x").commands


def test_driver_styles_follow_the_product_spec():
    registry = default_registry()
    edge, relay, gateway = registry.get("edge"), registry.get("relay"), registry.get("appear_x")
    assert (edge.color, edge.accent, edge.icon) == ("#60a5fa", None, "edge")
    assert set(edge.features) == set(base.FEATURES) - {"target_status"}
    assert (gateway.color, gateway.accent, gateway.icon) == ("#818cf8", None, "gateway")
    assert gateway.features == {"stats_history", "target_status", "topology_ports"}
    assert (edge.stale_after_secs, relay.stale_after_secs, gateway.stale_after_secs) == (10, 10, 30)
    assert (edge.sequential_commands, relay.sequential_commands, gateway.sequential_commands) == (False, True, True)
    assert (edge.protocol_version, relay.protocol_version, gateway.protocol_version) == (4, 1, 1)
    assert edge.is_known_protocol_version(4) and not edge.is_known_protocol_version(5)


# -- CommandSpec and ActionError --------------------------------------------------------------

def test_command_spec_refuses_a_timeout_over_60_seconds_and_a_viewer_role():
    with pytest.raises(ValueError):
        CommandSpec("slow", "Slow", "x", timeout_secs=61)
    with pytest.raises(ValueError):
        CommandSpec("peek", "Peek", "x", requires_role="viewer")


def test_action_error_body_has_the_api_error_keys():
    error = ActionError(403, "insufficient_role", "Command close_tunnel requires role admin",
                        required_role="admin")
    assert error.to_body() == {"error": "Command close_tunnel requires role admin",
                               "code": "insufficient_role", "required_role": "admin"}
    fields = [{"path": "/flow/name", "message": "is required"}]
    assert ActionError(422, "validation_failed", "bad", fields=fields).to_body()["fields"] == fields


# -- the check order of api.md §7.2 -----------------------------------------------------------

def test_checks_run_in_the_documented_order():
    edge = default_registry().get("edge")
    # Unknown beats everything else.
    with pytest.raises(ActionError) as caught:
        edge.check_action({"type": "frobnicate", "junk": True}, role_level_ok=role_checker("viewer"))
    assert caught.value.code == "unknown_action"
    # Role is checked before the arguments.
    with pytest.raises(ActionError) as caught:
        edge.check_action({"type": "update_config"}, role_level_ok=role_checker("operator"))
    assert (caught.value.status, caught.value.code, caught.value.required_role) == (403, "insufficient_role", "admin")
    # Arguments before capabilities.
    with pytest.raises(ActionError) as caught:
        edge.check_action({"type": "set_ptp_mode", "mode": "sideways"}, role_level_ok=role_checker("admin"))
    assert caught.value.code == "validation_failed"
    # Capabilities before driver checks.
    with pytest.raises(ActionError) as caught:
        edge.check_action({"type": "set_ptp_mode", "mode": "auto"}, role_level_ok=role_checker("admin"),
                          capabilities=["resources"])
    assert caught.value.code == "capability_missing"
    assert edge.check_action({"type": "set_ptp_mode", "mode": "auto"}, role_level_ok=role_checker("admin"),
                             capabilities=["ptp"]).name == "set_ptp_mode"


def test_every_command_needs_at_least_operator():
    edge = default_registry().get("edge")
    with pytest.raises(ActionError) as caught:
        edge.check_action({"type": "get_config"}, role_level_ok=role_checker("viewer"))
    assert caught.value.required_role == "operator"
    assert edge.check_action({"type": "get_config"}, role_level_ok=role_checker("operator")).name == "get_config"


@pytest.mark.parametrize("action, pointer", [
    (None, ""), ([], ""), ({}, "/type"), ({"type": ""}, "/type"), ({"type": 7}, "/type")])
def test_a_malformed_action_is_a_validation_failure(action, pointer):
    with pytest.raises(ActionError) as caught:
        default_registry().get("edge").check_action(action)
    assert caught.value.code == "validation_failed"
    assert caught.value.fields[0]["path"] == pointer


def test_timeouts_follow_the_numbers_table():
    registry = default_registry()
    edge, relay, gateway = registry.get("edge"), registry.get("relay"), registry.get("appear_x")
    assert edge.timeout_for("stop_flow") == 10.0
    assert edge.timeout_for("update_config") == 30.0
    assert edge.timeout_for("test_input") == edge.timeout_for("test_output") == 30.0
    assert edge.timeout_for("no_such_command") == 10.0
    assert relay.timeout_for("list_tunnels") == 10.0
    assert all(gateway.timeout_for(name) == 35.0 for name in gateway.commands)
    assert gateway.timeout_for("no_such_command") == 35.0


def test_config_changing_flags_invalidate_the_right_caches():
    edge = default_registry().get("edge")
    assert edge.is_config_changing("create_flow") and edge.is_config_changing("update_config")
    assert not edge.is_config_changing("get_config") and not edge.is_config_changing("reset_counters")
    assert not edge.is_config_changing("test_input")


def test_event_severities_from_sidecars_are_normalised():
    normalise = Driver.normalise_severity
    assert [normalise(s) for s in ("info", "minor", "major", "critical", "warning", "loud", None)] == \
        ["info", "warning", "critical", "critical", "warning", "info", "info"]


def test_summary_timestamps_are_rfc3339_milliseconds_utc():
    summary = default_registry().get("edge").summarise(None, None, now=NOW)
    assert summary["updated_at"] == "2026-05-18T00:36:15.123Z"
    assert summary["health"] is None


def test_ai_catalogue_holds_only_exposed_commands_the_user_may_run():
    edge = default_registry().get("edge")
    operator = {c["name"] for c in edge.ai_actions(role_checker("operator"))}
    assert {"deploy_flow", "stop_flow", "create_input"} <= operator
    assert not operator & {"get_config", "update_config", "create_tunnel", "rotate_secret"}
    assert edge.ai_actions(role_checker("viewer")) == []     # viewers get answers, no proposals
    relay = default_registry().get("relay")
    assert {c["name"] for c in relay.ai_actions(role_checker("operator"))} == {
        "list_tunnels", "list_edges", "list_udp_sessions"}
    assert "close_tunnel" in {c["name"] for c in relay.ai_actions(role_checker("admin"))}


def test_ui_hints_name_the_editor_and_panels():
    registry = default_registry()
    assert registry.get("edge").ui()["editor"] == "edge_forms"
    assert registry.get("appear_x").ui()["editor"] == "generic"
    assert "tunnels" in registry.get("relay").ui()["panels"]
    schemas = registry.get("edge").entity_schemas
    assert {"config", "flow", "input", "output", "tunnel", "input.srt", "output.hls"} <= set(schemas)


def test_every_command_schema_of_every_driver_is_a_valid_json_schema():
    """The catalogues are not checked at start-up (cold start), so they are checked here."""
    from bilbycast.drivers.schema_errors import make_validator

    for driver in default_registry().all():
        for spec in driver.commands.values():
            make_validator(spec.args_schema, check=True)
