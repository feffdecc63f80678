"""`serve`: bring the manager up, print where it is, and shut it down gracefully.

Order: secrets → lock → TLS → database → listeners → (demo fleet). On SIGTERM/SIGINT it stops
accepting, closes WebSockets with 1001, flushes queued writes and exits within 10 s.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import tornado.httpserver
import tornado.netutil

from .app import ManagerApp
from .config import Config
from .services import tls as tls_service
from .services.lockfile import DataDirLock
from .services.process_secrets import ProcessSecrets

log = logging.getLogger("bilbycast.serve")

MAX_BODY = 33 * 1024 * 1024  # the largest route limit (import, 32 MiB) plus headroom
SHUTDOWN_GRACE_SECS = 10


# Run as hook(app, config, port, cert) once the manager listens and its workers run. The
# no-command first run (firstrun.py) prints its banner from here.
LISTENING_HOOKS: list[Callable[..., None]] = []


@dataclass
class ServeOptions:
    demo: int = 0
    open_browser: bool = False


def tune_garbage_collector() -> None:
    """Thousands of nodes keep hundreds of thousands of small objects alive (parsed stats, rings);
    CPython's default thresholds then run full collections over all of them every few seconds,
    each a stall of the event loop long enough to show as lag. Start-up objects are frozen out of
    collection and collections run less often; nearly all our garbage is freed by reference
    counting anyway."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


def prepare_tls(config: Config) -> tuple[ssl.SSLContext | None, tls_service.CertInfo | None]:
    if config.tls_mode == "behind_proxy":
        return None, None
    if config.tls_mode == "direct":
        info = tls_service.load_cert_info(Path(config.tls_cert_path), Path(config.tls_key_path))
        return tls_service.make_server_ssl_context(Path(config.tls_cert_path), Path(config.tls_key_path)), info
    info, regenerated = tls_service.ensure_self_signed(config.tls_dir, config.tls_self_signed_names)
    if regenerated:
        log.warning("generated a new self-signed certificate (fingerprint %s)", info.fingerprint_sha256)
    return tls_service.make_server_ssl_context(info.cert_path, info.key_path), info


def bind_sockets(config: Config) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    for address in config.listen:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            sockets += tornado.netutil.bind_sockets(config.port, address=address, family=family, backlog=4096)
        except OSError as exc:
            if family == socket.AF_INET6 and len(config.listen) > 1:
                log.warning("cannot listen on [%s]:%d (%s); continuing without it", address, config.port, exc.strerror)
                continue
            raise
    return sockets


def base_urls(config: Config, port: int) -> list[str]:
    scheme = "http" if config.behind_proxy else "https"
    if config.public_url:
        return [config.public_url]
    hosts = []
    for address in config.listen:
        if address in ("0.0.0.0", "::"):
            hosts += ["localhost"] + tls_service.local_addresses()
        else:
            hosts.append(address)
    seen, urls = set(), []
    for host in hosts:
        shown = f"[{host}]" if ":" in host else host
        url = f"{scheme}://{shown}:{port}"
        if url not in seen:
            seen.add(url)
            urls.append(url)
    return urls


async def run(config: Config, secrets: ProcessSecrets, options: ServeOptions,
              started: asyncio.Future | None = None) -> int:
    lock = DataDirLock(config.lock_path).acquire()
    try:
        ssl_ctx, cert = prepare_tls(config)
        app = ManagerApp(config, jwt_secret=secrets.jwt_secret, master_key=secrets.master_key, cert_info=cert)
        await app.start()
        sockets = bind_sockets(config)
        port = sockets[0].getsockname()[1]
        app.public_base_urls = base_urls(config, port)
        server = tornado.httpserver.HTTPServer(app, ssl_options=ssl_ctx, max_body_size=MAX_BODY,
                                               idle_connection_timeout=120, xheaders=False)
        server.add_sockets(sockets)
        app.http_server = server
        _announce(app, config, port, cert)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signame in ("SIGTERM", "SIGINT"):
            if hasattr(signal, signame):
                try:
                    loop.add_signal_handler(getattr(signal, signame), stop.set)
                except (NotImplementedError, RuntimeError):
                    pass
        await app.after_listen(port, options)
        tune_garbage_collector()
        _listening(app, config, port, cert, options)
        if started is not None and not started.done():
            started.set_result(port)
        await stop.wait()
        log.info("shutting down")
        server.stop()
        try:
            await asyncio.wait_for(app.stop(), SHUTDOWN_GRACE_SECS)
        except asyncio.TimeoutError:
            log.error("shutdown took longer than %d s", SHUTDOWN_GRACE_SECS)
        await server.close_all_connections()
        log.info("stopped")
        return 0
    finally:
        lock.release()


def _listening(app: Any, config: Config, port: int, cert: tls_service.CertInfo | None, options: ServeOptions) -> None:
    for hook in list(LISTENING_HOOKS):
        try:
            hook(app, config, port, cert)
        except Exception:  # noqa: BLE001 - a banner must never stop the server
            log.exception("start-up hook failed")
    if options.open_browser:
        from .firstrun import open_dashboard_soon

        open_dashboard_soon(app.public_base_urls)


def _announce(app: Any, config: Config, port: int, cert: tls_service.CertInfo | None) -> None:
    urls = app.public_base_urls
    log.info("bilbycast-manager listening on port %d (%s)", port, config.tls_mode)
    for url in urls:
        log.info("  dashboard: %s/dashboard", url)
    if cert is not None and cert.is_self_signed:
        log.info("  self-signed certificate SHA-256 fingerprint: %s", cert.fingerprint_sha256)
        log.info("  nodes must accept this certificate (see README: node trust settings)")
