"""Topology inference and the flow-view layout (api.md §10.1, product.md §5.3).

The first half exercises the pure service on hand-built NodeViews, rule by rule. The second half
runs a real manager with protocol peers that send the spec's example frames and reads
GET /api/v1/topology as an administrator and as users with a node allowlist.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timezone

import pytest

from bilbycast.services.topology import NodeView, build_topology, signal_flow_layout
from hub_helpers import api_client, eventually, new_registered, run, unique
from manager_process import USER_PASSWORD
from node_peer import example

NOW = datetime(2026, 5, 18, tzinfo=timezone.utc)
TID = "550e8400-e29b-41d4-a716-446655440000"


def port(pid: str, direction: str, protocol: str, address: str | None, role: str, flow_id: str | None = None,
         bitrate: int | None = 0, state: str = "active", **extra) -> dict:
    return {"id": pid, "direction": direction, "protocol": protocol, "label": f"{protocol.upper()} {direction.upper()}",
            "address": address, "role": role, "entity_id": pid.split(":", 1)[-1], "flow_id": flow_id, "active": True,
            "state": state, "bitrate_bps": bitrate, **extra}


def node(nid: str, name: str, ports=(), addresses=(), *, status: str = "online", flows=(), tunnels=(),
         peers: dict | None = None, icon: str = "edge") -> NodeView:
    return NodeView(id=nid, name=name, device_type="relay" if icon == "relay" else "edge", status=status,
                    health="healthy" if status == "online" else None, icon=icon, ports=list(ports),
                    addresses=list(addresses), flows=list(flows), tunnels=list(tunnels), peers=peers or {})


def flow(fid: str, name: str, bitrate: int = 0) -> dict:
    return {"id": fid, "name": name, "running": bitrate > 0, "health": "healthy" if bitrate else None,
            "bitrate_bps": bitrate}


def links_by_rule(doc: dict) -> dict[str, list[tuple[str | None, str | None]]]:
    out: dict[str, list] = {}
    for link in doc["links"]:
        ends = tuple(link[side]["port_id"] or link[side]["external_id"] or link[side]["node_id"]
                     for side in ("from", "to"))
        out.setdefault(link["inferred_by"], []).append(ends)
    return out


def listener_and_caller() -> tuple[NodeView, NodeView]:
    studio = node("n-studio", "Studio", [port("in:cam", "in", "srt", "0.0.0.0:9000", "listener", "f1", 4_000_000,
                                             "receiving")],
                  ["192.168.1.20"], flows=[flow("f1", "Camera", 4_000_000)])
    truck = node("n-truck", "Truck", [port("out:uplink", "out", "srt", "192.168.1.20:9000", "caller", "f2", 5_000_000),
                                      port("out:cdn", "out", "rtp", "203.0.113.5:7004", "sender", "f2", 5_000_000)],
                 ["192.168.1.21"], flows=[flow("f2", "Uplink", 5_000_000)])
    return studio, truck


# -- inference rules on hand-built nodes ------------------------------------------------------

def test_srt_caller_reaches_a_wildcard_listener_through_the_nodes_known_address():
    doc = build_topology(list(listener_and_caller()), None, False, now=NOW)
    link = next(l for l in doc["links"] if l["inferred_by"] == "config_address" and l["protocol"] == "srt")
    assert link["from"] == {"node_id": "n-truck", "external_id": None, "port_id": "out:uplink"}
    assert link["to"] == {"node_id": "n-studio", "external_id": None, "port_id": "in:cam"}
    assert link["kind"] == "flow" and link["label"] == "SRT"
    assert link["bitrate_bps"] == 5_000_000 and link["health"] == "healthy"   # the sender's bitrate
    assert doc["generated_at"] == "2026-05-18T00:00:00.000Z"


def test_output_to_an_unknown_address_becomes_one_shared_external_destination():
    studio, truck = listener_and_caller()
    other = node("n-other", "Other", [port("out:cdn", "out", "rtp", "203.0.113.5:7004", "sender")], ["10.0.0.3"])
    doc = build_topology([studio, truck, other], None, False, now=NOW)
    assert doc["external"] == [{"id": "ext:rtp:203.0.113.5:7004", "address": "203.0.113.5:7004", "protocol": "rtp",
                                "role": "destination", "label": "RTP Destination"}]
    ext_links = [l for l in doc["links"] if l["to"]["external_id"] == "ext:rtp:203.0.113.5:7004"]
    assert sorted(l["from"]["node_id"] for l in ext_links) == ["n-other", "n-truck"]
    assert all(l["inferred_by"] == "config_address" for l in ext_links)
    idle = next(l for l in ext_links if l["from"]["node_id"] == "n-other")
    assert idle["health"] == "idle" and idle["bitrate_bps"] == 0
    assert doc["counts"] == {"online": 3, "nodes": 3, "external": 1, "flows": 2, "links": 3}


def test_loopback_matches_only_within_the_same_node():
    a = node("a", "A", [port("out:local", "out", "udp", "127.0.0.1:5000", "sender", "f"),
                        port("in:local", "in", "udp", "0.0.0.0:5000", "receiver", "g")], ["10.0.0.1"])
    b = node("b", "B", [port("in:other", "in", "udp", "0.0.0.0:5000", "receiver")], ["10.0.0.2"])
    c = node("c", "C", [port("out:to-b", "out", "udp", "127.0.0.1:5000", "sender")], ["10.0.0.3"])
    doc = build_topology([a, b, c], None, False, now=NOW)
    rules = links_by_rule(doc)
    assert ("out:local", "in:local") in rules["config_address"]
    assert all(to != "in:other" for _, to in rules["config_address"])
    # C's loopback destination is C's own business: an external scoped to C, not shared with anyone.
    assert ("out:to-b", "ext:udp:127.0.0.1:5000@c") in rules["config_address"]


def test_a_caller_input_pulls_from_a_listener_output():
    server = node("srv", "Server", [port("out:pull", "out", "srt", "0.0.0.0:7000", "listener", bitrate=3000)],
                  ["10.0.0.1"])
    client = node("cli", "Client", [port("in:pull", "in", "srt", "10.0.0.1:7000", "caller")], ["10.0.0.2"])
    doc = build_topology([client, server], None, False, now=NOW)
    assert links_by_rule(doc) == {"config_address": [("out:pull", "in:pull")]}
    assert doc["links"][0]["from"]["node_id"] == "srv" and doc["links"][0]["bitrate_bps"] == 3000
    assert doc["external"] == []


def test_live_peer_from_a_visible_node_is_drawn_from_that_nodes_matching_output():
    # The truck calls a NAT address the config cannot resolve; the listener's stats name the truck.
    studio = node("n-studio", "Studio", [port("in:cam", "in", "srt", "0.0.0.0:9000", "listener", bitrate=10)],
                  ["192.168.1.20"], peers={"in:cam": ["192.168.1.21:40122"]})
    truck = node("n-truck", "Truck", [port("out:uplink", "out", "srt", "studio.example.net:9000", "caller")],
                 ["192.168.1.21"])
    stranger = node("n-x", "X", [port("in:pub", "in", "rtmp", "0.0.0.0:1935", "listener")], ["10.1.1.1"],
                    peers={"in:pub": ["198.51.100.7:53211"]})
    rules = links_by_rule(build_topology([studio, truck, stranger], None, False, now=NOW))
    assert rules["peer_address"] == [("ext:rtmp:198.51.100.7:53211", "in:pub"), ("out:uplink", "in:cam")]
    assert "config_address" not in rules or ("out:uplink", "in:cam") not in rules["config_address"]


def test_a_config_match_wins_over_the_same_pair_from_live_peers():
    studio, truck = listener_and_caller()
    studio.peers = {"in:cam": ["192.168.1.21:40122"]}
    rules = links_by_rule(build_topology([studio, truck], None, False, now=NOW))
    assert ("out:uplink", "in:cam") in rules["config_address"]
    assert "peer_address" not in rules


def test_senders_and_receivers_of_a_group_meet_at_one_multicast_endpoint():
    tx = node("tx", "TX", [port("out:mc", "out", "rtp", "239.1.1.1:5000", "sender", bitrate=1000)], ["10.0.0.1"])
    rx1 = node("rx1", "RX1", [port("in:mc", "in", "rtp", "239.1.1.1:5000", "receiver")], ["10.0.0.2"])
    rx2 = node("rx2", "RX2", [port("in:mc", "in", "udp", "239.1.1.1:5000", "receiver")], ["10.0.0.3"])
    doc = build_topology([tx, rx1, rx2], None, False, now=NOW)
    assert [e["id"] for e in doc["external"]] == ["ext:multicast:239.1.1.1:5000"]
    assert doc["external"][0]["role"] == "multicast" and doc["external"][0]["label"] == "Multicast 239.1.1.1:5000"
    assert sorted(links_by_rule(doc)["multicast_group"]) == [
        ("ext:multicast:239.1.1.1:5000", "in:mc"), ("ext:multicast:239.1.1.1:5000", "in:mc"),
        ("out:mc", "ext:multicast:239.1.1.1:5000")]


def tunnel_end(direction: str, local: str, **extra) -> dict:
    return {"id": TID, "name": "Studio to Cloud", "protocol": "udp", "mode": "relay", "direction": direction,
            "local_addr": local, "relay_addrs": ["relay.example.com:4433"], "state": "ready", "bitrate_bps": 900,
            **extra}


def tunnel_port(direction: str, local: str) -> dict:
    return port(f"tunnel:{TID}", "out" if direction == "egress" else "in", "udp-tunnel", local,
                "listener" if direction == "egress" else "forwarder", None, 900, "ready", tunnel_id=TID)


def tunnel_edges() -> tuple[NodeView, NodeView]:
    feed = node("e-feed", "Feed edge", [tunnel_port("egress", "0.0.0.0:9000")], ["10.0.0.1"],
                tunnels=[tunnel_end("egress", "0.0.0.0:9000")])
    exit_ = node("e-exit", "Exit edge", [tunnel_port("ingress", "127.0.0.1:5000"),
                                         port("in:srt", "in", "srt", "0.0.0.0:5000", "listener")], ["10.0.0.2"],
                 tunnels=[tunnel_end("ingress", "127.0.0.1:5000")])
    return feed, exit_


def relay(report: bool = True) -> NodeView:
    legs = [port(f"tunnel:{TID}:{leg}", d, "udp-tunnel", addr, "relay", None, None, "active", tunnel_id=TID, leg=leg,
                 peer_node_id=peer)
            for leg, d, addr, peer in (("ingress", "in", "203.0.113.9:40122", "e-exit"),
                                       ("egress", "out", "198.51.100.7:53211", "e-feed"))] if report else []
    tunnels = [{"id": TID, "protocol": "udp", "state": "active", "ingress_edge_id": "e-exit",
                "egress_edge_id": "e-feed", "ingress_remote_addr": "203.0.113.9:40122",
                "egress_remote_addr": "198.51.100.7:53211"}] if report else []
    return node("r-1", "Relay", [port("quic", "in", "quic", "relay.example.com:4433", "listener")] + legs,
                ["198.51.100.1"], tunnels=tunnels, icon="relay")


def test_two_ends_of_one_tunnel_id_make_a_matched_tunnel_link():
    feed, exit_ = tunnel_edges()
    doc = build_topology([feed, exit_], None, False, now=NOW)
    assert links_by_rule(doc)["tunnel_id"] == [(f"tunnel:{TID}", f"tunnel:{TID}")]
    link = next(l for l in doc["links"] if l["inferred_by"] == "tunnel_id")
    assert (link["kind"], link["label"], link["from"]["node_id"]) == ("tunnel", "UDP via Relay", "e-feed")
    (tunnel,) = doc["tunnels"]
    assert tunnel["matched"] is True and tunnel["state"] == "ready" and tunnel["bitrate_bps"] == 900
    assert tunnel["ingress"] == {"node_id": "e-exit", "local_addr": "127.0.0.1:5000"}
    assert tunnel["egress"] == {"node_id": "e-feed", "local_addr": "0.0.0.0:9000"}
    # The exit edge forwards to its own SRT listener over loopback.
    assert (f"tunnel:{TID}", "in:srt") in links_by_rule(doc)["config_address"]


def test_a_relay_report_pairs_edge_relay_edge():
    feed, exit_ = tunnel_edges()
    doc = build_topology([feed, exit_, relay()], None, False, now=NOW)
    pairs = links_by_rule(doc)["relay_pairing"]
    assert sorted(pairs) == sorted([(f"tunnel:{TID}", f"tunnel:{TID}:egress"),
                                    (f"tunnel:{TID}:ingress", f"tunnel:{TID}")])
    assert "tunnel_id" not in links_by_rule(doc)
    assert {l["label"] for l in doc["links"] if l["kind"] == "tunnel"} == {"UDP via Relay"}
    assert doc["tunnels"][0]["relay_node_id"] == "r-1" and doc["tunnels"][0]["matched"] is True
    relay_doc = next(n for n in doc["nodes"] if n["id"] == "r-1")
    legs = {p["id"]: p["direction"] for p in relay_doc["ports"] if p.get("tunnel_id")}
    assert legs == {f"tunnel:{TID}:egress": "in", f"tunnel:{TID}:ingress": "out"}
    assert all("peer_node_id" not in p for p in relay_doc["ports"])


def test_a_lone_tunnel_end_is_unmatched_and_wired_to_its_relay():
    feed, _ = tunnel_edges()
    doc = build_topology([feed, relay(report=False)], None, False, now=NOW)
    (tunnel,) = doc["tunnels"]
    assert tunnel["matched"] is False and tunnel["relay_node_id"] == "r-1"
    assert tunnel["ingress"] == {"node_id": None, "local_addr": None}
    assert links_by_rule(doc)["config_address"] == [(f"tunnel:{TID}", "quic")]
    alone = build_topology([feed], None, False, now=NOW)
    assert [e["id"] for e in alone["external"]] == ["ext:udp-tunnel:relay.example.com:4433"]


def test_hidden_nodes_appear_only_as_external_addresses():
    studio, truck = listener_and_caller()
    for visible, hidden in (({"n-truck"}, studio), ({"n-studio"}, truck)):
        doc = build_topology([studio, truck], visible, False, now=NOW)
        text = json.dumps(doc)
        assert hidden.id not in text and hidden.name not in text
        assert [n["id"] for n in doc["nodes"]] == sorted(visible)
        assert all(l["from"]["node_id"] != hidden.id and l["to"]["node_id"] != hidden.id for l in doc["links"])
    truck_only = build_topology([studio, truck], {"n-truck"}, False, now=NOW)
    assert ("out:uplink", "ext:srt:192.168.1.20:9000") in links_by_rule(truck_only)["config_address"]
    studio_only = build_topology([studio, truck], {"n-studio"}, False, now=NOW)
    assert ("ext:srt:192.168.1.21", "in:cam") in links_by_rule(studio_only)["config_address"]
    assert studio_only["counts"]["nodes"] == 1


def test_hidden_relay_and_edges_keep_the_tunnel_without_their_ids():
    feed, exit_ = tunnel_edges()
    doc = build_topology([feed, exit_, relay()], {"e-feed"}, False, now=NOW)
    assert "r-1" not in json.dumps(doc) and "e-exit" not in json.dumps(doc)
    (tunnel,) = doc["tunnels"]
    assert tunnel["relay_node_id"] is None and tunnel["ingress"]["node_id"] is None and tunnel["matched"] is False
    assert links_by_rule(doc)["relay_pairing"] == [(f"tunnel:{TID}", "ext:udp-tunnel:relay.example.com:4433")]


def test_hide_offline_leaves_offline_nodes_out_and_their_addresses_external():
    studio, truck = listener_and_caller()
    truck.status = "offline"
    shown = build_topology([studio, truck], None, False, now=NOW)
    assert {n["id"]: n["status"] for n in shown["nodes"]} == {"n-studio": "online", "n-truck": "offline"}
    assert shown["counts"]["online"] == 1
    hidden = build_topology([studio, truck], None, True, now=NOW)
    assert [n["id"] for n in hidden["nodes"]] == ["n-studio"] and "n-truck" not in json.dumps(hidden)


# -- the signal-flow layout ---------------------------------------------------------------------

def plant() -> list[NodeView]:
    studio, truck = listener_and_caller()
    feed, exit_ = tunnel_edges()
    src = node("n-src", "Source", [port("in:pat", "in", "test_pattern", None, "source", "fan", 1),
                                   *(port(f"out:o{i}", "out", "rtp", f"203.0.113.{i}:5000", "sender", "fan", 1)
                                     for i in range(3))], ["10.0.0.9"], flows=[flow("fan", "Fan-out", 1)])
    return [studio, truck, feed, exit_, relay(), src]


def test_layout_is_the_same_whatever_order_the_nodes_come_in():
    nodes = plant()
    first = build_topology(nodes, None, False, now=NOW)
    for seed in range(5):
        shuffled = [copy.deepcopy(n) for n in nodes]
        random.Random(seed).shuffle(shuffled)
        for n in shuffled:
            random.Random(seed).shuffle(n.ports)
        again = build_topology(shuffled, None, False, now=NOW)
        assert again["flow_layout"] == first["flow_layout"]
        assert {l["id"] for l in again["links"]} == {l["id"] for l in first["links"]}
    assert signal_flow_layout(first) == first["flow_layout"]


def test_layout_columns_follow_the_signal_and_fan_outs_stack_under_their_source():
    layout = build_topology(plant(), None, False, now=NOW)["flow_layout"]
    assert (layout["column_width"], layout["row_height"]) == (240, 56)
    at = {v["id"]: v for v in layout["vertices"]}
    for v in layout["vertices"]:
        assert (v["x"], v["y"]) == (v["column"] * 240, v["row"] * 56)
    for edge in layout["edges"]:
        assert not edge["back"] and at[edge["to"]]["column"] > at[edge["from"]]["column"]
    fan = at["n-src/flow:fan"]
    rows = sorted(at[f"n-src/out:o{i}"]["row"] for i in range(3))
    assert rows == [fan["row"], fan["row"] + 1, fan["row"] + 2]
    assert at[f"tunnel:{TID}"]["column"] == at[f"e-feed/tunnel:{TID}"]["column"] + 1
    assert not any(v["node_id"] == "r-1" for v in layout["vertices"])   # relays live inside the tunnel box


def test_layout_breaks_a_loop_with_one_back_edge():
    a = node("a", "A", [port("in:a", "in", "srt", "0.0.0.0:5000", "listener", "fa"),
                        port("out:a", "out", "srt", "10.0.0.2:6000", "caller", "fa")], ["10.0.0.1"],
             flows=[flow("fa", "A flow")])
    b = node("b", "B", [port("in:b", "in", "srt", "0.0.0.0:6000", "listener", "fb"),
                        port("out:b", "out", "srt", "10.0.0.1:5000", "caller", "fb")], ["10.0.0.2"],
             flows=[flow("fb", "B flow")])
    layout = build_topology([b, a], None, False, now=NOW)["flow_layout"]
    back = [(e["from"], e["to"]) for e in layout["edges"] if e["back"]]
    # The search starts at the smallest key, ("A", "A flow", "a/flow:fa"), so the wire that closes
    # the loop back into that flow is the one dropped.
    assert back == [("a/in:a", "a/flow:fa")]
    at = {v["id"]: v for v in layout["vertices"]}
    assert all(at[e["to"]]["column"] > at[e["from"]]["column"] for e in layout["edges"] if not e["back"])
    assert layout == build_topology([a, b], None, False, now=NOW)["flow_layout"]


# -- through a real manager --------------------------------------------------------------------

def edge_config(inputs: list[dict], outputs: list[dict], flows: list[dict]) -> dict:
    config = example("edge-config-response")["payload"]
    config.update(inputs=inputs, outputs=outputs, flows=flows)
    return config


def edge_health(ip: str) -> dict:
    health = example("edge-health")["payload"]
    health["network_interfaces"][0]["ipv4"] = [ip]
    health["api_addr"] = f"{ip}:8080"
    return health


async def bring_up(manager, api, name: str, config: dict, ip: str):
    node, peer = await new_registered(manager, api, name=name)
    peer.auto_answer_config(config)
    await peer.send_health(**{k: v for k, v in edge_health(ip).items()})
    await peer.config_response(copy.deepcopy(config))
    return node, peer


@pytest.fixture(scope="module")
def token(manager) -> str:
    token = manager.token()
    manager.relax_login_limits(token)
    return token


def test_topology_of_two_live_edges(manager, token):
    """A studio edge (the spec's example config: SRT listener on 0.0.0.0:9000) and a truck edge
    whose SRT caller output targets the studio's interface address, plus one RTP output to an
    address no node owns."""
    truck_config = edge_config(
        [{"id": "bars", "name": "Bars", "type": "test_pattern"}],
        [{"id": "uplink", "name": "To studio", "type": "srt", "mode": "caller", "remote_addr": "192.168.1.20:9000"},
         {"id": "cdn", "name": "CDN", "type": "rtp", "dest_addr": "203.0.113.50:7004"}],
        [{"id": "truck-feed", "name": "Truck feed", "input_ids": ["bars"], "output_ids": ["uplink", "cdn"]}])

    async def scenario():
        async with api_client(manager, token) as api:
            pending = (await api.post("/api/v1/nodes", json={"name": unique("Pending"), "device_type": "edge"})).json()
            studio, studio_peer = await bring_up(manager, api, unique("Studio"),
                                                 example("edge-config-response")["payload"], "192.168.1.20")
            await studio_peer.send_stats()
            truck, truck_peer = await bring_up(manager, api, unique("Truck"), truck_config, "192.168.1.21")

            async def linked():
                doc = (await api.get("/api/v1/topology")).json()
                return doc if any(l["to"]["node_id"] == studio["id"] for l in doc["links"]) \
                    and any(l["from"]["node_id"] == truck["id"] for l in doc["links"]) else None
            doc = await eventually(linked, 10, what="both edges in the topology")
            link = next(l for l in doc["links"] if l["to"]["node_id"] == studio["id"])
            assert link["inferred_by"] == "config_address" and link["kind"] == "flow"
            assert link["from"] == {"node_id": truck["id"], "external_id": None, "port_id": "out:uplink"}
            assert link["to"]["port_id"] == "in:srt-in"
            cdn = next(l for l in doc["links"] if l["from"]["port_id"] == "out:cdn")
            assert cdn["to"]["external_id"] == "ext:rtp:203.0.113.50:7004" and cdn["inferred_by"] == "config_address"
            assert "ext:rtp:203.0.113.50:7004" in {e["id"] for e in doc["external"]}
            studio_doc = next(n for n in doc["nodes"] if n["id"] == studio["id"])
            assert studio_doc["status"] == "online" and studio_doc["color"] == "#60a5fa"
            assert {p["id"] for p in studio_doc["ports"]} == {"in:srt-in", "out:udp-out"}
            assert studio_doc["flows_running"] == 1
            pending_doc = next(n for n in doc["nodes"] if n["id"] == pending["id"])
            assert pending_doc["status"] == "pending" and pending_doc["ports"] == []
            assert set(doc) >= {"generated_at", "nodes", "external", "links", "tunnels", "counts", "flow_layout"}
            again = (await api.get("/api/v1/topology")).json()
            assert again["flow_layout"] == doc["flow_layout"]

            # A user who may see only the truck sees the studio as an address, nothing more.
            name = unique("truckonly")
            manager.create_user(token, name, "viewer", allowed_node_ids=[truck["id"]])
            async with api_client(manager, manager.token(name, USER_PASSWORD)) as limited:
                response = await limited.get("/api/v1/topology")
                assert response.status_code == 200
                assert studio["id"] not in response.text and studio["name"] not in response.text
                seen = response.json()
                assert [n["id"] for n in seen["nodes"]] == [truck["id"]]
                uplink = next(l for l in seen["links"] if l["from"]["port_id"] == "out:uplink")
                assert uplink["to"] == {"node_id": None, "external_id": "ext:srt:192.168.1.20:9000", "port_id": None}

            # The truck goes offline: shown dimmed by default, left out with hide_offline=true.
            await truck_peer.close()

            async def offline():
                doc = (await api.get("/api/v1/topology")).json()
                return any(n["id"] == truck["id"] and n["status"] == "offline" for n in doc["nodes"])
            await eventually(offline, 10, what="truck offline")
            hidden = (await api.get("/api/v1/topology", params={"hide_offline": "true"})).json()
            assert truck["id"] not in json.dumps(hidden) and pending["id"] not in json.dumps(hidden)
            assert studio["id"] in {n["id"] for n in hidden["nodes"]}
            bad = await api.get("/api/v1/topology", params={"hide_offline": "maybe"})
            assert bad.status_code == 400 and bad.json()["code"] == "invalid_query"
            await studio_peer.close()

    run(scenario())
