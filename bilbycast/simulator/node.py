"""`SimulatedNode`: one simulated edge, relay or appear_x sidecar on the node WebSocket.

The connection machinery is shared (node-protocol §1, §2, §6): dial each URL of the node's
``manager.urls`` in turn, send the ``auth`` frame, wait 10 s for exactly one text reply,
persist credentials from ``register_ack`` *before anything else*, then run the authenticated
session until the socket ends, and retry forever.  Everything that differs per device type —
auth frame details, retry delays, what is sent after auth, how commands run — lives in a
*personality* (:mod:`.edge_node`, :mod:`.relay_node`, :mod:`.appearx_node`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import ssl
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from .state import StateStore, has_credentials
from .wire import dumps, ws_text_frame

log = logging.getLogger("bilbycast.simulator")

MAX_MESSAGE_SIZE = 8 * 1024 * 1024


@dataclass
class Chaos:
    """``--chaos``: misbehave now and then (probabilities per node per minute)."""
    drop_per_min: float = 0.2          # abort the TCP connection without a Close
    malformed_per_min: float = 0.5     # send a text frame that is not valid JSON
    ack_delay_prob: float = 0.1        # delay a command's ack …
    ack_delay_secs: tuple[float, float] = (0.5, 4.0)   # … by this much


@dataclass
class NodeOptions:
    urls: list[str]
    accept_self_signed_cert: bool = False     # TLS mode 3 (needs the env guard too)
    allow_insecure_env: bool | None = None    # None → BILBYCAST_ALLOW_INSECURE=1 in env
    cert_fingerprint: str | None = None       # TLS mode 2 (after CA validation)
    ca_file: str | None = None                # extra trust for mode 1/2 (tests, private CA)
    allow_plaintext: bool = False             # test-only override: permit ws:// URLs
    ssl_context: ssl.SSLContext | None = None  # shared by a fleet; built lazily otherwise
    reconnect_delay: float = 5.0              # edge/relay: fixed, no jitter (§6.3)
    sidecar_backoff: tuple[float, ...] = (1, 2, 5, 10, 30)
    connect_timeout: float = 10.0
    auth_timeout: float = 10.0
    idle_timeout: float | None = None         # real nodes never time out a silent manager
    stats_interval: float = 1.0
    health_interval: float = 15.0
    timer_stats_probability: float = 0.05     # quirk 2: an extra timer-path stats now and then
    bind_watch_secs: float = 0.6              # create_flow / add_input ack delay
    upgrade_download_secs: float = 2.0
    upgrade_exit_secs: float = 5.0
    restart_secs: float = 1.0                 # service manager restart after an exit
    sidecar_poll_interval: float = 10.0
    sidecar_stats_interval: float = 5.0
    sidecar_heartbeat_interval: float = 300.0
    sidecar_alarm_refresh: float = 1800.0
    discovery_secs: float = 3.0
    sidecar_command_secs: tuple[float, float] = (0.05, 0.3)
    occupied_ports: set = field(default_factory=set)   # (proto, port) busy on the host
    jitter: bool = True
    chaos: Chaos | None = None
    max_message_size: int = MAX_MESSAGE_SIZE


def insecure_allowed(options: NodeOptions) -> bool:
    if options.allow_insecure_env is not None:
        return options.allow_insecure_env
    return os.environ.get("BILBYCAST_ALLOW_INSECURE") == "1"


def build_ssl_context(options: NodeOptions) -> ssl.SSLContext:
    """The client TLS context for the three modes of §1.3 (shared by a whole fleet)."""
    if options.accept_self_signed_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    cafile = options.ca_file
    if cafile is None:
        try:  # the node's compiled-in Mozilla root set ≈ certifi's bundle
            import certifi
            cafile = certifi.where()
        except ImportError:  # pragma: no cover
            cafile = None
    return ssl.create_default_context(cafile=cafile)


def fingerprint_of(der: bytes) -> str:
    return ":".join(f"{b:02x}" for b in hashlib.sha256(der).digest())


class AuthFailed(Exception):
    pass


def _ignore_ping(data: bytes) -> None:
    """After auth a WebSocket Ping is just answered (tornado sends the Pong)."""


class Session:
    """One authenticated connection."""

    def __init__(self, node: "SimulatedNode", conn: WebSocketClientConnection):
        self.node = node
        self.conn = conn
        self.tasks: set[asyncio.Task] = set()
        self.closed = False
        self.thumbs_sent: dict[tuple, int] = {}

    def send(self, *frames: Any) -> "asyncio.Future | None":
        """Write text frames (dict → JSON per §3.4, str as-is) with one stream write.

        Returns the write's future (for backpressure), or None on a closed socket.
        """
        if self.closed or not frames:
            return None
        protocol = self.conn.protocol
        stream = getattr(protocol, "stream", None)
        if stream is None or stream.closed():
            self.abort()
            return None
        data = b"".join(ws_text_frame(f if isinstance(f, str) else dumps(f)) for f in frames)
        try:
            fut = stream.write(data)
        except StreamClosedError:
            self.abort()
            return None
        self.node.frames_sent += len(frames)
        fut.add_done_callback(self._write_done)
        return fut

    def _write_done(self, fut: "asyncio.Future") -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.closed = True

    def spawn(self, coro, *, cancel_on_close: bool = True) -> asyncio.Task:
        """Run ``coro`` for this connection.  Command handlers pass ``cancel_on_close=False``:
        like on the real edge, a command keeps running when the link drops (only its ack is
        lost)."""
        task = asyncio.ensure_future(coro)
        if cancel_on_close:
            self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, (WebSocketClosedError, StreamClosedError)):
                log.error("%s: task failed: %r", self.node.name, exc, exc_info=exc)

    def abort(self) -> None:
        """Drop the TCP connection without a Close frame (a failed write, chaos)."""
        protocol = getattr(self.conn, "protocol", None)
        if protocol is not None and getattr(protocol, "stream", None) is not None:
            protocol.stream.close()

    def finish(self) -> None:
        self.closed = True
        for task in list(self.tasks):
            task.cancel()


class SimulatedNode:
    """A node of ``entry['device_type']`` driven by ``entry`` (a state-file entry)."""

    def __init__(self, entry: dict, options: NodeOptions, *, store: StateStore | None = None,
                 index: int = 0, registry=None, rng: random.Random | None = None,
                 default_flows: int = 0):
        self.entry = entry
        self.name: str = entry["name"]
        self.device_type: str = entry.get("device_type", "edge")
        self.options = options
        self.store = store
        self.index = index
        self.default_flows = default_flows
        self.registry = registry
        self.rng = rng or random.Random(zlib.crc32(self.name.encode()) + index)
        self.frames_sent = 0
        self.connects = 0
        self.auth_successes = 0
        self.auth_failures = 0
        self.last_auth_error: str | None = None
        self.connected = False
        self.authenticated = asyncio.Event()
        self.session: Session | None = None
        self._conn: WebSocketClientConnection | None = None
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._main: asyncio.Task | None = None
        self.cursor = 0
        self.restart_pending = False
        self.verbose = False                  # log per-node transitions (small fleets)
        self._last_note: str | None = None
        self.load_process_credentials()
        from .appearx_node import AppearXPersonality
        from .edge_node import EdgePersonality
        from .relay_node import RelayPersonality
        kind = {"edge": EdgePersonality, "relay": RelayPersonality,
                "appear_x": AppearXPersonality}.get(self.device_type)
        if kind is None:
            raise ValueError(f"unknown device_type {self.device_type!r}")
        self.personality = kind(self)
        self.events: deque = deque()

    # ------------------------------------------------------------------ credentials
    def load_process_credentials(self) -> None:
        """What the node process reads at start: its persisted credentials / token."""
        self.node_id: str | None = self.entry.get("node_id") or None
        self.node_secret: str | None = self.entry.get("node_secret") or None
        self.token: str | None = self.entry.get("registration_token") or None
        self.registered_this_process = False

    def auth_payload(self) -> dict:
        """§2.2: credentials if both are held, else the token, else ``{}``."""
        p = self.personality
        if self.node_id and self.node_secret:
            payload = {"node_id": self.node_id, "node_secret": self.node_secret}
        elif self.token:
            payload = {"registration_token": self.token}
        else:
            return p.empty_auth_payload()
        payload["software_version"] = p.software_version
        payload["protocol_version"] = p.protocol_version
        return p.decorate_auth_payload(payload)

    async def persist(self) -> None:
        if self.store is not None:
            await self.store.save()

    # ------------------------------------------------------------------ events
    def emit_event(self, payload: dict) -> None:
        """Raise an event: sent now when connected, else queued (bounded, drop newest)."""
        self.personality.emit(payload)

    def queue_event(self, payload: dict, *, dedupe: bool = False) -> None:
        if dedupe and payload in self.events:
            return
        if len(self.events) < self.personality.event_queue_limit:
            self.events.append(payload)

    # ------------------------------------------------------------------ lifecycle
    def start(self, delay: float = 0.0) -> asyncio.Task:
        self._main = asyncio.ensure_future(self.run(delay))
        return self._main

    async def run(self, delay: float = 0.0) -> None:
        self._wake = asyncio.Event()
        self.personality.process_started()
        if delay:
            await self._sleep(delay)
        while not self._stopping:
            if self.restart_pending:          # the process exited (upgrade_binary): restart
                self.restart_pending = False
                self.cursor = 0
                self.load_process_credentials()
                self.events.clear()           # the queue lived in the old process's memory
                self.personality.process_restarted()
                await self._sleep(self.options.restart_secs)
                continue
            url = self.options.urls[self.cursor % len(self.options.urls)]
            try:
                clean, authenticated = await self._connect_once(url)
            except Exception:                 # a simulator bug must not kill the node
                log.exception("%s: connection attempt failed unexpectedly", self.name)
                clean, authenticated = False, False
            if self._stopping:
                break
            if self.restart_pending:
                continue
            self.personality.link_down(clean, authenticated)
            self.cursor += 1
            await self._sleep(self.personality.reconnect_delay(authenticated))
        self.personality.process_stopped()

    async def _sleep(self, secs: float) -> None:
        if secs <= 0 or self._stopping or self.restart_pending:
            return
        assert self._wake is not None
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), secs)
        except asyncio.TimeoutError:
            pass

    async def stop(self) -> None:
        """Close the socket cleanly (Close 1000) and end the run loop."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._conn is not None:
            try:
                self._conn.close(1000, "shutting down")
            except Exception:  # pragma: no cover - already gone
                pass
        if self._main is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._main), 3)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._main.cancel()

    def request_restart(self) -> None:
        """Simulate the node process exiting (the service manager restarts it)."""
        self.restart_pending = True
        self.drop_connection()
        if self._wake is not None:
            self._wake.set()

    def drop_connection(self) -> None:
        """End the current connection abruptly (no Close frame)."""
        if self.session is not None:
            self.session.abort()
        elif self._conn is not None:
            self._conn.close()

    # ------------------------------------------------------------------ one connection
    def _request(self, url: str) -> HTTPRequest:
        opts = self.options
        ssl_options = None
        if url.startswith("wss://"):
            if opts.ssl_context is None:
                opts.ssl_context = build_ssl_context(opts)
            ssl_options = opts.ssl_context
        return HTTPRequest(url, connect_timeout=opts.connect_timeout,
                           request_timeout=opts.connect_timeout, ssl_options=ssl_options,
                           decompress_response=False, follow_redirects=False)

    async def _connect_once(self, url: str) -> tuple[bool, bool]:
        """Returns (ended cleanly, authenticated)."""
        opts = self.options
        if url.startswith("ws://") and not opts.allow_plaintext:
            self._note_failure(f"{url}: ws:// is not allowed (wss:// only)")
            return False, False
        if not url.startswith(("wss://", "ws://")):
            self._note_failure(f"{url}: not a WebSocket URL")
            return False, False
        if url.startswith("wss://") and opts.accept_self_signed_cert \
                and not insecure_allowed(opts):
            self._note_failure("accept_self_signed_cert is set but BILBYCAST_ALLOW_INSECURE=1 "
                               "is not in the environment: refusing to connect")
            return False, False
        self.connects += 1
        try:
            conn = await websocket_connect(self._request(url), ping_interval=None,
                                           max_message_size=opts.max_message_size)
        except Exception as exc:
            self._note_failure(f"connect to {url} failed: {exc}")
            return False, False
        self._conn = conn
        session: Session | None = None
        early_pings: list[bytes] = []
        conn.on_ping = early_pings.append      # type: ignore[method-assign]
        try:
            if opts.cert_fingerprint and url.startswith("wss://"):
                der = conn.protocol.stream.socket.getpeercert(binary_form=True)  # type: ignore
                if fingerprint_of(der or b"") != opts.cert_fingerprint:
                    self._note_failure(f"{url}: certificate fingerprint does not match the pin")
                    return False, False
            if self._stopping:
                return True, False
            await conn.write_message(dumps(self.personality.auth_frame(self.auth_payload())))
            try:
                reply = await asyncio.wait_for(conn.read_message(), opts.auth_timeout)
            except asyncio.TimeoutError:
                self._note_failure("no auth reply within 10 s")
                return False, False
            if early_pings:                      # a WebSocket Ping before the auth reply
                raise AuthFailed("Unexpected non-text auth response")
            await self._handle_auth_reply(reply)
            conn.on_ping = _ignore_ping        # type: ignore[method-assign]
            self.auth_successes += 1
            self._last_note = None
            if self.verbose:
                log.info("%s (%s): authenticated at %s as %s", self.name, self.device_type, url,
                         self.node_id or "(unregistered)")
            self.connected = True
            self.authenticated.set()
            session = Session(self, conn)
            self.session = session
            self.personality.on_authenticated(session)
            clean = await self._read_loop(conn, session)
            return clean, True
        except AuthFailed as exc:
            self.auth_failures += 1
            self._note_failure(str(exc))
            return False, False
        except (WebSocketClosedError, StreamClosedError):
            return False, session is not None
        finally:
            self.connected = False
            self.authenticated.clear()
            if session is not None:
                session.finish()
                self.personality.on_session_end(session)
            self.session = None
            self._conn = None
            conn.close()

    async def _handle_auth_reply(self, reply: Any) -> None:
        if reply is None:
            raise AuthFailed("connection closed before the auth reply")
        if isinstance(reply, bytes):
            raise AuthFailed("Unexpected non-text auth response")
        try:
            msg = json.loads(reply)
        except ValueError:
            raise AuthFailed("auth reply is not JSON") from None
        if not isinstance(msg, dict):
            raise AuthFailed("auth reply is not a JSON object")
        kind = msg.get("type")
        p = self.personality
        if kind == "auth_ok":
            return
        if kind == "register_ack":
            payload = msg.get("payload") if isinstance(msg.get("payload"), dict) else {}
            node_id, secret = payload.get("node_id"), payload.get("node_secret")
            if isinstance(node_id, str) and node_id and isinstance(secret, str) and secret:
                await self._store_credentials(node_id, secret)
            elif not p.accepts_incomplete_register_ack:
                raise AuthFailed("register_ack without node_id/node_secret")
            return
        if kind == "auth_error":
            message = p.auth_error_message(msg)
            self.last_auth_error = message
            p.on_auth_error(message)
            raise AuthFailed(f"auth_error: {message}")
        raise AuthFailed(f"unexpected auth reply type {kind!r}")

    async def _store_credentials(self, node_id: str, secret: str) -> None:
        """register_ack: persist node_id + node_secret and drop the token — before anything
        else is sent on the connection."""
        self.entry["node_id"] = node_id
        self.entry["node_secret"] = secret
        self.entry.pop("registration_token", None)
        await self.persist()
        self.node_id, self.node_secret, self.token = node_id, secret, None
        self.registered_this_process = True
        self.personality.registered()

    async def _read_loop(self, conn: WebSocketClientConnection, session: Session) -> bool:
        idle = self.options.idle_timeout
        while True:
            if idle:
                try:
                    msg = await asyncio.wait_for(conn.read_message(), idle)
                except asyncio.TimeoutError:
                    return False
            else:
                msg = await conn.read_message()
            if msg is None:
                return conn.close_code is not None
            if isinstance(msg, bytes):
                await self.personality.on_binary(session, msg)
                continue
            try:
                frame = json.loads(msg)
            except ValueError:
                log.debug("%s: ignoring a non-JSON frame", self.name)
                continue
            if isinstance(frame, dict):
                await self.personality.on_frame(session, frame)

    def _note_failure(self, text: str) -> None:
        if self.verbose and text != self._last_note:
            log.warning("%s: %s", self.name, text)
        else:
            log.debug("%s: %s", self.name, text)
        self._last_note = text

    # ------------------------------------------------------------------ helpers for tests
    def has_credentials(self) -> bool:
        return has_credentials(self.entry)
