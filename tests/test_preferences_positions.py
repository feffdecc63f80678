"""Per-user preferences and saved topology positions (api.md §10.2, §10.3, §1.2, §1.5),
against a real manager over HTTPS."""

from __future__ import annotations

import pytest

from hub_helpers import unique
from manager_process import USER_PASSWORD

VALID = {
    "topology_view": "flow",
    "topology_hide_offline": True,
    "dashboard_hide_offline": False,
    "flow_table_order": ["edge-1/srt-1", "edge-2/main"],
    "events_timezone": "Europe/Berlin",
    "events_per_page": 200,
    "ai_selection": {"provider": "ollama", "model": "llama3.1:8b"},
}


@pytest.fixture(scope="module")
def root(manager) -> str:
    token = manager.token()
    manager.relax_login_limits(token)
    return token


@pytest.fixture(scope="module")
def nodes(manager, root) -> list[dict]:
    with manager.api(root) as api:
        made = [api.post("/api/v1/nodes", json={"name": unique("pos"), "device_type": "edge"}) for _ in range(2)]
    assert all(r.status_code == 201 for r in made)
    return [r.json() for r in made]


def new_user(manager, root, role: str = "viewer", **fields):
    name = unique(role)
    manager.create_user(root, name, role, **fields)
    return manager.api(manager.token(name, USER_PASSWORD))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    return response.json()


# -- preferences --------------------------------------------------------------------------------

def test_every_preference_round_trips(manager, root):
    with new_user(manager, root) as api:
        assert api.get("/api/v1/preferences").json() == {}
        for key, value in VALID.items():
            response = api.put(f"/api/v1/preferences/{key}", json={"value": value})
            assert response.status_code == 204, response.text
            assert api.get(f"/api/v1/preferences/{key}").json() == {"value": value}
        assert api.get("/api/v1/preferences").json() == VALID
        assert api.put("/api/v1/preferences/topology_view", json={"value": "graph"}).status_code == 204
        assert api.get("/api/v1/preferences/topology_view").json() == {"value": "graph"}
        assert api.put("/api/v1/preferences/events_timezone", json={"value": "browser"}).status_code == 204
        assert api.delete("/api/v1/preferences/topology_view").status_code == 204
        assert_error(api.get("/api/v1/preferences/topology_view"), 404, "not_found")
        assert api.delete("/api/v1/preferences/topology_view").status_code == 204   # already gone: still 204
        assert "topology_view" not in api.get("/api/v1/preferences").json()


@pytest.mark.parametrize("key, value", [
    ("topology_view", "grid"), ("topology_view", None), ("topology_hide_offline", "true"),
    ("dashboard_hide_offline", 1), ("flow_table_order", ["a"] * 501), ("flow_table_order", ["a", 3]),
    ("flow_table_order", "a,b"), ("events_timezone", "Mars/Olympus_Mons"), ("events_timezone", "../../etc/passwd"),
    ("events_timezone", ""), ("events_per_page", 9), ("events_per_page", 201), ("events_per_page", True),
    ("events_per_page", "50"), ("events_per_page", 50.5), ("ai_selection", {"provider": "ollama"}),
    ("ai_selection", {"provider": "skynet", "model": "x"}), ("ai_selection", {"provider": "openai", "model": ""}),
    ("ai_selection", {"provider": "openai", "model": "gpt-4.1", "temperature": 1}), ("ai_selection", "ollama"),
])
def test_wrong_value_types_are_refused(manager, root, key, value):
    with manager.api(root) as api:
        body = assert_error(api.put(f"/api/v1/preferences/{key}", json={"value": value}), 422, "validation_failed")
        assert body["fields"][0]["path"] == "/value"
        assert_error(api.get(f"/api/v1/preferences/{key}"), 404, "not_found")


