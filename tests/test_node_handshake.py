"""The /ws/node handshake against a real manager (node-protocol.md §2, §11.1 items 1-10, §13.3).

A test-only node (tests/node_peer.py) dials the manager over real TLS and sends the spec's
example auth frames. Every branch: register_ack, auth_ok, each auth_error with the socket
closed, the 10 s deadline, lockouts, device-type and expiry refusals, token regeneration and
the secret-rotation grace period.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from hub_helpers import api_client, create_node, eventually, events_of, new_registered, node_status, run, wait_event, \
    wait_status
from node_peer import NodePeer, example, logged_in_peer


@pytest.fixture(scope="module")
def token(manager) -> str:
    return manager.token()


def past() -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")


async def expect_auth_error(peer: NodePeer, message: str | None = None) -> dict:
    """The reply is exactly {type: auth_error, message} and the manager closes the socket."""
    reply = await peer.recv_json(10)
    assert set(reply) == {"type", "message"}, reply        # no timestamp, no payload (§2.4)
    assert reply["type"] == "auth_error"
    assert isinstance(reply["message"], str) and reply["message"]
    if message is not None:
        assert reply["message"] == message
    await peer.wait_closed(5)
    assert peer.received == [reply], "the manager sent something besides the one auth reply"
    return reply


async def try_credentials(manager, node_id: str, secret: str, **kwargs) -> dict:
    peer = NodePeer(manager.ws_url, **kwargs)
    try:
        return await peer.auth_credentials(node_id, secret)
    finally:
        await peer.close()


# -- register_ack / auth_ok ---------------------------------------------------------------------

REGISTER_FRAMES = {  # device type -> (registration example, reconnect example, software, protocol)
    "edge": ("edge-auth-register", "edge-auth-reconnect", "0.106.0", 4),
    "relay": ("edge-auth-register", "relay-auth-reconnect", "0.10.6", 1),
    "appear_x": ("appearx-auth-register", "appearx-auth-reconnect", "0.11.8", 1),
}


@pytest.mark.parametrize("device_type", sorted(REGISTER_FRAMES))
def test_register_ack_then_auth_ok_with_the_spec_frames(manager, token, device_type):
    register_name, reconnect_name, software, protocol = REGISTER_FRAMES[device_type]

    async def scenario():
        async with api_client(manager, token) as api:
            node = await create_node(api, device_type=device_type)
            assert node["status"] == "pending"

            peer = await NodePeer(manager.ws_url).connect()
            auth = example(register_name)
            auth["payload"].update(registration_token=node["registration_token"], software_version=software,
                                   protocol_version=protocol)
            await peer.send_json(auth)
            reply = await peer.recv_json(10)
            assert reply["type"] == "register_ack", reply
            assert set(reply) == {"type", "timestamp", "payload"}
            datetime.fromisoformat(reply["timestamp"].replace("Z", "+00:00"))
            assert reply["payload"]["node_id"] == node["id"]
            secret = reply["payload"]["node_secret"]
            assert isinstance(secret, str) and len(secret) >= 16
            # Exactly one frame and nothing else: no other JSON, no WebSocket Ping (§2.3).
            assert await peer.nothing_within(1.0) == []
            assert peer.received == [reply] and peer.pings == []

            body = (await api.get(f"/api/v1/nodes/{node['id']}")).json()
            assert body["status"] == "online"
            assert body["software_version"] == software and body["protocol_version"] == protocol
            assert body["remote_addr"].startswith("127.0.0.1:") and body["connected_since"]
            assert body["registered_at"]
            await wait_event(api, node["id"], lambda e: e["category"] == "connection" and e["severity"] == "info"
                             and e["source"] == "manager")
            await peer.close()
            await wait_status(api, node["id"], "offline")

            # Reconnect with the issued credentials: auth_ok, no payload, nothing else.
            again = await NodePeer(manager.ws_url).connect()
            auth = example(reconnect_name)
            auth["payload"].update(node_id=node["id"], node_secret=secret, hostname="ignored-unknown-key")
            await again.send_json(auth)
            reply = await again.recv_json(10)
            assert reply["type"] == "auth_ok", reply
            assert "payload" not in reply and set(reply) == {"type", "timestamp"}
            assert await again.nothing_within(0.5) == [] and again.received == [reply] and again.pings == []
            await wait_status(api, node["id"], "online")
            # The supported protocol version of each type raises no compatibility warning.
            assert (await events_of(api, node["id"], category="compatibility"))["total"] == 0
            await again.close()

    run(scenario())


def test_a_registration_token_is_single_use(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, first = await new_registered(manager, api)
            second = NodePeer(manager.ws_url)
            await second.connect()
            await second.send_json({"type": "auth", "payload": {"registration_token": node["registration_token"],
                                                                "software_version": "0.106.0", "protocol_version": 4}})
            await expect_auth_error(second, "Invalid registration token")
            # The node that registered is unaffected.
            assert await node_status(api, node["id"]) == "online"
            assert not first.closed.is_set()
            await first.close()

    run(scenario())


@pytest.fixture(scope="module")
def spare_edge(manager, token) -> dict:
    """A registered edge (its credentials), not connected."""
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            await peer.close()
            return {"id": node["id"], "secret": peer.node_secret}
    return run(scenario())


def _bad_first_frames(spare: dict) -> dict:
    health = example("edge-health")
    return {
        "unknown_node": ({"type": "auth", "payload": {"node_id": str(uuid.uuid4()), "node_secret": "x" * 36,
                                                      "software_version": "0.106.0", "protocol_version": 4}},
                         "Node not registered"),
        "wrong_secret": ({"type": "auth", "payload": {"node_id": spare["id"], "node_secret": "not-the-secret",
                                                      "software_version": "0.106.0", "protocol_version": 4}},
                         "Invalid node secret"),
        "empty_payload": (example("edge-auth-empty"), "Missing node_id in auth payload"),
        "missing_secret": ({"type": "auth", "payload": {"node_id": spare["id"], "software_version": "0.106.0"}},
                           "Missing node_secret in auth payload"),
        "health_first": (health, "Expected 'auth' message type, got 'health'"),
        "invalid_json": ('{"type": "auth", "payload": {', None),
        "binary_frame": (b'{"type": "auth", "payload": {}}', None),
        "json_array": ("[]", None),
        "payload_not_object": ({"type": "auth", "payload": "token"}, None),
    }


@pytest.mark.parametrize("case", ["unknown_node", "wrong_secret", "empty_payload", "missing_secret", "health_first",
                                  "invalid_json", "binary_frame", "json_array", "payload_not_object"])
def test_every_refused_first_frame_gets_one_auth_error_and_a_close(manager, spare_edge, case):
    first, message = _bad_first_frames(spare_edge)[case]

    async def scenario():
        peer = await NodePeer(manager.ws_url).connect()
        if isinstance(first, dict):
            await peer.send_json(first)
        else:
            await peer.send_raw(first)
        await expect_auth_error(peer, message)

    run(scenario())


def test_no_frame_within_10_s_gets_auth_timeout_and_nothing_before_it(manager):
    async def scenario():
        peer = await NodePeer(manager.ws_url).connect()
        started = time.monotonic()
        reply = await peer.recv_json(14)
        waited = time.monotonic() - started
        assert 9.0 <= waited <= 13.0, waited
        assert reply == {"type": "auth_error", "message": "Auth timeout (10s)"}
        await peer.wait_closed(5)
        assert peer.received == [reply] and peer.pings == []  # not even a WebSocket Ping before it

    run(scenario())


# -- lockout --------------------------------------------------------------------------------------

def test_five_wrong_secrets_lock_the_node_id_but_not_another_node(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            victim, peer = await new_registered(manager, api)
            await peer.close()
            honest, honest_peer = await new_registered(manager, api)
            await honest_peer.close()
            for attempt in range(4):
                reply = await try_credentials(manager, victim["id"], f"wrong-{attempt}")
                assert reply == {"type": "auth_error", "message": "Invalid node secret"}
            reply = await try_credentials(manager, victim["id"], "wrong-5")
            assert reply == {"type": "auth_error",
                             "message": "Invalid node secret. Too many failures — locked out for 60 seconds."}
            # Locked: even the right secret is refused, with the lockout message, and closed.
            locked = NodePeer(manager.ws_url)
            await locked.auth_credentials(victim["id"], peer.node_secret)
            assert locked.received == [example("manager-auth-error-lockout")]
            await locked.wait_closed(5)
            # Another node, from the same address, at the same time: unaffected.
            reply = await try_credentials(manager, honest["id"], honest_peer.node_secret)
            assert reply["type"] == "auth_ok"
            assert (await try_credentials(manager, victim["id"], peer.node_secret))["type"] == "auth_error"
            # The lockout is logged once, not once per attempt (§2.8).
            await asyncio.sleep(0.2)
            lines = [ln for ln in manager.log_text().splitlines() if "locked out" in ln and victim["id"] in ln]
            assert len(lines) == 1, lines

    run(scenario())


def test_failed_registration_tokens_lock_their_prefix(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node = await create_node(api)
            real = node["registration_token"]
            for attempt in range(5):
                peer = NodePeer(manager.ws_url)
                reply = await peer.auth_register(real[:8] + f"-guess-{attempt}")
                assert reply == {"type": "auth_error", "message": "Invalid registration token"}
                await peer.wait_closed(5)
            peer = NodePeer(manager.ws_url)
            reply = await peer.auth_register(real)
            assert reply == {"type": "auth_error", "message": "Too many failed attempts. Try again later."}
            await peer.wait_closed(5)
            assert await node_status(api, node["id"]) == "pending"
            # Another token (another prefix) still registers.
            other = await create_node(api)
            peer = NodePeer(manager.ws_url)
            assert (await peer.auth_register(other["registration_token"]))["type"] == "register_ack"
            await peer.close()

    run(scenario())


# -- device type, expiry, protocol version ---------------------------------------------------------

def test_a_sidecar_claiming_another_device_type_is_refused(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            edge = await create_node(api, device_type="edge")
            sidecar = await NodePeer(manager.ws_url).connect()
            auth = example("appearx-auth-register")
            auth["payload"]["registration_token"] = edge["registration_token"]
            await sidecar.send_json(auth)
            reply = await expect_auth_error(sidecar)
            assert "appear_x" in reply["message"] and "edge" in reply["message"]
            # The token was not consumed: the right device still registers with it.
            peer = NodePeer(manager.ws_url)
            assert (await peer.auth_register(edge["registration_token"]))["type"] == "register_ack"
            await peer.close()

            # A registered appear_x record refuses credentials that claim another type.
            node, gateway = await new_registered(manager, api, "appear_x")
            await gateway.close()
            liar = await NodePeer(manager.ws_url).connect()
            auth = example("appearx-auth-reconnect")
            auth["payload"].update(node_id=node["id"], node_secret=gateway.node_secret, device_type="edge")
            await liar.send_json(auth)
            reply = await expect_auth_error(liar)
            assert "appear_x" in reply["message"] and "edge" in reply["message"]
            ok = await try_credentials(manager, node["id"], gateway.node_secret, device_type="appear_x",
                                       software_version="0.11.8", protocol_version=1)
            assert ok["type"] == "auth_ok"

    run(scenario())


def test_an_expired_node_is_refused_and_its_live_connection_closed(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            pending = await create_node(api)
            response = await api.put(f"/api/v1/nodes/{pending['id']}", json={"expires_at": past()})
            assert response.status_code == 200, response.text
            assert response.json()["expired"] is True
            peer = NodePeer(manager.ws_url)
            assert await peer.auth_register(pending["registration_token"]) == {"type": "auth_error",
                                                                               "message": "Node has expired"}
            await peer.wait_closed(5)

            node, live = await new_registered(manager, api)
            response = await api.put(f"/api/v1/nodes/{node['id']}", json={"expires_at": past()})
            assert response.status_code == 200, response.text
            await live.wait_closed(5)           # closed when the time passes, not at the next reconnect
            await wait_status(api, node["id"], "offline")
            assert await try_credentials(manager, node["id"], live.node_secret) == {"type": "auth_error",
                                                                                   "message": "Node has expired"}
            # Lifting the expiry lets it back in.
            response = await api.put(f"/api/v1/nodes/{node['id']}", json={"expires_at": None})
            assert response.status_code == 200 and response.json()["expired"] is False
            assert (await try_credentials(manager, node["id"], live.node_secret))["type"] == "auth_ok"

    run(scenario())


def test_an_unexpected_protocol_version_is_accepted_with_a_compatibility_warning(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api, protocol_version=5)
            assert await node_status(api, node["id"]) == "online"
            event = await wait_event(api, node["id"], lambda e: e["category"] == "compatibility")
            assert event["severity"] == "warning" and event["source"] == "manager"
            assert "(5)" in event["message"] and "(4)" in event["message"]
            body = (await api.get(f"/api/v1/nodes/{node['id']}")).json()
            assert body["protocol_version"] == 5
            # Still a working connection.
            await peer.send_stats()
            await eventually(lambda: _has_stats(api, node["id"]), what="stats applied")
            await peer.close()

    run(scenario())


async def _has_stats(api, node_id: str) -> bool:
    return (await api.get(f"/api/v1/nodes/{node_id}/stats")).json()["stats"] is not None


# -- token regeneration ----------------------------------------------------------------------------

def test_regenerating_the_token_closes_the_node_and_re_enrols_it(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            old_secret = peer.node_secret
            response = await api.post(f"/api/v1/nodes/{node['id']}/token")
            assert response.status_code == 200, response.text
            enrolment = response.json()
            assert enrolment["node_id"] == node["id"]
            new_token = enrolment["registration_token"]
            assert new_token and new_token != node["registration_token"]
            assert enrolment["manager_urls"] and enrolment["self_signed_cert"] is True
            await peer.wait_closed(3)
            assert await node_status(api, node["id"]) == "pending"
            # The credentials are gone; the old token stays consumed; the new one registers.
            assert await try_credentials(manager, node["id"], old_secret) == {"type": "auth_error",
                                                                              "message": "Invalid node secret"}
            stale = NodePeer(manager.ws_url)
            assert (await stale.auth_register(node["registration_token"]))["message"] == "Invalid registration token"
            fresh = NodePeer(manager.ws_url)
            reply = await fresh.auth_register(new_token)
            assert reply["type"] == "register_ack"
            assert reply["payload"]["node_id"] == node["id"] and reply["payload"]["node_secret"] != old_secret
            await wait_status(api, node["id"], "online")
            await fresh.close()

    run(scenario())


# -- secret rotation (node-protocol §2.7, api.md §5.2) ----------------------------------------------

async def _rotate(api, node_id: str):
    return await api.post(f"/api/v1/nodes/{node_id}/rotate-secret")


def test_rotation_keeps_the_old_secret_until_the_new_one_is_used(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            old = peer.node_secret
            call = asyncio.ensure_future(_rotate(api, node["id"]))
            command = await peer.command("rotate_secret", timeout=5)
            new = command["action"]["new_secret"]
            assert isinstance(new, str) and new and new != old
            assert set(command["action"]) == {"type", "new_secret"}
            await peer.ack_example("edge-ack-success", command["command_id"])
            response = await call
            assert response.status_code == 200, response.text
            assert response.json()["node_id"] == node["id"] and response.json()["rotated_at"]
            await peer.close()
            # The edge keeps sending the old secret on every reconnect until it restarts.
            for _ in range(2):
                assert (await try_credentials(manager, node["id"], old))["type"] == "auth_ok"
            # After a restart it logs in with the new one; from then on the old one is refused.
            assert (await try_credentials(manager, node["id"], new))["type"] == "auth_ok"
            assert await try_credentials(manager, node["id"], old) == {"type": "auth_error",
                                                                       "message": "Invalid node secret"}
            assert (await try_credentials(manager, node["id"], new))["type"] == "auth_ok"

    run(scenario())


def test_rotation_without_an_ack_keeps_both_secrets_valid(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            old = peer.node_secret
            call = asyncio.ensure_future(_rotate(api, node["id"]))
            command = await peer.command("rotate_secret", timeout=5)
            new = command["action"]["new_secret"]
            response = await call                         # never acked: 10 s budget
            assert response.status_code == 504, response.text
            assert response.json()["code"] == "node_timeout"
            await peer.close()
            for _ in range(2):                            # old use proves nothing: both stay valid
                assert (await try_credentials(manager, node["id"], old))["type"] == "auth_ok"
            assert (await try_credentials(manager, node["id"], new))["type"] == "auth_ok"
            assert (await try_credentials(manager, node["id"], new))["type"] == "auth_ok"

    run(scenario())


def test_rotation_interrupted_by_a_disconnect_keeps_both_and_a_refusal_keeps_the_old(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            node, peer = await new_registered(manager, api)
            old = peer.node_secret
            call = asyncio.ensure_future(_rotate(api, node["id"]))
            new = (await peer.command("rotate_secret"))["action"]["new_secret"]
            await peer.close()
            response = await call
            assert response.status_code == 502 and response.json()["code"] == "node_disconnected", response.text
            assert (await try_credentials(manager, node["id"], old))["type"] == "auth_ok"
            # The next rotation re-sends the secret the node may already have persisted rather
            # than a fresh one, so no secret the node might hold is ever dropped.
            back = await logged_in_peer(manager.ws_url, node["id"], old)
            call = asyncio.ensure_future(_rotate(api, node["id"]))
            command = await back.command("rotate_secret")
            assert command["action"]["new_secret"] == new
            await back.ack(command["command_id"])
            assert (await call).status_code == 200
            await back.close()
            assert (await try_credentials(manager, node["id"], old))["type"] == "auth_ok"

            # A node that refuses the rotation keeps its old secret; the proposed one never works.
            second, peer2 = await new_registered(manager, api)
            call = asyncio.ensure_future(_rotate(api, second["id"]))
            command = await peer2.command("rotate_secret")
            await peer2.ack(command["command_id"], success=False, error="Failed to persist secret")
            response = await call
            assert response.status_code == 422 and response.json()["code"] == "node_rejected", response.text
            await peer2.close()
            assert await try_credentials(manager, second["id"], command["action"]["new_secret"]) == {
                "type": "auth_error", "message": "Invalid node secret"}
            assert (await try_credentials(manager, second["id"], peer2.node_secret))["type"] == "auth_ok"
            # And the node that lost the connection can still come back with the new one.
            assert (await try_credentials(manager, node["id"], new))["type"] == "auth_ok"

    run(scenario())


def test_rotation_refusals(manager, token):
    async def scenario():
        async with api_client(manager, token) as api:
            pending = await create_node(api)
            response = await _rotate(api, pending["id"])
            assert response.status_code == 409 and response.json()["code"] == "node_not_registered"
            node, peer = await new_registered(manager, api)
            await peer.close()
            await wait_status(api, node["id"], "offline")
            response = await _rotate(api, node["id"])
            assert response.status_code == 502 and response.json()["code"] == "node_not_connected", response.text
            gateway, sidecar = await new_registered(manager, api, "appear_x")
            response = await _rotate(api, gateway["id"])
            assert response.status_code == 422 and response.json()["code"] == "not_supported", response.text
            assert sidecar.commands_seen("rotate_secret") == 0   # never sent to a sidecar (§13.3)
            await sidecar.close()
            # rotate_secret is reserved: not callable through /command.
            node2, peer2 = await new_registered(manager, api)
            response = await api.post(f"/api/v1/nodes/{node2['id']}/command",
                                      json={"action": {"type": "rotate_secret", "new_secret": "x" * 40}})
            assert response.status_code == 422 and response.json()["code"] == "action_not_allowed", response.text
            assert peer2.commands_seen("rotate_secret") == 0
            await peer2.close()

    run(scenario())
