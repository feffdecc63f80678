"""/ws/node: the socket real nodes dial. It moves frames; the hub decides everything.

No HTTP-level authentication, no Origin requirement, no subprotocol, no compression
(node-protocol §1.1). The first frame must be `auth` within 10 s; exactly one reply is sent
before anything else.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import tornado.ioloop
import tornado.websocket

from ..hub.session import NodeSession

if TYPE_CHECKING:
    from ..app import ManagerApp
    from ..routes import Route

log = logging.getLogger("bilbycast.ws.node")

AUTH_DEADLINE_SECS = 10.0
LIBRARY_MAX_MESSAGE = 8 * 1024 * 1024  # above the 5 MiB application limit, so oversize is dropped, not fatal


class NodeSocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, route: "Route") -> None:
        self.route = route
        self.session: NodeSession | None = None
        self._authenticating = False
        self._deadline = None

    @property
    def app(self) -> "ManagerApp":
        return self.application  # type: ignore[return-value]

    @property
    def max_message_size(self) -> int:
        return LIBRARY_MAX_MESSAGE

    def check_origin(self, origin: str) -> bool:
        return True  # nodes send no Origin; authentication is the first frame, not the browser's origin

    def get_compression_options(self) -> Any:
        return None

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return None

    def _client_ip(self) -> str:
        peer = self.request.remote_ip or ""
        if self.app.config.behind_proxy:
            return self.app.forwarded_client_ip(peer, self.request.headers.get("X-Forwarded-For"))
        return peer

    def _remote_addr(self) -> str:
        ip = self._client_ip()
        # The HTTP connection's stream is detached once the upgrade completes; the request
        # context keeps the peer address tuple (ip, port) for the connection's lifetime.
        address = getattr(getattr(self.request.connection, "context", None), "address", None)
        try:
            port = address[1] if isinstance(address, tuple) else self.ws_connection.stream.socket.getpeername()[1]
        except (AttributeError, OSError, IndexError, TypeError):
            return ip
        if ip != self.request.remote_ip:
            return ip
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

    def open(self) -> None:
        if self.app.shutting_down:
            self.close(1001, "manager shutting down")
            return
        self._deadline = tornado.ioloop.IOLoop.current().call_later(AUTH_DEADLINE_SECS, self._auth_timeout)

    def _auth_timeout(self) -> None:
        if self.session is None and not self._authenticating:
            self._reply({"type": "auth_error", "message": "Auth timeout (10s)"})
            self.close(1008, "auth timeout")

    def _reply(self, message: dict[str, Any]) -> None:
        try:
            self.write_message(json.dumps(message, separators=(",", ":")))
        except tornado.websocket.WebSocketClosedError:
            pass

    def on_message(self, message: str | bytes):
        # Plain function on the hot path: returning a coroutine only for the handshake keeps
        # Tornado from wrapping every node frame in a coroutine.
        if self.session is not None:
            self.app.hub.on_frame(self.session, message)
            return None
        return self._handshake(message)

    async def _handshake(self, message: str | bytes) -> None:
        if self._authenticating:
            return  # nodes wait for the reply; anything sent meanwhile is not a valid handshake
        self._authenticating = True
        if self._deadline is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._deadline)
        outcome = await self.app.hub.authenticate(message, self._client_ip())
        if self.ws_connection is None or self.close_code is not None:
            return
        self._reply(outcome.reply)
        if not outcome.ok:
            self.close(1008, "authentication failed")
            return
        driver = self.app.drivers.get(outcome.node.device_type)
        self.session = NodeSession(
            outcome.node.id, outcome.node.device_type,
            sequential=bool(driver and driver.sequential_commands), remote_addr=self._remote_addr(),
            send=self.write_message, close=self.close, ping=self._ping)
        payload = json.loads(message).get("payload") if isinstance(message, str) else {}
        self.app.hub.attach(outcome, self.session, payload if isinstance(payload, dict) else {})

    def _ping(self) -> None:
        try:
            self.ping(b"")
        except tornado.websocket.WebSocketClosedError:
            pass

    def on_pong(self, data: bytes) -> None:
        if self.session is not None:
            live = self.app.hub.live.get(self.session.node_id)
            if live is not None:
                import time

                live.touch(time.monotonic())

    def on_close(self) -> None:
        if self._deadline is not None:
            tornado.ioloop.IOLoop.current().remove_timeout(self._deadline)
        if self.session is not None:
            self.app.hub.detach(self.session, "closed")