def test_unknown_keys_and_fields(manager, root):
    with manager.api(root) as api:
        assert_error(api.put("/api/v1/preferences/theme", json={"value": "dark"}), 422, "validation_failed")
        assert_error(api.get("/api/v1/preferences/theme"), 404, "not_found")
        assert_error(api.delete("/api/v1/preferences/theme"), 422, "validation_failed")
        assert_error(api.put("/api/v1/preferences/topology_view", json={"value": "flow", "extra": 1}),
                     422, "unknown_field")
        assert_error(api.put("/api/v1/preferences/topology_view", json={}), 422, "validation_failed")
        assert_error(api.put("/api/v1/preferences/topology_view", content=b'"flow"',
                             headers={"Content-Type": "application/json"}), 400, "invalid_json")
        assert "theme" not in api.get("/api/v1/preferences").json()


def test_preferences_belong_to_their_user(manager, root):
    with new_user(manager, root) as alice, new_user(manager, root, "admin") as bob:
        assert alice.put("/api/v1/preferences/events_per_page", json={"value": 25}).status_code == 204
        assert bob.put("/api/v1/preferences/events_per_page", json={"value": 100}).status_code == 204
        assert alice.get("/api/v1/preferences/events_per_page").json() == {"value": 25}
        assert bob.get("/api/v1/preferences/events_per_page").json() == {"value": 100}
        assert bob.delete("/api/v1/preferences/events_per_page").status_code == 204
        assert alice.get("/api/v1/preferences/events_per_page").json() == {"value": 25}
        assert bob.get("/api/v1/preferences").json() == {}


# -- positions ----------------------------------------------------------------------------------

def test_positions_round_trip_per_view_and_are_replaced_whole(manager, root, nodes):
    first, second = nodes[0]["id"], nodes[1]["id"]
    with new_user(manager, root) as api:
        assert api.get("/api/v1/topology/positions").json() == {"view": "graph", "positions": {}}
        graph = {first: {"x": 120.5, "y": -40.0}, "ext:srt:192.168.50.9:6001": {"x": -300, "y": -40}}
        assert api.put("/api/v1/topology/positions", json={"view": "graph", "positions": graph}).status_code == 204
        flow = {second: {"x": 1_000_000, "y": -1_000_000}}
        assert api.put("/api/v1/topology/positions", json={"view": "flow", "positions": flow}).status_code == 204
        got = api.get("/api/v1/topology/positions", params={"view": "graph"}).json()
        assert got == {"view": "graph", "positions": {first: {"x": 120.5, "y": -40.0},
                                                      "ext:srt:192.168.50.9:6001": {"x": -300.0, "y": -40.0}}}
        assert api.get("/api/v1/topology/positions?view=flow").json()["positions"] == {
            second: {"x": 1_000_000.0, "y": -1_000_000.0}}
        # A PUT replaces the whole set of that view: keys it leaves out are gone.
        assert api.put("/api/v1/topology/positions",
                       json={"view": "graph", "positions": {second: {"x": 1, "y": 2}}}).status_code == 204
        assert api.get("/api/v1/topology/positions").json()["positions"] == {second: {"x": 1.0, "y": 2.0}}
        assert api.delete("/api/v1/topology/positions?view=graph").status_code == 204
        assert api.get("/api/v1/topology/positions").json()["positions"] == {}
        assert api.get("/api/v1/topology/positions?view=flow").json()["positions"] != {}


@pytest.mark.parametrize("positions, code", [
    ({"not-a-node": {"x": 0, "y": 0}}, "validation_failed"),
    ({"ext:": {"x": 0, "y": 0}}, "validation_failed"),
    ({"ext:a": {"x": 1_000_000.5, "y": 0}}, "validation_failed"),
    ({"ext:a": {"x": 0, "y": -2e6}}, "validation_failed"),
    ({"ext:a": {"x": True, "y": 0}}, "validation_failed"),
    ({"ext:a": {"x": "1", "y": 0}}, "validation_failed"),
    ({"ext:a": {"x": 0}}, "validation_failed"),
    ({"ext:a": [0, 0]}, "validation_failed"),
    ({"ext:a": {"x": 0, "y": 0, "z": 0}}, "unknown_field"),
    ({f"ext:{i}": {"x": i, "y": i} for i in range(2001)}, "validation_failed"),
    ([], "validation_failed"),
])
def test_bad_positions_are_refused_and_keep_the_old_set(manager, root, nodes, positions, code):
    with manager.api(root) as api:
        keep = {nodes[0]["id"]: {"x": 5.0, "y": 6.0}}
        assert api.put("/api/v1/topology/positions", json={"positions": keep}).status_code == 204
        assert_error(api.put("/api/v1/topology/positions", json={"view": "graph", "positions": positions}), 422, code)
        assert api.get("/api/v1/topology/positions").json()["positions"] == keep


