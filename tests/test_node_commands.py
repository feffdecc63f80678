"""Commands over /ws/node, driven through the REST API (node-protocol.md §5.2-5.4, §5.6, §4.6-4.7;
api.md §7.1-7.2).

A test-only node answers commands by command_id in whatever order the test wants; the REST
calls run concurrently on the same loop. Correlation, out-of-order acks, hung and vanishing
nodes, node refusals mapped to HTTP, and the get_config / config_response cache.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from hub_helpers import api_client, command, create_node, eventually, new_registered, run, wait_status
from node_peer import NodePeer, example

SECRET = "correct-horse-battery"     # the SRT passphrase in edge-config-response.json


@pytest.fixture(scope="module")
def token(manager) -> str:
    return manager.token()


@pytest.fixture(scope="module")
def viewer_token(manager, token) -> str:
    manager.relax_login_limits(token)
    manager.create_user(token, "cmd-viewer", "viewer")
    return manager.token("cmd-viewer", "a long enough passphrase")


def stop(flow_id: str) -> dict:
    return {"type": "stop_flow", "flow_id": flow_id}


# -- correlation ----------------------------------------------------------------------------------

def test_a_command_round_trip(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            call = asyncio.ensure_future(command(api, node["id"], {"type": "reset_counters", "flow_id": "main-feed"}))
            await peer.command(timeout=5)  # wait for it to arrive, then inspect the raw envelope
            raw = [m for m in peer.received if isinstance(m, dict) and m.get("type") == "command"][-1]
            assert set(raw) == {"type", "timestamp", "payload"}
            assert set(raw["payload"]) == {"command_id", "action"}
            command_id = raw["payload"]["command_id"]
            assert uuid.UUID(command_id).version == 4
            assert raw["payload"]["action"] == {"type": "reset_counters", "flow_id": "main-feed"}  # args are siblings
            ack = await peer.ack_example("edge-ack-success-data", command_id)
            response = await call
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["command_id"] == command_id and body["success"] is True
            assert body["data"] == ack["payload"]["data"]
            assert isinstance(body["duration_ms"], int) and body["duration_ms"] >= 0
            # The audit row carries the action, arguments and the command id.
            audit = (await api.get("/api/v1/audit-log", params={"action": "node.command", "node_id": node["id"]})).json()
            row = audit["items"][0]
            assert row["result"] == "success" and row["details"]["command_id"] == command_id
            assert row["details"]["action"] == "reset_counters"
            await peer.close()

    run(scenario())


def test_out_of_order_acks_reach_their_own_callers(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            first = asyncio.ensure_future(command(api, node["id"], stop("flow-a")))
            second = asyncio.ensure_future(command(api, node["id"], stop("flow-b")))
            cmd_a = await peer.command("stop_flow", where=lambda p: p["action"]["flow_id"] == "flow-a")
            cmd_b = await peer.command("stop_flow", where=lambda p: p["action"]["flow_id"] == "flow-b")
            assert cmd_a["command_id"] != cmd_b["command_id"]
            await peer.ack(cmd_b["command_id"], data={"stopped": "flow-b"})   # the second one first
            result_b = await second
            assert not first.done()
            await peer.ack(cmd_a["command_id"], data={"stopped": "flow-a"})
            result_a = await first
            assert result_a.status_code == result_b.status_code == 200
            assert result_a.json()["data"] == {"stopped": "flow-a"}
            assert result_a.json()["command_id"] == cmd_a["command_id"]
            assert result_b.json()["data"] == {"stopped": "flow-b"}
            assert result_b.json()["command_id"] == cmd_b["command_id"]
            await peer.close()

    run(scenario())


def test_a_hung_node_delays_nobody_else_and_times_out_with_504(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            hung, hung_peer = await new_registered(manager, api)
            node, peer = await new_registered(manager, api)
            started = time.monotonic()
            stuck = asyncio.ensure_future(command(api, hung["id"], stop("main-feed")))
            await hung_peer.command("stop_flow")                # received, never acknowledged
            for _ in range(3):
                call = asyncio.ensure_future(command(api, node["id"], stop("main-feed")))
                cmd = await peer.command("stop_flow")
                await peer.ack(cmd["command_id"])
                assert (await call).status_code == 200
            assert time.monotonic() - started < 3 and not stuck.done()
            response = await stuck
            waited = time.monotonic() - started
            assert response.status_code == 504, response.text
            body = response.json()
            assert body["code"] == "node_timeout" and body["command_id"]
            assert "timed out" in body["error"]
            assert 9 <= waited <= 15, waited                    # stop_flow: the 10 s budget
            # The hung node is still connected; a late ack for the dead command is harmless.
            await hung_peer.ack(body["command_id"])
            call = asyncio.ensure_future(command(api, hung["id"], stop("main-feed")))
            cmd = await hung_peer.command("stop_flow")
            await hung_peer.ack(cmd["command_id"])
            assert (await call).status_code == 200
            await hung_peer.close()
            await peer.close()

    run(scenario())


def test_a_disconnect_mid_command_fails_the_waiting_call_promptly(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            calls = [asyncio.ensure_future(command(api, node["id"], stop(f"flow-{i}"))) for i in range(2)]
            await peer.command("stop_flow")
            await peer.command("stop_flow")
            closed_at = time.monotonic()
            await peer.close()
            for call in calls:
                response = await call
                assert response.status_code == 502, response.text
                assert response.json()["code"] == "node_disconnected"
            assert time.monotonic() - closed_at < 2
            # Offline now: fail at once, nothing is queued.
            await wait_status(api, node["id"], "offline")
            started = time.monotonic()
            response = await command(api, node["id"], stop("main-feed"))
            assert response.status_code == 502 and response.json()["code"] == "node_not_connected"
            assert time.monotonic() - started < 1

    run(scenario())


def test_a_17th_command_in_flight_gets_node_busy(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            calls = [asyncio.ensure_future(command(api, node["id"], stop(f"flow-{i}"))) for i in range(16)]
            received = [await peer.command("stop_flow") for _ in range(16)]
            response = await command(api, node["id"], stop("main-feed"))
            assert response.status_code == 429, response.text
            assert response.json()["code"] == "node_busy" and response.json()["retry_after_secs"] >= 1
            assert int(response.headers["Retry-After"]) >= 1
            for cmd in reversed(received):
                await peer.ack(cmd["command_id"], data={"flow": cmd["action"]["flow_id"]})
            results = [await c for c in calls]
            assert [r.json()["data"]["flow"] for r in results] == [f"flow-{i}" for i in range(16)]
            assert peer.commands_seen("stop_flow") == 16
            await peer.close()

    run(scenario())


def test_commands_to_a_pending_node_fail_with_node_not_connected(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node = await create_node(api)
            response = await command(api, node["id"], stop("main-feed"))
            assert response.status_code == 502 and response.json()["code"] == "node_not_connected"

    run(scenario())


# -- node refusals (§5.6, api.md §7.2) --------------------------------------------------------------

def test_node_refusals_map_to_422_node_rejected(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)

            async def refused(ack_example: str | None, **ack_fields):
                call = asyncio.ensure_future(command(api, node["id"], stop("main-feed")))
                cmd = await peer.command("stop_flow")
                if ack_example:
                    sent = await peer.ack_example(ack_example, cmd["command_id"])
                else:
                    sent = None
                    await peer.ack(cmd["command_id"], **ack_fields)
                response = await call
                assert response.status_code == 422, response.text
                body = response.json()
                assert body["code"] == "node_rejected" and body["command_id"] == cmd["command_id"]
                assert "node_error_code" in body
                return body, sent

            body, sent = await refused("edge-ack-port-conflict")
            assert body["node_error_code"] == "port_conflict"
            assert body["node_error"] == body["error"] == sent["payload"]["error"]   # verbatim
            body, sent = await refused("edge-ack-failure-no-code")
            assert body["node_error_code"] is None
            assert body["node_error"] == "Duplicate flow ID 'remote-feed'"
            body, _ = await refused("edge-ack-unknown-action")
            assert body["node_error_code"] == "unknown_action"
            body, _ = await refused(None, success=False)                 # no error text
            assert body["node_error"] == "Command failed on node" and body["node_error_code"] is None
            body, _ = await refused(None, omit_success=True)               # missing success -> false
            assert body["code"] == "node_rejected"
            # The audit row records the node's error code.
            audit = (await api.get("/api/v1/audit-log", params={"action": "node.command", "node_id": node["id"],
                                                                 "result": "failure"})).json()
            assert any(r["details"].get("node_error_code") == "port_conflict" for r in audit["items"])
            await peer.close()

    run(scenario())


def test_unknown_and_late_acks_are_ignored(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            await peer.ack(str(uuid.uuid4()))
            await peer.ack("unknown", success=False, error="Unknown command: x", error_code="unknown_action")
            call = asyncio.ensure_future(command(api, node["id"], stop("main-feed")))
            cmd = await peer.command("stop_flow")
            await peer.ack(cmd["command_id"])
            assert (await call).status_code == 200
            assert not peer.closed.is_set()
            await peer.close()

    run(scenario())


def test_a_relay_gets_one_command_at_a_time(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api, "relay")
            first = asyncio.ensure_future(command(api, node["id"], {"type": "list_tunnels"}))
            second = asyncio.ensure_future(command(api, node["id"], {"type": "list_tunnels"}))
            cmd1 = await peer.command("list_tunnels")
            await asyncio.sleep(0.5)
            assert peer.commands == [], "the second command was sent before the first was acknowledged"
            await peer.ack_example("relay-ack-list-tunnels", cmd1["command_id"])
            cmd2 = await peer.command("list_tunnels")
            await peer.ack(cmd2["command_id"], data=[])
            results = [await first, await second]
            assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
            assert {r.json()["command_id"] for r in results} == {cmd1["command_id"], cmd2["command_id"]}
            await peer.close()

    run(scenario())


# -- config cache (api.md §7.1, node-protocol §5.3 rule 3) -----------------------------------------

def test_config_is_fetched_once_cached_refreshed_and_masked(manager, token, viewer_token):
    async def scenario():
        async with api_client(manager, token) as api, api_client(manager, viewer_token) as viewer:
            node, peer = await new_registered(manager, api)
            peer.manual_config()                           # this test answers get_config itself
            url = f"/api/v1/nodes/{node['id']}/config"
            call = asyncio.ensure_future(api.get(url))
            cmd = await peer.command("get_config")
            assert cmd["action"] == {"type": "get_config"}
            sent = await peer.config_response()                     # id-less, no ack (§4.7)
            response = await call
            assert response.status_code == 200, response.text
            assert response.headers["X-Config-Source"] == "live"
            assert response.headers["X-Config-Fetched-At"] and response.headers["ETag"].startswith('"')
            config = response.json()
            assert config["inputs"][0]["passphrase"] == "{{secret}}"
            assert SECRET not in response.text
            expected = sent["payload"]
            assert config["flows"] == expected["flows"] and config["version"] == 2  # the config itself, unwrapped

            # Within 30 s: served from the cache, no second get_config.
            response = await api.get(url)
            assert response.status_code == 200 and response.headers["X-Config-Source"] == "cache"
            assert response.headers["ETag"] == (await api.get(url)).headers["ETag"]
            assert (await viewer.get(url)).headers["X-Config-Source"] == "cache"
            await asyncio.sleep(0.3)
            assert peer.commands_seen("get_config") == 1

            # refresh=true asks the node again.
            call = asyncio.ensure_future(api.get(url, params={"refresh": "true"}))
            await peer.command("get_config")
            await peer.config_response()
            response = await call
            assert response.headers["X-Config-Source"] == "live" and peer.commands_seen("get_config") == 2

            # reveal_secrets: operator or higher, audited.
            response = await api.get(url, params={"reveal_secrets": "true"})
            assert response.status_code == 200 and response.json()["inputs"][0]["passphrase"] == SECRET
            audit = (await api.get("/api/v1/audit-log", params={"action": "node.config.reveal",
                                                                 "node_id": node["id"]})).json()
            assert audit["total"] == 1
            response = await viewer.get(url, params={"reveal_secrets": "true"})
            assert SECRET not in response.text
            assert response.status_code in (200, 403)
            await peer.close()

    run(scenario())


def test_concurrent_config_reads_share_one_get_config(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            peer.manual_config()                           # this test answers get_config itself
            url = f"/api/v1/nodes/{node['id']}/config"
            calls = [asyncio.ensure_future(api.get(url, params={"refresh": "true"})) for _ in range(3)]
            await peer.command("get_config")
            await asyncio.sleep(0.3)
            assert peer.commands_seen("get_config") == 1
            await peer.config_response()
            responses = [await c for c in calls]
            assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
            # A config_response with nothing outstanding just refreshes the cache.
            changed = example("edge-config-response")["payload"]
            changed["device_name"] = "Renamed by the node"
            await peer.config_response(changed)
            await eventually(lambda: _device_name(api, url, "Renamed by the node"), what="cache refreshed")
            await peer.close()

    run(scenario())


async def _device_name(api, url: str, name: str) -> bool:
    response = await api.get(url)
    return response.status_code == 200 and response.json()["device_name"] == name


def test_a_config_changing_command_makes_the_next_read_live(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            peer.auto_answer_config()
            url = f"/api/v1/nodes/{node['id']}/config"
            assert (await api.get(url)).headers["X-Config-Source"] == "live"
            assert (await api.get(url)).headers["X-Config-Source"] == "cache"
            call = asyncio.ensure_future(command(api, node["id"], stop("main-feed")))  # a known flow now
            cmd = await peer.command("stop_flow")
            await peer.ack(cmd["command_id"])
            assert (await call).status_code == 200
            assert (await api.get(url)).headers["X-Config-Source"] == "live"
            assert peer.commands_seen("get_config") == 2
            # get_config through /command returns the masked config as data.
            response = await command(api, node["id"], {"type": "get_config"})
            assert response.status_code == 200, response.text
            assert response.json()["data"]["inputs"][0]["passphrase"] == "{{secret}}"
            # With the config known, the driver refuses a flow the node does not have, before sending.
            response = await command(api, node["id"], stop("no-such-flow"))
            assert response.status_code == 422 and response.json()["code"] == "validation_failed"
            assert peer.commands_seen("stop_flow") == 1
            await peer.close()

    run(scenario())


def test_an_unanswered_get_config_times_out_and_the_next_read_asks_again(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            peer.manual_config()                           # this test answers get_config itself
            url = f"/api/v1/nodes/{node['id']}/config"
            started = time.monotonic()
            response = await api.get(url)                          # nothing known, no answer: 504
            assert response.status_code == 504 and response.json()["code"] == "node_timeout", response.text
            assert 4 <= time.monotonic() - started <= 8
            # The next read sends a fresh get_config rather than waiting on the dead one.
            call = asyncio.ensure_future(api.get(url))
            await eventually(lambda: _seen(peer, "get_config", 2), timeout=3, what="second get_config")
            await peer.config_response()
            response = await call
            assert response.status_code == 200 and response.headers["X-Config-Source"] == "live", response.text
            await peer.close()

    run(scenario())


async def _seen(peer: NodePeer, action: str, count: int) -> bool:
    return peer.commands_seen(action) >= count


def test_a_sidecar_acks_get_config_before_its_config_response(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api, "appear_x")
            peer.manual_config()                           # this test answers get_config itself
            url = f"/api/v1/nodes/{node['id']}/config"
            call = asyncio.ensure_future(api.get(url))
            cmd = await peer.command("get_config")
            await peer.ack_example("appearx-ack-get-config", cmd["command_id"])
            await asyncio.sleep(0.3)
            assert not call.done(), "the informational ack ended the request"
            config = example("appearx-config-response-discovery")
            config["timestamp"] = example("edge-health")["timestamp"]
            await peer.send_json(config)
            response = await call
            assert response.status_code == 200, response.text
            assert response.json() == config["payload"]
            await peer.close()

    run(scenario())


def test_an_offline_node_serves_its_last_known_config_from_the_database(fresh_manager):
    manager = fresh_manager
    token = manager.token()

    async def first_life():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            peer.auto_answer_config()
            assert (await api.get(f"/api/v1/nodes/{node['id']}/config")).status_code == 200
            await peer.close()
            await wait_status(api, node["id"], "offline")
            response = await api.get(f"/api/v1/nodes/{node['id']}/config")
            assert response.status_code == 200 and response.headers["X-Config-Source"] == "cache"
            return node["id"]

    node_id = run(first_life())
    # Kept encrypted at rest: the passphrase is nowhere in the database file in clear.
    with manager.sqlite() as db:
        rows = db.execute("SELECT config_enc FROM node_configs WHERE node_id = ?", (node_id,)).fetchall()
    assert len(rows) == 1 and SECRET not in rows[0][0] and "Studio-A" not in rows[0][0]
    manager.stop()
    manager.start()

    async def second_life():
        async with api_client(manager, token) as api:
            response = await api.get(f"/api/v1/nodes/{node_id}/config")
            assert response.status_code == 200, response.text
            assert response.headers["X-Config-Source"] == "cache"
            assert response.json()["device_name"] == "Studio-A Encoder"
            assert response.json()["inputs"][0]["passphrase"] == "{{secret}}"
            revealed = await api.get(f"/api/v1/nodes/{node_id}/config", params={"reveal_secrets": "true"})
            assert revealed.json()["inputs"][0]["passphrase"] == SECRET
            # A node that never sent a config and is offline: 502.
            other = await create_node(api)
            response = await api.get(f"/api/v1/nodes/{other['id']}/config")
            assert response.status_code == 502 and response.json()["code"] == "node_not_connected"

    run(second_life())


# -- composite actions ----------------------------------------------------------------------------

def test_a_deploy_flow_refused_part_way_undoes_what_it_created(manager, token):
    """product.md §7.1: deploy_flow creates inputs, outputs, then the flow; when the node refuses
    a later step, the manager deletes what it created, newest first, and says so."""
    action = {"type": "deploy_flow",
              "inputs": [{"id": "rb-in", "name": "RB in", "type": "srt", "mode": "listener",
                          "local_addr": "0.0.0.0:9311"}],
              "outputs": [{"id": "rb-out", "name": "RB out", "type": "udp", "dest_addr": "192.0.2.10:5000"}],
              "flow": {"id": "rb-flow", "name": "RB flow", "input_ids": ["rb-in"], "output_ids": ["rb-out"]}}

    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            call = asyncio.ensure_future(command(api, node["id"], action))
            for kind in ("create_input", "create_output"):
                step = await peer.command(kind, timeout=10)
                await peer.ack(step["command_id"])
            flow = await peer.command("create_flow", timeout=10)
            await peer.ack(flow["command_id"], success=False, error="Bind failed: UDP 0.0.0.0:9311 in use",
                           error_code="bind_failed")
            undo_output = await peer.command("delete_output", timeout=10)
            assert undo_output["action"]["output_id"] == "rb-out"
            await peer.ack(undo_output["command_id"])
            undo_input = await peer.command("delete_input", timeout=10)
            assert undo_input["action"]["input_id"] == "rb-in"
            await peer.ack(undo_input["command_id"])
            response = await call
            assert response.status_code == 422
            body = response.json()
            assert body["code"] == "node_rejected" and body["node_error_code"] == "bind_failed"
            assert body["rolled_back"] == ["delete_output rb-out", "delete_input rb-in"]
            await peer.close()

    run(scenario())
