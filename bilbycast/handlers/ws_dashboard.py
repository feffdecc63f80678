"""/ws/dashboard: the browser's live feed (api.md §15). Cookie session only, Origin checked
before the upgrade; the state and the rules live in hub.fanout."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import tornado.ioloop
import tornado.websocket

from ..hub.fanout import DashboardClient
from ..services.auth import Principal

if TYPE_CHECKING:
    from ..app import ManagerApp
    from ..routes import Route

CLIENT_FRAME_LIMIT = 4 * 1024
PING_EVERY = 20.0


class DashboardSocketHandler(tornado.websocket.WebSocketHandler):
    def initialize(self, route: "Route") -> None:
        self.route = route
        self.principal: Principal | None = None
        self.client: DashboardClient | None = None
        self._pinger = None
        self._last_pong = time.monotonic()

    @property
    def app(self) -> "ManagerApp":
        return self.application  # type: ignore[return-value]

    @property
    def max_message_size(self) -> int:
        return CLIENT_FRAME_LIMIT  # bigger client frames close the socket with 1009

    def get_compression_options(self) -> Any:
        return None

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message, "code": code}))

    async def get(self, *args: Any, **kwargs: Any) -> None:
        cookie = self.get_cookie("session")
        principal = await self.app.auth.principal_for(cookie, "cookie") if cookie else None
        if principal is None:
            return self._refuse(401, "unauthenticated", "Sign in first")
        origin = self.request.headers.get("Origin")
        if not origin or not self._same_origin(origin):
            return self._refuse(403, "cross_site_request", "Cross-site WebSocket refused")
        self.principal = principal
        await super().get(*args, **kwargs)

    def _same_origin(self, origin: str) -> bool:
        from urllib.parse import urlsplit

        scheme = "http" if self.app.config.behind_proxy else "https"
        if self.app.config.behind_proxy and self.request.headers.get("X-Forwarded-Proto") == "https":
            scheme = "https"
        own, theirs = urlsplit(f"{scheme}://{self.request.host}"), urlsplit(origin)
        default = {"http": 80, "https": 443}
        return (theirs.scheme == own.scheme and (theirs.hostname or "").lower() == (own.hostname or "").lower()
                and (theirs.port or default.get(theirs.scheme)) == (own.port or default.get(own.scheme)))

    def check_origin(self, origin: str) -> bool:
        return True  # already checked in get(), with the exact rule of api.md §15.1

    def open(self) -> None:
        self.client = DashboardClient(self.app.fanout, self.principal, self.write_message, self.close)
        self.app.fanout.clients.add(self.client)
        self.client.send_snapshot()
        self._pinger = tornado.ioloop.PeriodicCallback(self._keepalive, PING_EVERY * 1000)
        self._pinger.start()

    def _keepalive(self) -> None:
        if time.monotonic() - self._last_pong > 2 * PING_EVERY:
            self.close(1001, "no pong")
            return
        try:
            self.ping(b"k")
        except tornado.websocket.WebSocketClosedError:
            pass

    def on_pong(self, data: bytes) -> None:
        self._last_pong = time.monotonic()

    def on_message(self, message: str | bytes) -> None:
        if self.client is not None and isinstance(message, str):
            self.client.on_client_frame(message)

    def on_close(self) -> None:
        if self._pinger is not None:
            self._pinger.stop()
        if self.client is not None:
            self.client.closed = True
            self.app.fanout.clients.discard(self.client)
