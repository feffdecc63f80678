"""The node REST routes with real nodes attached (api.md §3, §5, §6.4, §7.2-7.4).

Node records and enrolment, roles and the node allowlist on every node-scoped route,
thumbnails, device types, deleting a connected node, and a toy driver added in-process to
prove that a new device type is one new module.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import time
import uuid

import httpx
import pytest
import tornado.httpserver
import tornado.netutil

from bilbycast.routes import build_routes
from hub_helpers import api_client, command, create_node, eventually, events_of, new_registered, run, unique, \
    wait_event, wait_status
from manager_process import ADMIN_PASSWORD, USER_PASSWORD, ManagerProcess
from node_peer import NodePeer, default_config

NODE_KEYS = {"id", "name", "description", "device_type", "status", "stale", "health", "software_version",
             "protocol_version", "capabilities", "remote_addr", "connected_since", "last_seen_at", "registered_at",
             "expires_at", "expired", "web_ui_url", "summary", "created_at", "updated_at"}


@pytest.fixture(scope="module")
def token(manager) -> str:
    root = manager.token()
    manager.relax_login_limits(root)
    return root


@pytest.fixture(scope="module")
def role_tokens(manager, token) -> dict[str, str]:
    out = {}
    for role in ("viewer", "operator"):
        manager.create_user(token, f"rest-{role}", role)
        out[role] = manager.token(f"rest-{role}", USER_PASSWORD)
    return out


# -- node records (api.md §5) -----------------------------------------------------------------------

def test_node_records_enrolment_and_validation(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            name = unique("Zeta Relay")
            response = await api.post("/api/v1/nodes", json={"name": name, "device_type": "relay",
                                                             "description": "rack 4", "web_ui_url": None})
            assert response.status_code == 201, response.text
            node = response.json()
            assert set(node) >= NODE_KEYS | {"registration_token", "manager_urls", "cert_fingerprint_sha256",
                                             "self_signed_cert"}
            assert node["status"] == "pending" and node["device_type"] == "relay"
            for key in ("software_version", "protocol_version", "capabilities", "remote_addr", "connected_since",
                        "summary", "health", "registered_at"):
                assert node[key] is None, key
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", node["registration_token"])
            assert node["manager_urls"] and all(u.startswith("wss://") and u.endswith("/ws/node")
                                                for u in node["manager_urls"])
            assert re.fullmatch(r"([0-9a-f]{2}:){31}[0-9a-f]{2}", node["cert_fingerprint_sha256"])
            assert node["self_signed_cert"] is True
            # The token is returned once and stored only as a keyed hash.
            again = (await api.get(f"/api/v1/nodes/{node['id']}")).json()
            assert "registration_token" not in again
            with manager.sqlite() as db:
                stored = db.execute("SELECT token_hash FROM nodes WHERE id = ?", (node["id"],)).fetchone()[0]
            assert stored and node["registration_token"] not in stored

            default = await create_node(api, unique("alpha"), device_type="edge")
            listed = (await api.get("/api/v1/nodes")).json()
            names = [n["name"] for n in listed]
            assert names == sorted(names, key=str.lower) or names == sorted(names)
            relays = (await api.get("/api/v1/nodes", params={"device_type": "relay"})).json()
            assert node["id"] in [n["id"] for n in relays] and all(n["device_type"] == "relay" for n in relays)
            found = (await api.get("/api/v1/nodes", params={"search": name.upper()})).json()
            assert [n["id"] for n in found] == [node["id"]]
            pending = (await api.get("/api/v1/nodes", params={"status": "pending"})).json()
            assert {node["id"], default["id"]} <= {n["id"] for n in pending}
            assert (await api.get("/api/v1/nodes", params={"status": "sleeping"})).status_code == 400

            response = await api.put(f"/api/v1/nodes/{node['id']}", json={"name": name + " renamed",
                                                                         "description": None})
            assert response.status_code == 200 and response.json()["name"] == name + " renamed"
            assert response.json()["description"] is None
            for body, code in (({"name": "x", "device_type": "toaster"}, "unknown_device_type"),
                               ({"name": "x", "colour": "red"}, "unknown_field"),
                               ({}, "validation_failed"), ({"name": "x" * 129}, "validation_failed"),
                               ({"name": "bad\x07name"}, "validation_failed"),
                               ({"name": "x", "web_ui_url": "ftp://x"}, "validation_failed")):
                response = await api.post("/api/v1/nodes", json=body)
                assert response.status_code == 422 and response.json()["code"] == code, (body, response.text)
            response = await api.put(f"/api/v1/nodes/{node['id']}", json={"device_type": "edge"})
            assert response.status_code == 422 and response.json()["code"] == "immutable_field"
            assert (await api.get(f"/api/v1/nodes/{uuid.uuid4()}")).status_code == 404

    run(scenario())


def test_live_node_fields_and_state_routes(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            health = await peer.send_health()
            stats = await peer.send_stats()

            async def ready():
                body = (await api.get(f"/api/v1/nodes/{node['id']}")).json()
                applied = (await api.get(f"/api/v1/nodes/{node['id']}/stats")).json()["stats"]
                return body if body["summary"] and body["capabilities"] and applied else None
            body = await eventually(ready, what="health and stats applied")
            assert body["status"] == "online" and body["health"] in ("healthy", "warning", "critical")
            assert body["capabilities"] == health["payload"]["capabilities"]
            assert body["summary"]["flows_running"] is not None
            state = (await api.get(f"/api/v1/nodes/{node['id']}/stats")).json()
            assert state["stats"] == stats["payload"] and state["status"] == "online" and state["received_at"]
            report = (await api.get(f"/api/v1/nodes/{node['id']}/health")).json()
            assert report["report"] == health["payload"]
            await peer.close()
            await wait_status(api, node["id"], "offline")
            body = (await api.get(f"/api/v1/nodes/{node['id']}")).json()
            assert body["remote_addr"] is None and body["connected_since"] is None and body["health"] is None
            assert body["summary"] is not None                        # kept after going offline
            state = (await api.get(f"/api/v1/nodes/{node['id']}/stats")).json()
            assert state["stats"] is None                             # dropped when the node goes offline
            report = (await api.get(f"/api/v1/nodes/{node['id']}/health")).json()
            assert report["health"] is None and report["report"] == health["payload"]

    run(scenario())


# -- roles (api.md §3.3-3.4) --------------------------------------------------------------------------

def test_command_roles(manager, token, role_tokens):
    async def scenario():
        async with api_client(manager, role_tokens["viewer"]) as viewer, \
                api_client(manager, role_tokens["operator"]) as operator, api_client(manager, token) as admin:
            node, peer = await new_registered(manager, admin)
            relay, relay_peer = await new_registered(manager, admin, "relay")
            peer.manual_config()            # a node slow to answer get_config must not slow down refusals
            started = time.monotonic()
            response = await command(viewer, node["id"], {"type": "stop_flow", "flow_id": "main-feed"})
            assert response.status_code == 403 and response.json()["code"] == "forbidden", response.text
            response = await viewer.post(f"/api/v1/nodes/{node['id']}/flows/main-feed/stop")
            assert response.status_code == 403 and response.json()["code"] == "forbidden"
            response = await command(operator, node["id"], {"type": "delete_tunnel", "tunnel_id": str(uuid.uuid4())})
            assert response.status_code == 403, response.text
            body = response.json()
            assert body["code"] == "insufficient_role" and body["required_role"] == "admin"
            assert body["error"] == "Command delete_tunnel requires role admin"
            response = await command(operator, relay["id"], {"type": "close_tunnel", "tunnel_id": str(uuid.uuid4())})
            assert response.status_code == 403 and response.json()["required_role"] == "admin"
            assert peer.commands_seen("delete_tunnel") == 0 and relay_peer.commands_seen("close_tunnel") == 0
            # Unknown actions and bad arguments are refused before anything is sent.
            response = await command(operator, node["id"], {"type": "frobnicate"})
            assert response.status_code == 422 and response.json()["code"] == "unknown_action"
            response = await command(operator, node["id"], {"type": "stop_flow"})
            assert response.status_code == 422 and response.json()["code"] == "validation_failed"
            response = await operator.post(f"/api/v1/nodes/{node['id']}/command", json={"action": {}, "extra": 1})
            assert response.status_code == 422
            assert peer.received[1:] == [], peer.received   # nothing was sent, not even a get_config
            assert time.monotonic() - started < 3              # and nothing waited for the node
            peer.auto_answer_config(default_config("edge"))
            # The operator's allowed command reaches the node, via /command and a convenience route.
            for call in (command(operator, node["id"], {"type": "stop_flow", "flow_id": "main-feed"}),
                         operator.post(f"/api/v1/nodes/{node['id']}/flows/main-feed/stop")):
                task = asyncio.ensure_future(call)
                cmd = await peer.command("stop_flow")
                assert cmd["action"] == {"type": "stop_flow", "flow_id": "main-feed"}
                await peer.ack(cmd["command_id"])
                assert (await task).status_code == 200
            # Flow routes do not exist for a relay.
            response = await operator.post(f"/api/v1/nodes/{relay['id']}/flows/x/stop")
            assert response.status_code == 422 and response.json()["code"] == "not_supported"
            await peer.close()
            await relay_peer.close()

    run(scenario())


# -- node allowlist (api.md §3.2) -------------------------------------------------------------------

NODE_ROUTES = [(route.template, method) for route in build_routes() for method, rule in sorted(route.rules.items())
               if rule.node_scoped and route.template.startswith("/api/v1/nodes/{id}")]


def concrete(template: str, node_id: str) -> str:
    return template.replace("{id}", node_id).replace("{entity_id}", "main-feed")


def test_an_allowlisted_user_sees_only_their_nodes(manager, token):
    async def scenario():
        async with api_client(manager, token) as root:
            node_a, peer_a = await new_registered(manager, root, name=unique("Allowed A"))
            node_b, peer_b = await new_registered(manager, root, name=unique("Hidden B"))
            await peer_a.send_event(severity="warning", category="allow", message="event on A")
            await peer_b.send_event(severity="critical", category="allow", message="event on B")
            event_b = await wait_event(root, node_b["id"], lambda e: e["category"] == "allow")
            await wait_event(root, node_a["id"], lambda e: e["category"] == "allow")
            username = unique("scoped")
            manager.create_user(token, username, "admin", allowed_node_ids=[node_a["id"]])
            scoped_token = await asyncio.to_thread(manager.token, username, USER_PASSWORD)
            async with api_client(manager, scoped_token) as scoped:
                assert NODE_ROUTES, "no node-scoped routes found"
                for template, method in NODE_ROUTES:
                    body = {"json": {}} if method in ("POST", "PUT") else {}
                    response = await scoped.request(method, concrete(template, node_b["id"]), **body)
                    assert response.status_code == 404 and response.json()["code"] == "not_found", \
                        (method, template, response.status_code, response.text)
                for template, method in NODE_ROUTES:
                    if method != "GET":
                        continue
                    response = await scoped.get(concrete(template, node_a["id"]))
                    assert not (response.status_code == 404 and response.json().get("code") == "not_found"), \
                        (template, response.text)
                # Nothing reached node B, and it still exists.
                assert peer_b.received[1:] == [] and peer_b.commands == []
                assert (await root.get(f"/api/v1/nodes/{node_b['id']}")).status_code == 200

                listed = (await scoped.get("/api/v1/nodes")).json()
                assert [n["id"] for n in listed] == [node_a["id"]]
                endpoints = (await scoped.get("/api/v1/nodes/endpoints")).json()
                assert [e["node_id"] for e in endpoints] == [node_a["id"]]
                events = (await scoped.get("/api/v1/events", params={"per_page": 200})).json()
                assert events["total"] >= 1 and {e["node_id"] for e in events["items"]} == {node_a["id"]}
                response = await scoped.get("/api/v1/events", params={"node_id": node_b["id"]})
                assert response.json()["total"] == 0
                export = (await scoped.get("/api/v1/events/export")).text
                assert node_b["id"] not in export and node_a["id"] in export
                count = (await scoped.get("/api/v1/events/count")).json()
                mine = (await scoped.get("/api/v1/events", params={"acknowledged": "false",
                                                                   "severity": "warning,critical"})).json()
                assert count["count"] == mine["total"]
                response = await scoped.post(f"/api/v1/events/{event_b['id']}/ack")
                assert response.status_code == 404
                response = await scoped.post("/api/v1/events/ack", json={"ids": [event_b["id"]]})
                assert response.json() == {"acknowledged": 0, "skipped": 1}
                response = await scoped.post("/api/v1/nodes", json={"name": "not allowed"})
                assert response.status_code == 403 and response.json()["code"] == "node_access_restricted"
                assert not (await events_of(root, node_b["id"], acknowledged="true"))["total"]
            await peer_a.close()
            await peer_b.close()

    run(scenario())


# -- thumbnails (api.md §6.4, node-protocol §4.5) ----------------------------------------------------

def test_thumbnails(manager, token, role_tokens):
    async def scenario():
        async with api_client(manager, token) as api, api_client(manager, role_tokens["viewer"]) as viewer:
            node, peer = await new_registered(manager, api)
            sent = await peer.send_example("edge-thumbnail")
            jpeg = base64.b64decode(sent["payload"]["data"])
            url = f"/api/v1/nodes/{node['id']}/flows/main-feed/thumbnail"

            async def available():
                response = await viewer.get(url)
                return response if response.status_code == 200 else None
            response = await eventually(available, what="thumbnail")
            assert response.headers["content-type"] == "image/jpeg"
            assert response.content == jpeg
            etag = response.headers["etag"]
            assert re.fullmatch(r'"[^"]+"', etag)
            assert response.headers["cache-control"] == "no-store"
            assert response.headers["x-thumbnail-captured-at"]
            assert int(response.headers["x-thumbnail-age-secs"]) >= 0
            response = await viewer.get(url, headers={"If-None-Match": etag})
            assert response.status_code == 304 and response.content == b""

            # The per-input preview is kept separately; a new picture gets a new ETag.
            assert (await viewer.get(url, params={"input_id": "srt-in"})).status_code == 404
            await peer.send_example("edge-thumbnail-input")
            await eventually(lambda: _status(viewer, url, 200, {"input_id": "srt-in"}), what="input thumbnail")
            second = base64.b64encode(b"\xff\xd8\xff\xe0second picture\xff\xd9").decode()
            await peer.send_example("edge-thumbnail", data=second)

            async def replaced():
                response = await viewer.get(url)
                return response if response.content != jpeg else None
            response = await eventually(replaced, what="new thumbnail")
            assert response.content == base64.b64decode(second) and response.headers["etag"] != etag
            assert (await viewer.get(url, headers={"If-None-Match": etag})).status_code == 200

            response = await viewer.get(f"/api/v1/nodes/{node['id']}/flows/unknown-flow/thumbnail")
            assert response.status_code == 404 and response.json()["code"] == "no_thumbnail"
            await peer.close()

    run(scenario())


async def _status(api, url: str, status: int, params: dict | None = None) -> bool:
    return (await api.get(url, params=params)).status_code == status


# -- device types (api.md §7.4) ---------------------------------------------------------------------

def test_device_types_list_every_driver(manager, role_tokens):
    async def scenario():
        async with api_client(manager, role_tokens["viewer"]) as viewer:
            response = await viewer.get("/api/v1/device-types")
            assert response.status_code == 200
            types = response.json()["device_types"]
            assert [t["device_type"] for t in types] == ["appear_x", "edge", "relay"]
            for entry in types:
                assert entry["display_name"] and entry["supported_commands"]
                names = {c["name"] for c in entry["supported_commands"]}
                assert "rotate_secret" not in names
                for spec in entry["supported_commands"]:
                    assert spec["requires_role"] in ("operator", "admin", "super_admin")
                    assert spec["args_schema"]["type"] == "object" and 0 < spec["timeout_secs"] <= 60
            by_type = {t["device_type"]: t for t in types}
            assert {"stop_flow", "create_flow", "get_config"} <= {c["name"] for c in by_type["edge"]["supported_commands"]}
            assert "close_tunnel" in {c["name"] for c in by_type["relay"]["supported_commands"]}
            assert "flows" in by_type["edge"]["features"] and "flows" not in by_type["appear_x"]["features"]

    run(scenario())


# -- deleting a connected node (api.md §5.2) -----------------------------------------------------------

def test_deleting_a_connected_node(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            await peer.send_event(severity="warning", category="doomed", message="soon gone")
            await wait_event(api, node["id"], lambda e: e["category"] == "doomed")
            username = unique("listed")
            user = manager.create_user(token, username, "viewer", allowed_node_ids=[node["id"]])
            response = await api.delete(f"/api/v1/nodes/{node['id']}")
            assert response.status_code == 204, response.text
            await peer.wait_closed(3)
            assert (await api.get(f"/api/v1/nodes/{node['id']}")).status_code == 404
            assert (await api.delete(f"/api/v1/nodes/{node['id']}")).status_code == 404
            await asyncio.sleep(0.3)
            assert (await events_of(api, node["id"]))["total"] == 0
            audit = (await api.get("/api/v1/audit-log", params={"action": "node.delete",
                                                                 "target_id": node["id"]})).json()
            assert audit["total"] == 1 and audit["items"][0]["result"] == "success"
            assert (await api.get(f"/api/v1/users/{user['id']}")).json()["allowed_node_ids"] == []
            again = NodePeer(manager.ws_url)
            assert await again.auth_credentials(node["id"], peer.node_secret) == {"type": "auth_error",
                                                                                   "message": "Node not registered"}
            await again.close()
            assert node["id"] not in [n["id"] for n in (await api.get("/api/v1/nodes")).json()]

    run(scenario())


# -- a toy driver, in-process (product.md §6: a new driver is one new module) -----------------------

def test_a_toy_driver_is_one_new_module(tmp_path):
    from bilbycast.app import ManagerApp
    from bilbycast.config import load_config
    from bilbycast.drivers.base import CommandSpec, Driver, object_schema
    from bilbycast.drivers.registry import default_registry
    from bilbycast.serve import ServeOptions

    class ToyLampDriver(Driver):
        device_type = "toy_lamp"
        display_name = "Toy Lamp"
        icon = "generic"
        protocol_version = 1
        known_protocol_versions = frozenset({1})
        commands = {spec.name: spec for spec in (
            CommandSpec("blink", "Blink", "Blink `times` times.",
                        args_schema=object_schema({"times": {"type": "integer", "minimum": 1, "maximum": 10}},
                                                  ["times"]), timeout_secs=5),
            CommandSpec("factory_reset", "Factory reset", "Forget everything.", requires_role="admin",
                        destructive=True),
        )}

    registry = default_registry()
    registry.register(ToyLampDriver())
    spec = ManagerProcess(tmp_path / "toy", tls_mode="behind_proxy")
    spec.setup()
    environ = dict(spec.env)
    config = load_config(spec.config_dir / "config.toml", environ,
                         {"paths.data_dir": str(spec.data_dir), "server.listen": ["127.0.0.1"]})

    async def scenario():
        app = ManagerApp(config, jwt_secret=bytes.fromhex(spec.jwt_secret),
                         master_key=bytes.fromhex(spec.master_key), drivers=registry)
        await app.start()
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
        port = sockets[0].getsockname()[1]
        app.public_base_urls = [f"http://127.0.0.1:{port}"]
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        await app.after_listen(port, ServeOptions())
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                login = await client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD,
                                                                      "return_token": True})
                assert login.status_code == 200, login.text
                client.headers["Authorization"] = f"Bearer {login.json()['token']}"
                types = (await client.get("/api/v1/device-types")).json()["device_types"]
                assert [t["device_type"] for t in types] == ["appear_x", "edge", "relay", "toy_lamp"]
                toy = next(t for t in types if t["device_type"] == "toy_lamp")
                assert [c["name"] for c in toy["supported_commands"]] == ["blink", "factory_reset"]

                response = await client.post("/api/v1/nodes", json={"name": "Lamp 1", "device_type": "toy_lamp"})
                assert response.status_code == 201, response.text
                node = response.json()
                assert node["manager_urls"] == [f"ws://127.0.0.1:{port}/ws/node"]
                peer = NodePeer(f"ws://127.0.0.1:{port}", software_version="1.0.0", protocol_version=1)
                reply = await peer.auth_register(node["registration_token"])
                assert reply["type"] == "register_ack" and reply["payload"]["node_id"] == node["id"]
                assert (await client.get(f"/api/v1/nodes/{node['id']}")).json()["status"] == "online"

                call = asyncio.ensure_future(client.post(f"/api/v1/nodes/{node['id']}/command",
                                                         json={"action": {"type": "blink", "times": 3}}))
                cmd = await peer.command("blink")
                assert cmd["action"] == {"type": "blink", "times": 3}
                await peer.ack(cmd["command_id"], data={"blinked": 3})
                response = await call
                assert response.status_code == 200, response.text
                assert response.json()["data"] == {"blinked": 3}
                response = await client.post(f"/api/v1/nodes/{node['id']}/command",
                                             json={"action": {"type": "blink", "times": 99}})
                assert response.status_code == 422 and response.json()["code"] == "validation_failed"
                response = await client.post(f"/api/v1/nodes/{node['id']}/command",
                                             json={"action": {"type": "stop_flow", "flow_id": "x"}})
                assert response.status_code == 422 and response.json()["code"] == "unknown_action"
                # Features the toy does not declare are refused, not guessed.
                response = await client.get(f"/api/v1/nodes/{node['id']}/config")
                assert response.status_code == 422 and response.json()["code"] == "not_supported"
                response = await client.post(f"/api/v1/nodes/{node['id']}/flows/x/stop")
                assert response.status_code == 422 and response.json()["code"] == "not_supported"
                await peer.close()
        finally:
            server.stop()
            await app.stop()
            await server.close_all_connections()

    run(scenario())


def test_node_pages_answer_404_for_unknown_and_invisible_nodes(manager):
    """api.md §3.2: outside the allowlist a node does not exist, for pages as for the API."""
    import uuid

    from manager_process import USER_PASSWORD

    token = manager.token()
    with manager.api(token) as api:
        visible = api.post("/api/v1/nodes", json={"name": "page-visible"}).json()["id"]
        hidden = api.post("/api/v1/nodes", json={"name": "page-hidden"}).json()["id"]
    manager.create_user(token, "pageviewer", "viewer", allowed_node_ids=[visible])
    browser = manager.login("pageviewer", USER_PASSWORD)
    assert browser.get(f"/nodes/{visible}").status_code == 200
    assert browser.get(f"/nodes/{visible}/config").status_code == 200
    for path in (f"/nodes/{hidden}", f"/nodes/{hidden}/config", f"/nodes/{uuid.uuid4()}"):
        response = browser.get(path, headers={"Accept": "text/html"})
        assert response.status_code == 404, path
        assert "text/html" in response.headers["Content-Type"]
