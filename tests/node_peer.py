"""A test-only node: an outside protocol peer for /ws/node (node-protocol.md).

It is written from the protocol document and its example frames, not from the manager's code:
it dials the manager like an edge, relay or appear_x sidecar would (TLS with the self-signed
certificate accepted, no subprotocol, no Origin), sends the spec's example frames and answers
commands by `command_id`, in any order the test wants.

Every frame the manager sends is recorded. Commands are kept aside so a test can answer them
later and out of order; everything else (the auth reply, anything unexpected) goes to an inbox
read with `recv_json`. A closed socket shows up as `closed` (and `None` in the inbox).

Use it inside a running asyncio loop (tests wrap their scenario in `asyncio.run`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import ssl
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import tornado.httpclient
import tornado.websocket

EXAMPLES = Path(os.environ.get("BILBYCAST_SPEC_EXAMPLES", "/work/shared/spec/examples"))

_CLOSED = object()


def example(name: str) -> dict[str, Any]:
    """A fresh copy of one of the spec's example frames (`edge-health`, `edge-stats.json`, ...)."""
    if not name.endswith(".json"):
        name += ".json"
    return json.loads((EXAMPLES / name).read_text())


def now_stamp() -> str:
    """Node-style timestamp: UTC with a +00:00 suffix and 9 fractional digits (§3.2)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}+00:00"


# Flow ids the tests address; the peer's default config holds them (besides the example's
# main-feed) so the manager's driver checks against the node's config let them through.
TEST_FLOW_IDS = ("flow-a", "flow-b", *(f"flow-{i}" for i in range(16)))


def default_config(kind: str) -> dict[str, Any]:
    """What this kind of node answers to get_config when the test does not say otherwise."""
    if kind == "relay":
        return example("relay-config-response")["payload"]
    if kind == "appear_x":
        return example("appearx-config-response-discovery")["payload"]
    config = example("edge-config-response")["payload"]
    for flow_id in TEST_FLOW_IDS:
        config["flows"].append({"id": flow_id, "name": flow_id, "enabled": True, "input_ids": ["srt-in"],
                                "output_ids": ["udp-out"]})
    return config


def frame(kind: str, payload: Any, *, timestamp: str | None = None) -> dict[str, Any]:
    return {"type": kind, "timestamp": timestamp or now_stamp(), "payload": payload}


class PeerClosed(AssertionError):
    """The manager closed the socket while the test waited for a frame."""


class NodePeer:
    """One node connection. `ws_url` is the manager's base (`wss://127.0.0.1:port`)."""

    def __init__(self, ws_url: str, *, path: str = "/ws/node", software_version: str = "0.106.0",
                 protocol_version: int | None = 4, device_type: str | None = None, kind: str | None = None,
                 answer_config: bool = True):
        """`kind` (edge, relay, appear_x) picks the node's behaviour; `device_type` is what a
        sidecar writes into its auth frame. With `answer_config` the peer answers every
        get_config at once like a real node (a test that wants to see or delay get_config
        passes False, or calls `manual_config()`)."""
        self.url = ws_url.rstrip("/") + path
        self.kind = kind or device_type or "edge"
        self.software_version = software_version
        self.protocol_version = protocol_version
        self.device_type = device_type          # sidecars put it into the auth payload
        self.ws: tornado.websocket.WebSocketClientConnection | None = None
        self.node_id: str | None = None
        self.node_secret: str | None = None
        self.received: list[Any] = []           # every frame, parsed when it was JSON, in order
        self.pings: list[tuple[float, bytes]] = []
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.commands: list[dict[str, Any]] = []  # unanswered command payloads, in arrival order
        self.answered: list[str] = []
        self.auto: dict[str, Callable[["NodePeer", dict[str, Any]], Any]] = {}
        self.closed = asyncio.Event()
        self.connected_at: float | None = None
        self._command_arrived = asyncio.Event()
        self._silent = False
        if answer_config:
            self.auto_answer_config(default_config(self.kind))

    # -- connection --------------------------------------------------------------------------
    async def connect(self) -> "NodePeer":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE            # the node's accept_self_signed_cert
        request = tornado.httpclient.HTTPRequest(self.url, ssl_options=ctx if self.url.startswith("wss") else None,
                                                 connect_timeout=10, request_timeout=10)
        self.ws = await tornado.websocket.websocket_connect(
            request, on_message_callback=self._on_message, max_message_size=16 * 1024 * 1024)
        self.ws.on_ping = self._on_ping  # type: ignore[method-assign]  # record manager pings
        self.connected_at = time.monotonic()
        return self

    def _on_ping(self, data: bytes) -> None:
        self.pings.append((time.monotonic(), data))

    def _on_message(self, message: str | bytes | None) -> None:
        if message is None:
            self.closed.set()
            self.inbox.put_nowait(_CLOSED)
            self._command_arrived.set()
            return
        parsed: Any = message
        if isinstance(message, str):
            try:
                parsed = json.loads(message)
            except ValueError:
                parsed = message
        self.received.append(parsed)
        if isinstance(parsed, dict) and parsed.get("type") == "command" and isinstance(parsed.get("payload"), dict):
            payload = parsed["payload"]
            action_type = (payload.get("action") or {}).get("type")
            handler = self.auto.get(action_type)
            if handler is not None:
                result = handler(self, payload)
                if asyncio.iscoroutine(result):
                    asyncio.ensure_future(result)
                return
            self.commands.append(payload)
            self._command_arrived.set()
            return
        self.inbox.put_nowait(parsed)

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code if self.ws is not None else None

    def go_silent(self) -> None:
        """Behave like a frozen node on a half-open TCP path: answer no WebSocket Ping."""
        self._silent = True
        protocol = self.ws.protocol  # type: ignore[union-attr]
        protocol._send_pong = lambda data: None  # test-only: drop the automatic Pong

    async def close(self, code: int = 1000) -> None:
        if self.ws is not None and not self.closed.is_set():
            self.ws.close(code)
            try:
                await asyncio.wait_for(self.closed.wait(), 5)
            except asyncio.TimeoutError:
                pass

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Wait until the manager closed the socket; returns the close code."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    # -- sending -------------------------------------------------------------------------------
    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None, "connect() first"
        await self.ws.write_message(data, binary=isinstance(data, bytes))

    async def send_json(self, message: dict[str, Any], *, sort_keys: bool = True) -> None:
        # Nodes emit keys sorted alphabetically (§3.4) and non-ASCII text as raw UTF-8.
        await self.send_raw(json.dumps(message, sort_keys=sort_keys, ensure_ascii=False))  # raw UTF-8, as serde_json

    async def send_example(self, name: str, **payload_changes: Any) -> dict[str, Any]:
        """Send a spec example frame, restamped now, with payload keys replaced."""
        message = example(name)
        if "timestamp" in message:
            message["timestamp"] = now_stamp()
        if payload_changes:
            message["payload"] = {**message["payload"], **payload_changes}
        await self.send_json(message)
        return message

    async def send_health(self, name: str = "edge-health", **changes: Any) -> dict[str, Any]:
        return await self.send_example(name, **changes)

    async def send_stats(self, payload: dict[str, Any] | None = None, name: str = "edge-stats") -> dict[str, Any]:
        if payload is None:
            return await self.send_example(name)
        message = frame("stats", payload)
        await self.send_json(message)
        return message

    async def send_event(self, **payload: Any) -> dict[str, Any]:
        message = frame("event", payload)
        await self.send_json(message)
        return message

    # -- receiving -----------------------------------------------------------------------------
    async def recv(self, timeout: float = 5.0) -> Any:
        """The next non-command frame (parsed JSON, raw str or bytes). Raises PeerClosed."""
        item = await asyncio.wait_for(self.inbox.get(), timeout)
        if item is _CLOSED:
            self.inbox.put_nowait(_CLOSED)  # stay closed for later readers
            raise PeerClosed(f"socket closed by the manager (code {self.close_code})")
        return item

    async def recv_json(self, timeout: float = 5.0) -> dict[str, Any]:
        item = await self.recv(timeout)
        assert isinstance(item, dict), f"expected a JSON object, got {item!r:.200}"
        return item

    async def nothing_within(self, seconds: float) -> list[Any]:
        """Frames (other than commands) that arrived within `seconds`; [] is the usual hope."""
        await asyncio.sleep(seconds)
        items = []
        while not self.inbox.empty():
            item = self.inbox.get_nowait()
            if item is _CLOSED:
                self.inbox.put_nowait(_CLOSED)
                break
            items.append(item)
        return items

    async def command(self, action_type: str | None = None, timeout: float = 5.0,
                      where: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """Take the oldest unanswered command (of that action type); its payload."""
        deadline = time.monotonic() + timeout
        while True:
            for payload in self.commands:
                action = payload.get("action") or {}
                if (action_type is None or action.get("type") == action_type) and (where is None or where(payload)):
                    self.commands.remove(payload)
                    return payload
            if self.closed.is_set():
                raise PeerClosed(f"socket closed while waiting for a {action_type or 'command'}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError(f"no {action_type or 'command'} within {timeout} s")
            self._command_arrived.clear()
            try:
                await asyncio.wait_for(self._command_arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def commands_seen(self, action_type: str) -> int:
        """How many commands of this type the manager has sent on this connection."""
        return sum(1 for m in self.received if isinstance(m, dict) and m.get("type") == "command"
                   and ((m.get("payload") or {}).get("action") or {}).get("type") == action_type)

    # -- answering -----------------------------------------------------------------------------
    async def ack(self, command_id: str, *, success: bool = True, data: Any = None, error: str | None = None,
                  error_code: str | None = None, omit_success: bool = False) -> None:
        payload: dict[str, Any] = {"command_id": command_id}
        if not omit_success:
            payload["success"] = success
        if data is not None:
            payload["data"] = data
        if error is not None:
            payload["error"] = error
        if error_code is not None:
            payload["error_code"] = error_code
        self.answered.append(command_id)
        await self.send_json(frame("command_ack", payload))

    async def ack_example(self, name: str, command_id: str) -> dict[str, Any]:
        """Answer with a spec example ack, its command_id replaced by the real one."""
        message = example(name)
        message["timestamp"] = now_stamp()
        message["payload"]["command_id"] = command_id
        self.answered.append(command_id)
        await self.send_json(message)
        return message

    async def config_response(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        """An id-less config_response (§4.7); default: the spec's edge example config."""
        message = example("edge-config-response")
        message["timestamp"] = now_stamp()
        if config is not None:
            message["payload"] = config
        await self.send_json(message)
        return message

    def auto_answer_config(self, config: dict[str, Any] | None = None) -> None:
        """Answer every get_config at once: edges and relays send only the id-less
        config_response; sidecars ack first, then send it (§5.3 rule 3)."""
        body = copy.deepcopy(config)

        async def answer(peer: "NodePeer", payload: dict[str, Any]) -> None:
            if peer.kind == "appear_x":
                await peer.ack(payload["command_id"])
            await peer.config_response(copy.deepcopy(body) if body is not None else None)

        self.auto["get_config"] = answer

    def manual_config(self) -> None:
        """Stop answering get_config automatically: the test answers (or ignores) it."""
        self.auto.pop("get_config", None)

    # -- handshake -----------------------------------------------------------------------------
    def _auth_payload(self, extra: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"software_version": self.software_version}
        if self.protocol_version is not None:
            payload["protocol_version"] = self.protocol_version
        if self.device_type is not None:
            payload["device_type"] = self.device_type
        payload.update(extra)
        return payload

    async def _auth(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.ws is None:
            await self.connect()
        message: dict[str, Any] = {"type": "auth", "payload": payload}
        if self.device_type is not None:        # sidecars stamp their auth frame; edge and relay do not
            message["timestamp"] = now_stamp()
        await self.send_json(message)
        reply = await self.recv_json(timeout)
        if reply.get("type") == "register_ack":
            self.node_id = reply["payload"]["node_id"]
            self.node_secret = reply["payload"]["node_secret"]
        return reply

    async def auth_register(self, token: str, timeout: float = 10.0, **extra: Any) -> dict[str, Any]:
        return await self._auth(self._auth_payload({"registration_token": token, **extra}), timeout)

    async def auth_credentials(self, node_id: str | None = None, secret: str | None = None,
                               timeout: float = 10.0, **extra: Any) -> dict[str, Any]:
        node_id = node_id if node_id is not None else self.node_id
        secret = secret if secret is not None else self.node_secret
        self.node_id, self.node_secret = node_id, secret
        return await self._auth(self._auth_payload({"node_id": node_id, "node_secret": secret, **extra}), timeout)


async def registered_peer(ws_url: str, token: str, **kwargs: Any) -> NodePeer:
    """Connect and register with a fresh token; asserts the register_ack."""
    peer = NodePeer(ws_url, **kwargs)
    reply = await peer.auth_register(token)
    assert reply["type"] == "register_ack", reply
    return peer


async def logged_in_peer(ws_url: str, node_id: str, secret: str, **kwargs: Any) -> NodePeer:
    peer = NodePeer(ws_url, **kwargs)
    reply = await peer.auth_credentials(node_id, secret)
    assert reply["type"] == "auth_ok", reply
    return peer


def new_command_id() -> str:
    return str(uuid.uuid4())
