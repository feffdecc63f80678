"""ManagerApp: the Tornado Application that owns every long-lived object.

The database and its writer, settings, auth, vault, metrics, the driver registry and the node
hub hang off this object (never module globals), so each test gets a fresh, isolated manager.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import tornado.web

from .config import Config
from .db.database import Database
from .handlers.base import NotFoundHandler
from .handlers.static import SecureStaticFileHandler
from .openapi import build_document
from .routes import Route, build_routes
from .services.ai.service import AIService
from .services.auth import AuthService
from .services.crypto import Vault
from .services.metrics import LoopLagMonitor, Metrics, hub_lines
from .services.passwords import PasswordHasher
from .services.ratelimit import TokenBucket
from .services.settings import Settings
from .services.tls import CertInfo, tls_api_without_certificate
from .drivers.registry import DriverRegistry, default_registry
from .hub.commands import CommandService
from .hub.fanout import DashboardFanout
from .hub.history_recorder import HistoryRecorder
from .hub.hub import NodeHub

log = logging.getLogger(__name__)


def assets_dir() -> Path:
    """Built assets: inside the PyInstaller bundle when frozen, else beside the package."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root and (Path(frozen_root) / "assets").is_dir():
        return Path(frozen_root) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


class ManagerApp(tornado.web.Application):
    def __init__(self, config: Config, *, jwt_secret: bytes, master_key: bytes,
                 cert_info: CertInfo | None = None, extra_routes: list[Route] | None = None,
                 drivers: DriverRegistry | None = None):
        self.config = config
        self.started_monotonic = time.monotonic()
        self.shutting_down = False
        self.cert_info = cert_info
        self.db = Database(config.db_path)
        self.runtime_settings = Settings()
        self.vault = Vault(master_key)
        self.cpu_pool = ThreadPoolExecutor(2, thread_name_prefix="cpu")
        self.auth = AuthService(self.db, self.runtime_settings, jwt_secret, PasswordHasher(), self.cpu_pool)
        self.metrics = Metrics()
        self.loop_lag = LoopLagMonitor()
        self.metrics.extra_collectors += [self.loop_lag.lines, hub_lines]
        self.api_rate = TokenBucket(config.api_rps_per_user, config.api_rps_per_user * 10)
        self.user_change_listeners: list[Callable[[str], None]] = []
        self.events_ack_listeners: list[Callable[[], None]] = []
        self.drivers = drivers or default_registry()
        self.history = HistoryRecorder(self)
        self.hub = NodeHub(self)
        self.commands = CommandService(self)
        self.fanout = DashboardFanout(self)
        self.ai = AIService(self)
        self.routes = build_routes(extra_routes)
        self.assets = assets_dir()
        handlers = [tornado.web.URLSpec(r.pattern, r.handler, {"route": r, **r.handler_kwargs})
                    for r in self.routes]
        super().__init__(
            handlers,
            default_handler_class=NotFoundHandler,
            default_handler_args={"route": Route("(unknown)", NotFoundHandler, {}, kind="api")},
            static_path=str(self.assets),
            static_url_prefix="/static/",
            static_handler_class=SecureStaticFileHandler,
            template_path=str(self.assets / "html"),
            compress_response=True,
            xsrf_cookies=False,  # our own double-submit check in BaseHandler covers every write
            websocket_max_message_size=8 * 1024 * 1024,
        )

    # -- lifecycle -------------------------------------------------------------------------
    public_base_urls: list[str] = []
    listen_port: int | None = None

    async def start(self) -> None:
        self.db.open()
        self.history.open()
        await self.db.read(self.runtime_settings.load)
        await self.hub.load()

    async def after_listen(self, port: int, options: Any) -> None:
        """Called once the listeners are bound: background workers and the demo fleet start here."""
        self.listen_port = port
        self.hub.start()
        self.history.start()
        self._lag_task = asyncio.get_running_loop().create_task(self.loop_lag.run())
        await self.fanout.start()
        self.ai.start()
        self.demo_process = None
        if getattr(options, "demo", 0):
            from . import demo

            state_file = await demo.prepare_state_file(self, options.demo)
            self.demo_process = demo.start_fleet(self, state_file, port)
        self._maintenance = asyncio.get_running_loop().create_task(self._maintain_forever())

    async def _maintain_forever(self) -> None:
        from .services import maintenance

        while True:
            await asyncio.sleep(60)  # first run a minute after start, then hourly
            await maintenance.run_once(self)
            await asyncio.sleep(3600 - 60)

    async def stop(self) -> None:
        self.shutting_down = True
        for task in (getattr(self, "_maintenance", None), getattr(self, "_lag_task", None)):
            if task is not None:
                task.cancel()
        if getattr(self, "demo_process", None) is not None and self.demo_process.poll() is None:
            self.demo_process.terminate()
        await self.ai.stop()
        await self.fanout.stop()
        await self.hub.stop()
        await self.history.stop()
        self.db.close()
        self.cpu_pool.shutdown(wait=False)

    # -- facts handlers need ---------------------------------------------------------------
    @property
    def self_signed_cert(self) -> bool:
        return bool(self.cert_info and self.cert_info.is_self_signed)

    def tls_status(self) -> dict[str, Any]:
        if self.config.behind_proxy or self.cert_info is None:
            return tls_api_without_certificate(self.config.tls_mode)
        return self.cert_info.to_api(self.config.tls_mode)

    def content_security_policy(self, host: str) -> str:
        return _csp(host, "ws" if self.config.behind_proxy else "wss")

    def forwarded_client_ip(self, peer: str, forwarded_for: str | None) -> str:
        """Walk X-Forwarded-For right to left while the hop is a trusted proxy."""
        if not forwarded_for or not self._trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        client = peer
        for hop in reversed(hops):
            client = hop
            if not self._trusted(hop):
                break
        return client

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.config.trusted_proxies)

    def read_asset(self, relative: str) -> bytes:
        return _read_file(self.assets / relative)

    def openapi_document(self) -> dict[str, Any]:
        return build_document(self.routes)

    def on_user_changed(self, user_id: str) -> None:
        for listener in self.user_change_listeners:
            listener(user_id)

    def on_events_acknowledged(self) -> None:
        for listener in self.events_ack_listeners:
            listener()


@lru_cache(maxsize=64)
def _csp(host: str, ws_scheme: str) -> str:
    safe_host = "".join(c for c in host if c.isalnum() or c in ".-:[]")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"connect-src 'self' {ws_scheme}://{safe_host}; font-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@lru_cache(maxsize=32)
def _read_file(path: Path) -> bytes:
    return path.read_bytes()
