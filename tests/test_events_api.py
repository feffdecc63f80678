"""Events nodes send over /ws/node and the /api/v1/events routes (node-protocol.md §4.4, §3.4,
§13.7; api.md §8): normalisation and caps, filters and paging, the alarm count, acknowledging
one, many and by filter, CSV export with formula escaping, and shedding a flooding node."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from datetime import datetime, timezone

import pytest

from hub_helpers import api_client, eventually, events_of, new_registered, run, unique
from node_peer import example

EVENT_KEYS = {"id", "node_id", "node_name", "source", "severity", "category", "message", "error_code", "details",
              "flow_id", "input_id", "output_id", "created_at", "acknowledged", "acknowledged_by",
              "acknowledged_by_name", "acknowledged_at"}


@pytest.fixture(scope="module")
def token(manager) -> str:
    return manager.token()


@pytest.fixture(scope="module")
def viewer_token(manager, token) -> str:
    manager.relax_login_limits(token)
    manager.create_user(token, "events-viewer", "viewer")
    return manager.token("events-viewer", "a long enough passphrase")


async def node_events(api, node_id: str, count: int, timeout: float = 5.0, **query) -> list[dict]:
    """Wait until `count` node-sourced events of the node are stored; oldest first."""
    async def check():
        body = await events_of(api, node_id, order="asc", **query)
        items = [e for e in body["items"] if e["source"] == "node"]
        return items if len(items) >= count else None
    return await eventually(check, timeout, what=f"{count} events")


def test_node_events_are_stored_with_defaults_and_caps(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api, name="Events Edge")
            sent = await peer.send_example("edge-event-port-conflict")
            await peer.send_event(severity="debug", category="odd", message="unknown severity")
            await peer.send_event(severity="warning")
            await peer.send_event()
            await peer.send_event(severity="info", category="c" * 300, message="é" * 12_000)
            await peer.send_json({"type": "event", "payload": {"severity": "warning", "category": "no-stamp",
                                                               "message": "no timestamp"}})
            items = await node_events(api, node["id"], 6)
            first = items[0]
            assert set(first) >= EVENT_KEYS
            assert first["node_id"] == node["id"] and first["node_name"] == "Events Edge"
            assert first["source"] == "node" and first["severity"] == "critical"
            assert first["category"] == "port_conflict" and first["message"] == sent["payload"]["message"]
            assert first["error_code"] == "port_conflict"          # copied from details.error_code
            assert first["flow_id"] == "main-feed" and first["input_id"] == "srt-in" and first["output_id"] is None
            for key, value in sent["payload"]["details"].items():
                assert first["details"][key] == value                # details kept as JSON
            assert first["acknowledged"] is False and first["acknowledged_at"] is None
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["created_at"])
            assert (items[1]["severity"], items[1]["category"]) == ("info", "odd")
            assert (items[2]["category"], items[2]["message"]) == ("unknown", "Unknown event")
            assert (items[3]["severity"], items[3]["category"], items[3]["message"]) == ("info", "unknown",
                                                                                         "Unknown event")
            assert items[4]["message"] == "é" * 10_000 and items[4]["category"] == "c" * 256
            assert items[5]["category"] == "no-stamp"
            await peer.close()

    run(scenario())


def test_sidecar_severities_minor_and_major_map_to_warning_and_critical(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api, "appear_x")
            minor = await peer.send_example("appearx-event-alarm-minor")
            major = example("appearx-event-alarm-minor")
            major["payload"].update(severity="major", message="Alarm raised: inputLoss — major",
                                    details={"alarm_id": "a-21", "severity": "MAJOR"})
            await peer.send_json(major)
            await peer.send_example("appearx-event-alarm-raised")
            await peer.send_example("appearx-event-target-unreachable")
            items = await node_events(api, node["id"], 4)
            assert [e["severity"] for e in items] == ["warning", "critical", "critical", "critical"]
            assert items[0]["message"] == minor["payload"]["message"]
            assert items[0]["details"]["alarm_id"] == "a-19"
            assert items[3]["error_code"] == "target_unreachable"
            only_warnings = await events_of(api, node["id"], severity="warning")
            assert [e["id"] for e in only_warnings["items"]] == [items[0]["id"]]
            await peer.close()

    run(scenario())


def test_filters_paging_and_the_alarm_count(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            other, other_peer = await new_registered(manager, api)
            tag = uuid.uuid4().hex[:10]
            before = (await api.get("/api/v1/events/count")).json()
            for i in range(7):
                await peer.send_event(severity="warning", category="paging", message=f"{tag} warning {i}")
            await peer.send_event(severity="critical", category="paging", message=f"{tag} critical")
            await peer.send_event(severity="info", category="paging", message=f"{tag} info")
            await other_peer.send_event(severity="critical", category="paging", message=f"{tag} other node")
            await node_events(api, node["id"], 9)
            await node_events(api, other["id"], 1)

            everything = await events_of(api, search=tag)
            assert everything["total"] == 10
            mine = await events_of(api, node["id"], search=tag)
            assert mine["total"] == 9 and all(e["node_id"] == node["id"] for e in mine["items"])
            both = (await api.get("/api/v1/events", params=[("node_id", node["id"]), ("node_id", other["id"]),
                                                            ("search", tag)])).json()
            assert both["total"] == 10
            alarms = await events_of(api, search=tag, severity="warning,critical")
            assert alarms["total"] == 9
            assert (await events_of(api, node["id"], search=tag, severity="critical"))["total"] == 1
            # Paging: total counts every match; pages hold per_page items, newest first by default.
            page1 = (await api.get("/api/v1/events", params={"search": tag, "per_page": 4, "page": 1})).json()
            page3 = (await api.get("/api/v1/events", params={"search": tag, "per_page": 4, "page": 3})).json()
            assert (page1["total"], page1["page"], page1["per_page"], len(page1["items"])) == (10, 1, 4, 4)
            assert len(page3["items"]) == 2
            ids = [e["id"] for e in page1["items"]]
            assert ids == sorted(ids, reverse=True)
            asc = (await api.get("/api/v1/events", params={"search": tag, "order": "asc", "per_page": 4})).json()
            assert [e["id"] for e in asc["items"]] == sorted(e["id"] for e in everything["items"])[:4]
            # search matches the node name and category too
            assert (await events_of(api, search=other["name"], category="paging"))["total"] == 1
            for bad in ({"severity": "loud"}, {"per_page": 201}, {"page": 0}, {"acknowledged": "maybe"},
                        {"from": "yesterday"}):
                response = await api.get("/api/v1/events", params=bad)
                assert response.status_code == 400 and response.json()["code"] == "invalid_query", bad

            # The alarm count: unacknowledged warning + critical the caller can see.
            after = (await api.get("/api/v1/events/count")).json()
            assert after["count"] == after["critical"] + after["warning"]
            assert after["warning"] - before["warning"] == 7
            assert after["critical"] - before["critical"] == 2
            unacked = await events_of(api, acknowledged="false", severity="warning,critical", per_page=1)
            assert unacked["total"] == after["count"]

            # acknowledged=true/false filters.
            target = mine["items"][0]["id"]
            assert (await api.post(f"/api/v1/events/{target}/ack")).status_code == 200
            assert (await events_of(api, node["id"], search=tag, acknowledged="true"))["total"] == 1
            assert (await events_of(api, node["id"], search=tag, acknowledged="false"))["total"] == 8
            await peer.close()
            await other_peer.close()

    run(scenario())


def test_acknowledging_one_many_and_by_filter(manager, token, viewer_token):
    async def scenario():
        async with api_client(manager, token) as api, api_client(manager, viewer_token) as viewer:
            node, peer = await new_registered(manager, api)
            tag = uuid.uuid4().hex[:10]
            for i in range(6):
                await peer.send_event(severity="warning" if i < 4 else "critical", category="ack",
                                      message=f"{tag} {i}")
            items = await node_events(api, node["id"], 6, search=tag)
            ids = [e["id"] for e in items]

            response = await api.post(f"/api/v1/events/{ids[0]}/ack")
            assert response.status_code == 200, response.text
            acked = response.json()
            assert acked["acknowledged"] is True and acked["acknowledged_by_name"] == "admin"
            assert acked["acknowledged_by"] and acked["acknowledged_at"]
            again = (await api.post(f"/api/v1/events/{ids[0]}/ack", json={})).json()
            assert again["acknowledged_at"] == acked["acknowledged_at"]        # the first one is kept
            assert (await api.post("/api/v1/events/999999999/ack")).status_code == 404
            response = await viewer.post(f"/api/v1/events/{ids[1]}/ack")
            assert response.status_code == 403 and response.json()["code"] == "forbidden"
            audit = (await api.get("/api/v1/audit-log", params={"action": "event.ack"})).json()
            assert any(r["target_id"] == str(ids[0]) for r in audit["items"])

            response = await api.post("/api/v1/events/ack", json={"ids": [ids[0], ids[1], ids[2], 999999999]})
            assert response.status_code == 200, response.text
            assert response.json() == {"acknowledged": 2, "skipped": 2}

            # By filter: `before` keeps later arrivals unacknowledged.
            await asyncio.sleep(0.05)
            cutoff = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            await asyncio.sleep(0.05)
            await peer.send_event(severity="warning", category="ack", message=f"{tag} late")
            await node_events(api, node["id"], 7, search=tag)
            response = await api.post("/api/v1/events/ack", json={"filter": {
                "node_id": [node["id"]], "severity": ["warning"], "category": ["ack"], "before": cutoff}})
            assert response.status_code == 200, response.text
            assert response.json()["acknowledged"] == 1              # ids[3]; 0-2 were done, 4-5 are critical
            state = {e["message"]: e["acknowledged"] for e in (await events_of(api, node["id"], search=tag))["items"]}
            assert state == {f"{tag} 0": True, f"{tag} 1": True, f"{tag} 2": True, f"{tag} 3": True,
                             f"{tag} 4": False, f"{tag} 5": False, f"{tag} late": False}
            for body in ({"filter": {"node_id": [node["id"]]}}, {"ids": []}, {"ids": ["1"]}, {}):
                response = await api.post("/api/v1/events/ack", json=body)
                assert response.status_code == 422, (body, response.text)
            await peer.close()

    run(scenario())


def test_csv_export_escapes_formulas(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            tag = uuid.uuid4().hex[:10]
            messages = ["=HYPERLINK(\"http://evil\")" + tag, "+1+1 " + tag, "-2 " + tag, "@SUM(A1) " + tag,
                        "plain " + tag]
            for message in messages:
                await peer.send_event(severity="warning", category="csv", message=message)
            await node_events(api, node["id"], len(messages))
            response = await api.get("/api/v1/events/export", params={"node_id": node["id"], "category": "csv"})
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "text/csv; charset=utf-8"
            assert re.fullmatch(r'attachment; filename="events-\d{8}-\d{6}\.csv"',
                                response.headers["content-disposition"])
            rows = list(csv.reader(io.StringIO(response.text)))
            assert rows[0] == ["id", "created_at", "severity", "node_id", "node_name", "category", "message",
                               "error_code", "flow_id", "input_id", "output_id", "acknowledged",
                               "acknowledged_by_name", "acknowledged_at"]
            body = rows[1:]
            assert len(body) == len(messages)
            exported = [r[6] for r in body][::-1]                    # newest first
            assert exported == ["'" + m for m in messages[:4]] + [messages[4]]
            assert all(r[3] == node["id"] and r[2] == "warning" for r in body)
            await peer.close()

    run(scenario())


def test_a_flooding_node_is_shed_with_one_warning(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api, name=unique("Flood"))
            for i in range(1150):
                await peer.send_event(severity="info", category="flood", message=f"event {i}")

            async def stored():
                body = await events_of(api, node["id"], category="flood", per_page=1)
                return body["total"] >= 1000 and body["total"]
            await eventually(stored, timeout=30, interval=0.25, what="flood stored")
            await asyncio.sleep(0.5)
            assert (await events_of(api, node["id"], category="flood", per_page=1))["total"] == 1000
            assert not peer.closed.is_set()                            # shedding is not disconnecting
            # The episode ends here (the node goes away); it is reported once, with its count.
            await peer.close()

            async def shed_warning():
                body = await events_of(api, node["id"], category="rate_limit")
                return body if body["total"] else None
            shed = await eventually(shed_warning, what="rate_limit warning")
            await asyncio.sleep(0.5)
            shed = await events_of(api, node["id"], category="rate_limit")
            assert shed["total"] == 1, shed
            warning = shed["items"][0]
            assert warning["severity"] == "warning" and warning["source"] == "manager"
            assert warning["error_code"] == "event_rate_limit_exceeded"
            assert node["name"] in warning["message"] and "150" in warning["message"]
            assert warning["details"]["dropped"] == 150

    run(scenario(), timeout=120)