def test_bad_position_bodies_and_views(manager, root):
    with manager.api(root) as api:
        for number in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
            raw = b'{"positions": {"ext:a": {"x": ' + number + b', "y": 0}}}'
            assert_error(api.put("/api/v1/topology/positions", content=raw,
                                 headers={"Content-Type": "application/json"}), 422, "validation_failed")
        assert_error(api.put("/api/v1/topology/positions", json={"positions": {}, "zoom": 2}), 422, "unknown_field")
        assert_error(api.put("/api/v1/topology/positions", json={"view": "map", "positions": {}}),
                     422, "validation_failed")
        assert_error(api.get("/api/v1/topology/positions?view=map"), 400, "invalid_query")
        assert_error(api.delete("/api/v1/topology/positions?view=map"), 400, "invalid_query")
        most = {f"ext:{i}": {"x": i, "y": -i} for i in range(2000)}
        assert api.put("/api/v1/topology/positions", json={"view": "flow", "positions": most}).status_code == 204
        assert len(api.get("/api/v1/topology/positions?view=flow").json()["positions"]) == 2000


def test_positions_are_private_and_limited_to_visible_nodes(manager, root, nodes):
    mine, theirs = nodes[0]["id"], nodes[1]["id"]
    with new_user(manager, root, allowed_node_ids=[mine]) as limited, new_user(manager, root) as other:
        assert limited.put("/api/v1/topology/positions",
                           json={"positions": {mine: {"x": 1, "y": 1}}}).status_code == 204
        body = assert_error(limited.put("/api/v1/topology/positions",
                                        json={"positions": {theirs: {"x": 1, "y": 1}}}), 422, "validation_failed")
        assert body["fields"][0]["path"] == f"/positions/{theirs}"
        assert limited.get("/api/v1/topology/positions").json()["positions"] == {mine: {"x": 1.0, "y": 1.0}}
        assert other.get("/api/v1/topology/positions").json()["positions"] == {}
        assert other.put("/api/v1/topology/positions",
                         json={"positions": {theirs: {"x": 9, "y": 9}}}).status_code == 204
        assert limited.get("/api/v1/topology/positions").json()["positions"] == {mine: {"x": 1.0, "y": 1.0}}
        assert other.delete("/api/v1/topology/positions").status_code == 204
        assert limited.get("/api/v1/topology/positions").json()["positions"] == {mine: {"x": 1.0, "y": 1.0}}


def test_flow_view_pins_accept_flow_layout_ids_of_visible_nodes_only(manager):
    """The flow view pins its own elements (`<node>/<element>`, `tunnel:<id>`); the graph view
    keeps to node and ext: ids, and nobody may pin an element of a node they cannot see."""
    token = manager.token()
    with manager.api(token) as api:
        node_id = api.post("/api/v1/nodes", json={"name": "fv-pin"}).json()["id"]
        flow_keys = {f"{node_id}/in:srt-1": {"x": 1, "y": 2}, "tunnel:41f90ea7": {"x": 3, "y": 4}}
        assert api.put("/api/v1/topology/positions", json={"view": "flow", "positions": flow_keys}).status_code == 204
        assert api.get("/api/v1/topology/positions?view=flow").json()["positions"] == flow_keys
        refused = api.put("/api/v1/topology/positions", json={"view": "graph", "positions": flow_keys})
        assert refused.status_code == 422
        stranger = api.put("/api/v1/topology/positions",
                           json={"view": "flow", "positions": {"not-a-node/in:x": {"x": 0, "y": 0}}})
        assert stranger.status_code == 422
