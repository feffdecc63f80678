"""Wire-level tests of the node simulator against a scripted MANAGER peer.

``FakeManager`` is a small tornado WebSocket server written here, in the test, that plays the
manager's side of node-protocol.md from the spec's example frames (register_ack, commands,
ping).  It is an outside peer: the simulator is tested as a node, independently of the real
hub.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import ssl
import stat
from pathlib import Path

import pytest
import tornado.web
import tornado.websocket
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from bilbycast.simulator import cli
from bilbycast.simulator.fleet import Fleet
from bilbycast.simulator.node import NodeOptions, SimulatedNode
from bilbycast.simulator.state import StateStore, load_entries

EXAMPLES = Path(os.environ.get("BILBYCAST_SPEC_DIR",
                               Path(__file__).resolve().parents[2] / "shared" / "spec")) / "examples"
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="spec examples not found")


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


# ----------------------------------------------------------------------------- fake manager
class _NodeSocket(tornado.websocket.WebSocketHandler):
    def initialize(self, manager: "FakeManager") -> None:
        self.manager = manager
        self.inbox: asyncio.Queue = asyncio.Queue()

    def check_origin(self, origin: str) -> bool:
        return True

    def open(self) -> None:
        self.manager.headers.append(dict(self.request.headers))
        self.manager.accepted.put_nowait(self)

    def on_message(self, message) -> None:
        self.inbox.put_nowait(message)

    def on_close(self) -> None:
        self.inbox.put_nowait(None)

    def on_pong(self, data: bytes) -> None:
        self.inbox.put_nowait(json.dumps({"type": "_ws_pong", "data": data.decode()}))

    # test API
    async def recv(self, timeout: float = 5.0):
        msg = await asyncio.wait_for(self.inbox.get(), timeout)
        return json.loads(msg) if isinstance(msg, str) else msg

    async def recv_type(self, kind: str, timeout: float = 5.0, skip=("stats", "health",
                                                                      "thumbnail", "event")):
        """Next frame of ``kind``, skipping periodic telemetry."""
        while True:
            frame = await self.recv(timeout)
            if frame is None:
                raise AssertionError(f"connection closed while waiting for {kind}")
            if frame.get("type") == kind:
                return frame
            if frame.get("type") not in skip:
                raise AssertionError(f"unexpected frame while waiting for {kind}: {frame}")

    def send(self, frame) -> None:
        self.write_message(frame if isinstance(frame, (str, bytes)) else json.dumps(frame),
                           binary=isinstance(frame, bytes))


class _Nodes(tornado.web.RequestHandler):
    """POST /api/v1/nodes (api.md §5.2) for the provisioning test."""

    def initialize(self, manager: "FakeManager") -> None:
        self.manager = manager

    def post(self) -> None:
        if self.request.headers.get("Authorization") != "Bearer api-secret":
            self.set_status(401)
            self.finish({"error": "no", "code": "unauthenticated"})
            return
        body = json.loads(self.request.body)
        token = f"tok-{body['name']}"
        self.manager.created.append((body["name"], body.get("device_type"), token))
        self.set_status(201)
        self.finish({"id": f"id-{body['name']}", "name": body["name"],
                     "device_type": body.get("device_type", "edge"),
                     "registration_token": token})


class FakeManager:
    def __init__(self, ssl_options=None):
        self.accepted: asyncio.Queue = asyncio.Queue()
        self.headers: list[dict] = []
        self.created: list = []
        app = tornado.web.Application([(r"/ws/node", _NodeSocket, {"manager": self}),
                                       (r"/api/v1/nodes", _Nodes, {"manager": self})])
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = HTTPServer(app, ssl_options=ssl_options)
        self.server.add_sockets(sockets)
        scheme = "wss" if ssl_options else "ws"
        self.url = f"{scheme}://127.0.0.1:{self.port}/ws/node"
        self.base = f"{'https' if ssl_options else 'http'}://127.0.0.1:{self.port}"

    async def accept(self, timeout: float = 5.0) -> _NodeSocket:
        return await asyncio.wait_for(self.accepted.get(), timeout)

    def close(self) -> None:
        self.server.stop()


def fast_options(urls, **kw) -> NodeOptions:
    base = dict(allow_plaintext=True, reconnect_delay=0.05, stats_interval=0.05,
                health_interval=0.4, bind_watch_secs=0.3, upgrade_download_secs=0.05,
                upgrade_exit_secs=0.2, restart_secs=0.05, sidecar_backoff=(0.05,),
                sidecar_poll_interval=0.1, sidecar_stats_interval=0.1, discovery_secs=0.15,
                sidecar_command_secs=(0.0, 0.01), jitter=False, timer_stats_probability=0.0)
    base.update(kw)
    return NodeOptions(urls=list(urls), **base)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 15))


def make_node(tmp_path, mgr_urls, entry, **kw) -> tuple[SimulatedNode, StateStore]:
    store = StateStore(str(tmp_path / "state.json"), [entry])
    node = SimulatedNode(entry, fast_options(mgr_urls, **kw), store=store)
    return node, store


def keyset(frame: dict) -> set:
    return set(frame)


# ----------------------------------------------------------------------------- edge
def test_edge_register_then_commands_and_ping(tmp_path):
    async def main():
        mgr = FakeManager()
        entry = {"name": "sim-edge-01", "device_type": "edge",
                 "registration_token": "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b", "flows": 0}
        node, store = make_node(tmp_path, [mgr.url], entry)
        node.start()
        ws = await mgr.accept()
        auth = await ws.recv()
        assert auth == example("edge-auth-register")          # exact frame, no timestamp
        hdrs = {k.lower() for k in mgr.headers[0]}
        assert not hdrs & {"origin", "sec-websocket-protocol", "authorization", "cookie",
                           "sec-websocket-extensions"}
        ws.send(example("manager-register-ack"))
        first = await ws.recv()
        # credentials are on disk (0600) before anything else is sent
        saved = load_entries(store.path)[0]
        assert saved["node_id"] == "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21"
        assert saved["node_secret"] == "d2c1b0a9-8f7e-4d6c-b5a4-3f2e1d0c9b8a"
        assert "registration_token" not in saved
        assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
        assert first["type"] == "event"
        assert first["payload"] == example("edge-event-connected")["payload"]
        h1, h2, s1 = await ws.recv(), await ws.recv(), await ws.recv()
        assert (h1["type"], h2["type"], s1["type"]) == ("health", "health", "stats")
        assert s1["payload"]["flows"] == []                    # quirk 2: timer path first
        assert h1["timestamp"].endswith("+00:00")
        datetime.datetime.fromisoformat(h1["timestamp"][:26] + "+00:00")
        # commands, correlated by command_id
        for name in ("edge-command-create-input", "edge-command-create-output"):
            cmd = example(name)
            ws.send(cmd)
            ack = await ws.recv_type("command_ack")
            assert ack["payload"] == {"command_id": cmd["payload"]["command_id"],
                                      "success": True}
        ws.send(example("manager-ping"))
        pong = await ws.recv_type("pong")
        assert pong["payload"] is None and set(pong) == {"type", "timestamp", "payload"}
        ws.send(example("edge-command-unknown"))
        ack = await ws.recv_type("command_ack")
        assert ack["payload"] == example("edge-ack-unknown-action")["payload"]
        # concurrency: create_flow holds its ack ≥ bind watch, reset_counters overtakes it
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        ws.send(example("edge-command-create-flow"))
        ws.send(example("edge-command-reset-counters"))
        a1 = await ws.recv_type("command_ack")
        a2 = await ws.recv_type("command_ack")
        assert a1["payload"] == example("edge-ack-success-data")["payload"]
        assert a2["payload"] == example("edge-ack-success")["payload"]
        assert loop.time() - t0 >= 0.3
        ws.send(example("edge-command-get-config"))
        resp = await ws.recv_type("config_response")
        assert "command_id" not in resp["payload"]
        assert resp["payload"]["manager"]["node_id"] == "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21"
        assert resp["payload"]["setup_enabled"] is False
        # flow-path stats now list the running flow (PascalCase state)
        while True:
            stats = await ws.recv_type("stats")
            if stats["payload"]["flows"]:
                break
        assert stats["payload"]["flows"][0]["state"] == "Running"
        await node.stop()
        mgr.close()

    run(main())


def test_edge_reconnect_auth_error_and_rotation(tmp_path):
    async def main():
        mgr_a, mgr_b = FakeManager(), FakeManager()
        entry = {"name": "sim-edge-02", "device_type": "edge",
                 "node_id": "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21",
                 "node_secret": "d2c1b0a9-8f7e-4d6c-b5a4-3f2e1d0c9b8a", "flows": 1}
        node, store = make_node(tmp_path, [mgr_a.url, mgr_b.url], entry)
        node.start()
        ws = await mgr_a.accept()
        auth = await ws.recv()
        assert auth == example("edge-auth-reconnect")
        ws.send(example("manager-auth-error"))
        ws.close()
        # rotates to the next URL, same credentials, then gets in
        ws = await mgr_b.accept()
        assert (await ws.recv()) == example("edge-auth-reconnect")
        ws.send(example("manager-auth-ok"))
        frames = [await ws.recv() for _ in range(4)]
        events = []
        while True:
            f = await ws.recv()
            if f["type"] != "event":
                break
            events.append(f["payload"])
        assert frames[0]["payload"]["message"] == "Connected to manager"
        assert example("edge-event-auth-failed")["payload"] in events
        assert example("edge-event-link-lost")["payload"] in events
        # rotate_secret: ack + event, persisted, old secret still used on reconnect
        ws.send(example("edge-command-rotate-secret"))
        rotated = await ws.recv_type("event", skip=("stats", "health", "thumbnail"))
        assert rotated["payload"] == example("edge-event-secret-rotated")["payload"]
        ack = await ws.recv_type("command_ack", skip=("stats", "health", "thumbnail"))
        assert ack["payload"] == {"command_id": "c0a8012e-0000-4000-8000-000000000013",
                                  "success": True}
        assert load_entries(store.path)[0]["node_secret"] == \
            "3f9a6c1e-5b2d-4e8f-a7c0-b1d2e3f4a5b6"
        ws.close()
        ws = await mgr_a.accept()
        assert (await ws.recv()) == example("edge-auth-reconnect")
        ws.send(example("manager-auth-ok"))
        await ws.recv_type("stats")
        # upgrade_binary: staged ack, the process exits and comes back with the new
        # software_version and (after the restart) the rotated secret
        ws.send(example("edge-command-upgrade-binary"))
        ack = await ws.recv_type("command_ack")
        expect = example("edge-ack-upgrade-staged")["payload"]
        assert ack["payload"] == expect
        ws2 = await mgr_a.accept()        # a restarted process starts at URL 1
        auth = await ws2.recv()
        assert auth["payload"]["software_version"] == "0.107.0"
        assert auth["payload"]["node_secret"] == "3f9a6c1e-5b2d-4e8f-a7c0-b1d2e3f4a5b6"
        await node.stop()
        mgr_a.close()
        mgr_b.close()

    run(main())


def test_edge_binary_upload_frames(tmp_path):
    import struct

    def frame(header, chunk):
        h = json.dumps(header, separators=(",", ":")).encode()
        return bytes([0xBC, 0x01]) + struct.pack(">I", len(h)) + h + chunk

    async def main():
        mgr = FakeManager()
        entry = {"name": "e3", "device_type": "edge", "node_id": "n", "node_secret": "s",
                 "flows": 0}
        node, _ = make_node(tmp_path, [mgr.url], entry)
        node.start()
        ws = await mgr.accept()
        await ws.recv()
        ws.send(example("manager-auth-ok"))
        await ws.recv_type("stats")
        header = example("edge-binary-upload-header")
        ws.send(frame(header, b"\0" * 1048576))
        ack = await ws.recv_type("command_ack")
        assert ack["payload"] == example("edge-ack-upload-in-progress")["payload"]
        ws.send(frame(dict(header, chunk_index=2, command_id="x"), b"\0" * 10))
        ack = await ws.recv_type("command_ack")
        assert ack["payload"]["success"] is False and "error_code" not in ack["payload"]
        assert ack["payload"]["error"].startswith("binary upload failed:")
        ws.send(b"\xbc\x02junk")                           # malformed: event, no ack
        ev = await ws.recv_type("event", skip=("stats", "health", "thumbnail"))
        assert ev["payload"]["severity"] == "warning" and ev["payload"]["category"] == "manager"
        ws.send(example("edge-command-upload-media-chunk"))
        ack = await ws.recv_type("command_ack")
        assert ack["payload"] == example("edge-ack-upload-media-chunk")["payload"]
        await node.stop()
        mgr.close()

    run(main())


# ----------------------------------------------------------------------------- relay
def test_relay_sequential_commands_and_config(tmp_path):
    async def main():
        mgr = FakeManager()
        entry = {"name": "sim-relay-01", "device_type": "relay",
                 "node_id": "4a3b2c1d-0e9f-4a8b-b7c6-d5e4f3a2b1c0",
                 "node_secret": "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9"}
        node, store = make_node(tmp_path, [mgr.url], entry)
        node.start()
        ws = await mgr.accept()
        assert (await ws.recv()) == example("relay-auth-reconnect")
        ws.send(example("manager-auth-ok"))
        kinds = [(await ws.recv())["type"] for _ in range(4)]
        assert kinds == ["event", "health", "health", "stats"]
        ws.send(example("relay-command-authorize-tunnel"))
        ws.send(example("relay-command-list-tunnels"))
        ws.send({"type": "command", "timestamp": "2026-05-01T10:14:30+00:00",
                 "payload": {"command_id": "c0a8012e-0000-4000-8000-000000000042",
                             "action": {"type": "frobnicate"}}})
        ws.send(example("relay-command-rotate-secret"))
        a1 = await ws.recv_type("command_ack")
        a2 = await ws.recv_type("command_ack")
        a3 = await ws.recv_type("command_ack")
        a4 = await ws.recv_type("command_ack")
        assert a1["payload"] == example("relay-ack-success")["payload"]
        assert a2["payload"]["command_id"].endswith("0040")
        assert a2["payload"]["data"][0]["tunnel_id"] == "550e8400-e29b-41d4-a716-446655440000"
        assert a2["payload"]["data"][0]["status"] == "empty"
        assert a3["payload"] == example("relay-ack-failure")["payload"]
        assert a4["payload"] == example("relay-ack-rotate-secret")["payload"]
        ws.send(example("edge-command-get-config"))
        resp = await ws.recv_type("config_response")
        assert set(resp["payload"]) >= set(example("relay-config-response")["payload"])
        assert resp["payload"]["manager"]["node_secret"] == "***REDACTED***"
        assert resp["payload"]["api_token"] == "***REDACTED***"
        await node.stop()
        mgr.close()

    run(main())


def test_relay_registered_in_process_loses_node_id_on_rotation(tmp_path):
    async def main():
        mgr = FakeManager()
        entry = {"name": "sim-relay-02", "device_type": "relay",
                 "registration_token": "relay-token"}
        node, store = make_node(tmp_path, [mgr.url], entry)
        node.start()
        ws = await mgr.accept()
        assert (await ws.recv())["payload"]["registration_token"] == "relay-token"
        ws.send(example("manager-register-ack"))
        await ws.recv_type("stats")
        ws.send(example("edge-command-get-config"))
        resp = await ws.recv_type("config_response")
        assert resp["payload"]["manager"]["registration_token"] == "relay-token"   # quirk 23
        assert "node_id" not in resp["payload"]["manager"]
        ws.send(example("relay-command-rotate-secret"))
        await ws.recv_type("command_ack")
        saved = load_entries(store.path)[0]                                         # quirk 11
        assert "node_id" not in saved and saved["registration_token"] == "relay-token"
        await node.stop()
        mgr.close()

    run(main())


# ----------------------------------------------------------------------------- appear_x
def test_appearx_sidecar_handshake_and_commands(tmp_path):
    async def main():
        mgr = FakeManager()
        entry = {"name": "sim-appear_x-01", "device_type": "appear_x",
                 "registration_token": "8e4f2b6a-1c3d-4e5f-9a7b-6c5d4e3f2a1b"}
        node, store = make_node(tmp_path, [mgr.url], entry)
        node.start()
        ws = await mgr.accept()
        auth = await ws.recv()
        ref = example("appearx-auth-register")
        assert set(auth) == set(ref) and auth["payload"] == ref["payload"]
        ws.send({"type": "register_ack", "timestamp": "2026-08-21T04:39:08+00:00",
                 "payload": {"node_id": "5b0e7d21-8c4f-4a6b-9e3d-2f1a0c9b8e7d"}})
        # a register_ack missing a field is a failure for sidecars: it reconnects
        ws = await mgr.accept()
        auth = await ws.recv()
        assert "registration_token" in auth["payload"]
        ws.send(example("manager-register-ack"))
        first = await ws.recv()                 # the stale-frame flush: first-health quirk
        assert first["type"] == "health"
        target = first["payload"]["gateway_target"]
        assert (target["reachable"], target["consecutive_failures"],
                target["last_error_code"]) == (False, 0, "tcp_refused")
        ws.send(example("appearx-command-get-config"))
        ack = await ws.recv_type("command_ack")
        assert ack["payload"] == example("appearx-ack-get-config")["payload"]
        await ws.recv_type("config_response")
        ws.send({"type": "command", "timestamp": "2026-08-21T04:46:00+00:00",
                 "payload": {"command_id": "r1", "action": {"type": "rotate_secret",
                                                           "new_secret": "x"}}})
        ack = await ws.recv_type("command_ack")
        assert ack["payload"]["error_code"] in ("unknown_action", "discovery_in_progress")
        # after discovery: 56-key stats and the example's unsupported_on_card shape
        stats = await ws.recv_type("stats")
        assert set(stats["payload"]) == set(example("appearx-stats")["payload"])
        ws.send({"type": "command", "timestamp": "2026-08-21T04:46:00+00:00",
                 "payload": {"command_id": "r2", "action": {"type": "rotate_secret"}}})
        ack = await ws.recv_type("command_ack")
        assert ack["payload"] == {"command_id": "r2", "success": False,
                                  "error": "Unknown action: rotate_secret",
                                  "error_code": "unknown_action"}
        ws.send(example("manager-ping"))
        await ws.recv_type("pong")
        await node.stop()
        mgr.close()

    run(main())


# ----------------------------------------------------------------------------- TLS
def _self_signed(tmp_path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_wss_self_signed_needs_insecure_mode(tmp_path):
    cert, key = _self_signed(tmp_path)

    async def main():
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        mgr = FakeManager(ssl_options=ctx)
        entry = {"name": "tls-edge", "device_type": "edge", "node_id": "n", "node_secret": "s",
                 "flows": 0}
        # mode 1 (public roots) rejects the self-signed certificate
        strict, _ = make_node(tmp_path, [mgr.url], dict(entry), allow_plaintext=False)
        strict.start()
        await asyncio.sleep(0.3)
        assert strict.connects >= 1 and strict.auth_successes == 0
        await strict.stop()
        # mode 3 without the env guard never even dials
        guarded, _ = make_node(tmp_path, [mgr.url], dict(entry), accept_self_signed_cert=True,
                               allow_insecure_env=False)
        guarded.start()
        await asyncio.sleep(0.2)
        assert guarded.connects == 0
        await guarded.stop()
        # mode 3 with the guard connects
        node, _ = make_node(tmp_path, [mgr.url], dict(entry), accept_self_signed_cert=True,
                            allow_insecure_env=True)
        node.start()
        ws = await mgr.accept()
        assert (await ws.recv())["type"] == "auth"
        ws.send(example("manager-auth-ok"))
        await ws.recv_type("stats")
        await node.stop()
        mgr.close()

    run(main())


# ----------------------------------------------------------------------------- fleet / CLI
def test_fleet_provisions_through_api_and_registers(tmp_path):
    async def main():
        mgr = FakeManager()
        state = tmp_path / "fleet.json"
        parser = __import__("argparse").ArgumentParser()
        cli.add_arguments(parser)
        args = parser.parse_args(["--url", mgr.url, "--allow-ws", "--count", "2", "--relays",
                                  "1", "--appear-x", "1", "--api-token", "api-secret",
                                  "--state-file", str(state), "--duration", "1.5",
                                  "--name-prefix", "demo-", "--ramp", "0"])
        task = asyncio.ensure_future(cli.run_async(args))
        seen = {}
        for _ in range(4):
            ws = await mgr.accept()
            auth = await ws.recv()
            token = auth["payload"]["registration_token"]
            seen[token] = ws
            ws.send({"type": "register_ack", "timestamp": "2026-05-01T10:00:00+00:00",
                     "payload": {"node_id": f"id-{token}", "node_secret": f"secret-{token}"}})
        assert sorted(seen) == sorted(f"tok-{n}" for n, _, _ in mgr.created)
        assert sorted(n for n, _, _ in mgr.created) == [
            "demo-appear_x-01", "demo-edge-01", "demo-edge-02", "demo-relay-01"]
        assert ("demo-relay-01", "relay", "tok-demo-relay-01") in mgr.created
        assert await task == 0
        entries = {e["name"]: e for e in load_entries(str(state))}
        assert all(e["node_id"].startswith("id-tok-") and "registration_token" not in e
                   for e in entries.values())
        assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
        mgr.close()

    run(main())


def test_cli_usage_errors(tmp_path):
    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    state = str(tmp_path / "none.json")
    assert cli.run(parser.parse_args(["--state-file", state, "--duration", "0.1"])) == 2
    assert cli.run(parser.parse_args(["--url", "ws://127.0.0.1:1/ws/node", "--token", "t",
                                      "--state-file", state])) == 2


def test_token_mode_single_node(tmp_path):
    async def main():
        mgr = FakeManager()
        fleet = Fleet(fast_options([mgr.url]), StateStore(str(tmp_path / "t.json")))
        fleet.plan_token("my-token", "edge", "sim-")
        fleet.start(ramp=0)
        ws = await mgr.accept()
        auth = await ws.recv()
        assert auth["payload"]["registration_token"] == "my-token"
        ws.send(example("manager-register-ack"))
        assert await fleet.wait_connected()
        await fleet.stop()
        # the next run with the same token reconnects with the stored credentials
        fleet2 = Fleet(fast_options([mgr.url]), StateStore(str(tmp_path / "t.json")))
        fleet2.plan_token("my-token", "edge", "sim-")
        fleet2.start(ramp=0)
        ws = await mgr.accept()
        assert (await ws.recv())["payload"]["node_id"] == "0b7e4a52-1f3c-4d2e-9a8b-7c6d5e4f3a21"
        await fleet2.stop()
        mgr.close()

    run(main())


def test_cli_subprocess_sigint_closes_sockets_cleanly(tmp_path):
    import signal
    import sys

    repo = Path(__file__).resolve().parents[1]

    async def main():
        mgr = FakeManager()
        state = tmp_path / "s.json"
        state.write_text(json.dumps({"version": 1, "nodes": [
            {"name": "sim-edge-01", "device_type": "edge", "node_id": "n", "node_secret": "s",
             "flows": 1}]}))
        env = dict(os.environ, PYTHONPATH=str(repo))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bilbycast.simulator", "--url", mgr.url, "--allow-ws",
            "--state-file", str(state), "--log-level", "WARNING", env=env, cwd=str(repo))
        ws = await mgr.accept(timeout=10)
        assert (await ws.recv())["payload"]["node_id"] == "n"
        ws.send(example("manager-auth-ok"))
        await ws.recv_type("stats")
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        while await ws.recv() is not None:
            pass
        assert ws.close_code == 1000                   # a Close frame, not a dropped socket
        mgr.close()

    run(main())


def test_websocket_ping_before_auth_reply_fails_after_auth_is_answered(tmp_path):
    async def main():
        mgr = FakeManager()
        entry = {"name": "e", "device_type": "edge", "node_id": "n", "node_secret": "s",
                 "flows": 0}
        node, _ = make_node(tmp_path, [mgr.url], entry)
        node.start()
        ws = await mgr.accept()
        await ws.recv()
        ws.ping(b"too-early")                          # §2.3: nothing before the auth reply
        await asyncio.sleep(0.05)
        ws.send(example("manager-auth-ok"))
        ws = await mgr.accept()                        # the node gave up and reconnected
        await ws.recv()
        ws.send(example("manager-auth-ok"))
        await ws.recv_type("stats")
        ws.ping(b"keepalive")                          # after auth: answered with a Pong
        pong = await ws.recv_type("_ws_pong")
        assert pong["data"] == "keepalive"
        await node.stop()
        mgr.close()

    run(main())
