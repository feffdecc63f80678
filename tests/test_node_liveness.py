"""Connection lifetime on /ws/node (node-protocol.md §1.5, §2.10, §3.2-3.3, §6.1-6.2, §12).

Silence detection with the offline threshold lowered to 20 s, WebSocket pings keeping an idle
node alive, one live connection per node, and frames that must never end a connection:
malformed, binary, oversize (> 5 MiB) and unknown ones.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from hub_helpers import api_client, command, eventually, events_of, new_registered, run, wait_event, wait_status
from node_peer import NodePeer, example, frame, logged_in_peer, now_stamp

FIVE_MIB = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def token(manager) -> str:
    return manager.token()


async def stats_marker(api, node_id: str):
    body = (await api.get(f"/api/v1/nodes/{node_id}/stats")).json()
    return (body.get("stats") or {}).get("marker")


async def has_marker(api, node_id: str, marker: str) -> bool:
    return await stats_marker(api, node_id) == marker


def marked_stats(marker: str, padding: int = 0) -> dict:
    payload = example("edge-stats")["payload"]
    payload["marker"] = marker
    if padding:
        payload["padding"] = "x" * padding
    return frame("stats", payload)


# -- silence (§6.2) ---------------------------------------------------------------------------------

def test_a_silent_node_goes_offline_and_an_idle_one_answering_pings_does_not(manager, token):
    manager.put_settings(token, node_offline_threshold_secs=20)

    async def scenario():
        async with api_client(manager, token) as api:
            silent_node, silent = await new_registered(manager, api, name="Silent Edge 7")
            idle_node, idle = await new_registered(manager, api)
            connected = time.monotonic()
            silent.go_silent()                       # frozen node: no frames, no Pong
            await asyncio.sleep(12)
            body = (await api.get(f"/api/v1/nodes/{silent_node['id']}")).json()
            assert body["status"] == "online" and body["stale"] is True   # stale after 10 s, not yet offline
            await wait_status(api, silent_node["id"], "offline", timeout=13)
            took = time.monotonic() - connected
            assert 19 <= took <= 23, took
            await silent.wait_closed(3)              # the manager closes what it considers dead
            event = await wait_event(api, silent_node["id"], lambda e: e["severity"] == "critical"
                                     and e["category"] == "connection")
            assert "Silent Edge 7" in event["message"] and event["source"] == "manager"
            listed = (await events_of(api, search="Silent Edge 7", severity="critical"))["items"]
            assert any(e["id"] == event["id"] for e in listed)

            # The idle node sent nothing either, but it answers the manager's WebSocket pings.
            assert idle.pings, "the manager sent no WebSocket ping in 20 s"
            assert not idle.closed.is_set()
            body = (await api.get(f"/api/v1/nodes/{idle_node['id']}")).json()
            assert body["status"] == "online"      # (it may look stale between two pings, never offline)

            # The silent node comes back: online again, with an info event after the critical one.
            back = await logged_in_peer(manager.ws_url, silent_node["id"], silent.node_secret)
            await wait_status(api, silent_node["id"], "online")
            reconnected = await wait_event(api, silent_node["id"], lambda e: e["severity"] == "info"
                                           and e["category"] == "connection" and e["id"] > event["id"])
            assert reconnected["source"] == "manager"
            await back.close()
            await idle.close()

    run(scenario())


# -- one live connection per node (§2.10) -------------------------------------------------------------

def test_a_second_login_replaces_the_first_connection(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, first = await new_registered(manager, api)
            pending = asyncio.ensure_future(command(api, node["id"], {"type": "stop_flow", "flow_id": "main-feed"}))
            await first.command("stop_flow")
            second = await logged_in_peer(manager.ws_url, node["id"], first.node_secret)
            await first.wait_closed(3)                      # the manager closed the old socket
            response = await pending                          # its pending command failed
            assert response.status_code == 502 and response.json()["code"] == "node_disconnected"
            await asyncio.sleep(0.5)                         # the old close has been processed by now
            assert not second.closed.is_set()
            assert (await api.get(f"/api/v1/nodes/{node['id']}")).json()["status"] == "online"
            # The successor keeps working: stats are applied and commands reach it.
            await second.send_json(marked_stats("after-replace"))
            await eventually(lambda: has_marker(api, node["id"], "after-replace"), what="stats applied")
            call = asyncio.ensure_future(command(api, node["id"], {"type": "stop_flow", "flow_id": "main-feed"}))
            cmd = await second.command("stop_flow")
            await second.ack(cmd["command_id"])
            assert (await call).status_code == 200
            assert first.commands_seen("stop_flow") == 1
            # Replacing is not going offline.
            critical = await events_of(api, node["id"], category="connection", severity="critical")
            assert critical["total"] == 0, critical
            await second.close()
            await wait_status(api, node["id"], "offline")

    run(scenario())


# -- frames that must not end a connection (§1.5, §3.3, §11.1 items 11-13) -----------------------------

def test_malformed_and_oversize_frames_are_dropped_without_closing(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            other_node, other = await new_registered(manager, api)
            await peer.send_json(marked_stats("first"))
            await eventually(lambda: has_marker(api, node["id"], "first"), what="first stats")

            await peer.send_raw("{this is not json")
            await peer.send_raw("[1, 2, 3]")
            await peer.send_raw('"just a string"')
            await peer.send_raw(json.dumps({"payload": {"marker": "no-type"}}))
            await peer.send_raw(b"\x00\x01binary")
            oversize = json.dumps(marked_stats("oversize", padding=FIVE_MIB + FIVE_MIB // 10))
            assert len(oversize) > FIVE_MIB
            await peer.send_raw(oversize)
            multibyte = marked_stats("multibyte")
            multibyte["payload"]["padding"] = "é" * (3 * 1024 * 1024)   # 3 Mi characters, 6 MiB of UTF-8
            await peer.send_json(multibyte)
            # Frames are handled in order: once this event is stored, the two oversize stats
            # frames before it were handled too, and neither may have been applied.
            await peer.send_event(severity="info", category="barrier", message="after the oversize frames")
            await wait_event(api, node["id"], lambda e: e["category"] == "barrier")
            assert await stats_marker(api, node["id"]) == "first"
            await peer.send_json({"type": "frobnicate", "timestamp": now_stamp(), "payload": {"x": 1}})
            await peer.send_json({"type": "pong", "timestamp": now_stamp(), "payload": None})  # unsolicited
            await peer.send_json({"type": "register_ack", "payload": {"node_id": "x", "node_secret": "y"}})
            await peer.send_json({"type": "stats", "timestamp": now_stamp(), "payload": "not an object"})
            await peer.send_json({"type": "event", "timestamp": now_stamp(), "payload": None})
            # Odd timestamps are tolerated (missing, unparseable, 9 digits).
            no_stamp = marked_stats("no-timestamp")
            del no_stamp["timestamp"]
            await peer.send_json(no_stamp)
            await eventually(lambda: has_marker(api, node["id"], "no-timestamp"), what="stats without timestamp")
            odd = marked_stats("odd-timestamp")
            odd["timestamp"] = "yesterday-ish"
            await peer.send_json(odd)
            await eventually(lambda: has_marker(api, node["id"], "odd-timestamp"), what="odd timestamp")

            # Just under the cap is still applied.
            near = marked_stats("near-limit")
            near["payload"]["padding"] = ""
            base = len(json.dumps(near, sort_keys=True))
            near["payload"]["padding"] = "y" * (FIVE_MIB - base - 64)
            assert len(json.dumps(near, sort_keys=True)) < FIVE_MIB
            await peer.send_json(near)
            await eventually(lambda: has_marker(api, node["id"], "near-limit"), timeout=10, what="near-limit stats")

            await peer.send_json(marked_stats("after"))
            await eventually(lambda: has_marker(api, node["id"], "after"), what="valid stats after the junk")
            assert not peer.closed.is_set()
            assert await stats_marker(api, node["id"]) == "after"
            assert (await api.get(f"/api/v1/nodes/{node['id']}")).json()["status"] == "online"
            # Nothing was answered to the junk (nodes get no reply to garbage, and neither do we).
            assert [m for m in peer.received if not (isinstance(m, dict) and m.get("type") == "command")] == [
                peer.received[0]]

            # The other node's session never noticed.
            await other.send_json(marked_stats("other"))
            await eventually(lambda: has_marker(api, other_node["id"], "other"), what="other node stats")
            call = asyncio.ensure_future(command(api, other_node["id"], {"type": "stop_flow", "flow_id": "main-feed"}))
            cmd = await other.command("stop_flow")
            await other.ack(cmd["command_id"])
            assert (await call).status_code == 200
            # And the node that sent the junk still runs commands.
            call = asyncio.ensure_future(command(api, node["id"], {"type": "stop_flow", "flow_id": "main-feed"}))
            cmd = await peer.command("stop_flow")
            await peer.ack(cmd["command_id"])
            assert (await call).status_code == 200
            await peer.close()
            await other.close()

    run(scenario())


def test_health_is_kept_unchanged_and_a_mismatching_device_is_flagged(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            sent = await peer.send_health()
            await peer.send_health()                         # two back to back after auth (quirk 1)

            async def health_report():
                body = (await api.get(f"/api/v1/nodes/{node['id']}/health")).json()
                return body if body["report"] == sent["payload"] else None

            body = await eventually(health_report, what="health applied")
            assert body["status"] == "online" and body["received_at"]
            assert (await events_of(api, node["id"], category="compatibility"))["total"] == 0
            # The manager fetches the config a few seconds after the first health.
            await eventually(lambda: _seen(peer, "get_config"), timeout=10, what="after-connect get_config")
            await peer.close()

            # A relay's health arriving on an edge record: accepted, with a warning event.
            edge, wrong = await new_registered(manager, api)
            await wrong.send_health("relay-health")
            event = await wait_event(api, edge["id"], lambda e: e["category"] == "compatibility")
            assert event["severity"] == "warning" and "relay" in event["message"]
            await wrong.close()

    run(scenario())


async def _seen(peer: NodePeer, action: str) -> bool:
    return peer.commands_seen(action) >= 1


def test_node_timestamps_order_only_the_frames_a_sidecar_replays(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            # An edge whose clock was far ahead and then corrected: the latest frame still wins,
            # because edge timestamps are send times and for display only (§3.2).
            node, peer = await new_registered(manager, api)
            ahead = marked_stats("clock-ahead")
            ahead["timestamp"] = "2031-01-01T00:00:00.000000000+00:00"
            await peer.send_json(ahead)
            await eventually(lambda: has_marker(api, node["id"], "clock-ahead"), what="first stats")
            await peer.send_json(marked_stats("clock-corrected"))
            await eventually(lambda: has_marker(api, node["id"], "clock-corrected"), what="corrected stats")
            await peer.close()

            # A sidecar flushes stale queued frames with their original timestamps after it
            # reconnects (§13.4): an older one never replaces a newer one.
            gateway, sidecar = await new_registered(manager, api, "appear_x")
            newer = example("appearx-stats")
            newer["timestamp"] = "2026-08-21T04:50:00.000+00:00"
            newer["payload"]["marker"] = "newer"
            await sidecar.send_json(newer)
            await eventually(lambda: has_marker(api, gateway["id"], "newer"), what="sidecar stats")
            await sidecar.close()
            again = await logged_in_peer(manager.ws_url, gateway["id"], sidecar.node_secret,
                                         device_type="appear_x", software_version="0.11.8", protocol_version=1)
            stale = example("appearx-stats")
            stale["timestamp"] = "2026-08-21T04:45:00.000+00:00"
            stale["payload"]["marker"] = "stale"
            fresh = example("appearx-stats")
            fresh["timestamp"] = "2026-08-21T04:55:00.000+00:00"
            fresh["payload"]["marker"] = "fresh"
            await again.send_json(stale)
            await again.send_json(fresh)
            await eventually(lambda: has_marker(api, gateway["id"], "fresh"), what="fresh sidecar stats")
            await again.send_json(stale)
            await asyncio.sleep(0.3)
            assert await stats_marker(api, gateway["id"]) == "fresh"
            await again.close()

    run(scenario())
