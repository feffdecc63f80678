"""NodeHub: every node connection, the live state, and what nodes say (node-protocol §2–§6).

The WebSocket handler only moves frames; the hub decides. One live session per node id: a new
one replaces the old, and the old one's cleanup checks it is still registered before it removes
anything, so the successor survives. A malformed frame is counted and logged, never fatal.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from ..db.models import Node
from ..services import events as event_service
from ..services import nodes as node_service
from ..timeutil import now_iso, parse_rfc3339, utcnow
from .config_cache import ConfigCache
from .live import THUMBNAIL_MAX_BYTES, NodeLive
from .node_auth import AuthOutcome, NodeAuthenticator
from .session import NodeSession

if TYPE_CHECKING:
    from ..app import ManagerApp

log = logging.getLogger("bilbycast.hub")

MAX_NODE_MESSAGE = 5 * 1024 * 1024
PING_INTERVAL = 15.0
EVENTS_PER_MINUTE = 1000
THUMBNAIL_KEEP_OFFLINE = 120.0
CONFIG_SETTLE_SECS = 5.0
SWEEP_SLICE = 500


class HubListener:
    """What the dashboard fan-out (and tests) hear from the hub. All methods are optional."""

    def node_changed(self, live: NodeLive) -> None: ...
    def node_status(self, live: NodeLive, old: str, new: str, reason: str) -> None: ...
    def node_removed(self, node_id: str) -> None: ...
    def event_stored(self, event: dict[str, Any]) -> None: ...
    def stats_received(self, live: NodeLive) -> None: ...


class NodeHub:
    def __init__(self, app: "ManagerApp"):
        self.app = app
        self.db = app.db
        self.drivers = app.drivers
        self.live: dict[str, NodeLive] = {}
        self.sessions: dict[str, NodeSession] = {}
        self.listeners: list[HubListener] = []
        self.authenticator = NodeAuthenticator(app.db, app.vault)
        self.configs = ConfigCache(self)
        self.malformed_frames = 0
        self.oversize_frames = 0
        self._tasks: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None
        self._settle_tasks: set[asyncio.Task] = set()  # after-connect get_config: cancelled at shutdown
        self._last_seen_flush: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------
    async def load(self) -> None:
        rows = await self.db.read(lambda: list(Node.select()))
        for row in rows:
            self.live[row.id] = self._live_from_row(row)

    def _live_from_row(self, row: Node) -> NodeLive:
        live = NodeLive(id=row.id, name=row.name, device_type=row.device_type,
                        status="pending" if row.secret_enc is None else "offline",
                        registered=row.secret_enc is not None, expires_at=row.expires_at,
                        software_version=row.software_version, protocol_version=row.protocol_version,
                        capabilities=row.capabilities, last_seen_stored=row.last_seen_at,
                        health_report=row.last_health, health_received_at=row.last_health_at)
        driver = self.drivers.get(row.device_type)
        if driver is not None and row.last_health:
            live.summary = driver.summarise(None, row.last_health, now=utcnow())
        return live

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        connected = len(self.sessions)
        for session in list(self.sessions.values()):
            session.close(1001, "manager shutting down")
            self.detach(session, "shutdown")
        self.raise_event(None, "info", "manager", f"Manager shutting down; {connected} connected nodes will reconnect",
                         {"connected_nodes": connected})
        for task in list(self._settle_tasks):  # a 5 s settle sleep must not hold up shutdown
            task.cancel()
        self._collect_last_seen()
        self._flush_last_seen()
        if self._tasks:  # let queued event writes reach the writer before it stops
            await asyncio.wait(list(self._tasks), timeout=5)

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task failed", exc_info=task.exception())

    # -- notifications ---------------------------------------------------------------------
    def _notify(self, method: str, *args: Any) -> None:
        for listener in list(self.listeners):
            try:
                getattr(listener, method)(*args)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the hub
                log.exception("hub listener %s failed", method)

    def changed(self, live: NodeLive) -> None:
        live.mark_changed()
        self._notify("node_changed", live)

    def set_status(self, live: NodeLive, new: str, reason: str) -> None:
        old = live.status
        if old == new:
            return
        live.status = new
        self.changed(live)
        self._notify("node_status", live, old, new, reason)

    def raise_event(self, node_id: str | None, severity: str, category: str, message: str,
                    details: dict[str, Any] | None = None, source: str = "manager") -> None:
        live = self.live.get(node_id) if node_id else None
        fields = {"severity": severity, "category": category, "message": message, "details": details,
                  "error_code": (details or {}).get("error_code")}
        self.spawn(self._store_event(node_id, live.name if live else None, source, fields))

    async def _store_event(self, node_id: str | None, node_name: str | None, source: str,
                           fields: dict[str, Any], dedupe_key: str | None = None) -> None:
        try:
            event = await self.db.write(event_service.store, node_id, node_name, source, fields, dedupe_key)
        except Exception as exc:  # noqa: BLE001 - e.g. the node was deleted meanwhile
            log.warning("event not stored: %s", exc)
            return
        if event is not None:
            self._notify("event_stored", event)

    # -- handshake -------------------------------------------------------------------------
    async def authenticate(self, frame_text: Any, remote_ip: str) -> AuthOutcome:
        from .node_auth import auth_error

        if not isinstance(frame_text, str):
            return auth_error("Expected a text auth frame")
        if _too_large(frame_text):
            return auth_error("Auth frame too large")
        try:
            frame = json.loads(frame_text)
        except ValueError:
            return auth_error("Invalid JSON in auth frame")
        if not isinstance(frame, dict):
            return auth_error("Invalid auth frame")
        if frame.get("type") != "auth":
            return auth_error(f"Expected 'auth' message type, got '{str(frame.get('type'))[:64]}'")
        return await self.authenticator.check(frame.get("payload"), remote_ip)

    def attach(self, outcome: AuthOutcome, session: NodeSession, payload: dict[str, Any]) -> None:
        """After the auth reply went out: register the session, replacing any older one."""
        node = outcome.node
        # Sidecars name their device type in the auth frame and flush stale queued frames
        # after it (§13.3-13.4); edges and relays do neither.
        session.replays_stale_frames = isinstance(payload.get("device_type"), str)
        old = self.sessions.get(node.id)
        self.sessions[node.id] = session
        if old is not None and old is not session:
            old.fail_all()
            old.close(1000, "replaced by a newer connection")
        live = self.live.get(node.id)
        if live is None:
            live = self.live[node.id] = self._live_from_row(node)
        stamp = now_iso()
        version = payload.get("software_version")
        protocol = payload.get("protocol_version")
        live.software_version = version[:256] if isinstance(version, str) else live.software_version
        live.protocol_version = protocol if isinstance(protocol, int) and not isinstance(protocol, bool) else None
        live.remote_addr = session.remote_addr
        live.connected_since = stamp
        live.last_seen_at = stamp
        live.touch(time.monotonic())
        live.registered = True
        live.offline_since_monotonic = None
        live.stats = None
        live.stats_received_wall = None
        self.db.write_soon(node_service.record_connect, node.id, live.software_version, live.protocol_version, stamp)
        self.set_status(live, "online", "registered" if outcome.registered else "connected")
        self.raise_event(node.id, "info", "connection", "Node connected to manager",
                         {"remote_addr": session.remote_addr, "software_version": live.software_version})
        driver = self.drivers.get(node.device_type)
        if driver is not None and not driver.is_known_protocol_version(live.protocol_version):
            known = ", ".join(str(v) for v in sorted(driver.known_protocol_versions))
            self.raise_event(node.id, "warning", "compatibility",
                             f"Node WebSocket protocol version ({live.protocol_version}) differs from manager "
                             f"({known}). Consider upgrading.", {"protocol_version": live.protocol_version})

    def detach(self, session: NodeSession, reason: str = "closed") -> None:
        """The socket closed. Only the registered session may change the node's state."""
        session.fail_all()
        if self.sessions.get(session.node_id) is not session:
            return
        del self.sessions[session.node_id]
        live = self.live.get(session.node_id)
        if live is None:
            return
        live.remote_addr = None
        live.connected_since = None
        live.stats = None
        live.stats_received_wall = None
        live.offline_since_monotonic = time.monotonic()
        if live.events_shed and reason != "deleted":
            self._report_shed(live)
        self._last_seen_flush[live.id] = live.last_seen_at or now_iso()
        self.set_status(live, "offline" if live.registered else "pending", reason)
        if reason == "deleted":
            return  # the record and its events are being removed; an event now would be orphaned
        if reason == "shutdown":
            return  # the manager is leaving, not the node: no alarm per node (one info event is stored)
        if reason == "timeout":
            silence = int(time.monotonic() - live.last_seen_monotonic)
            self.raise_event(live.id, "critical", "connection",
                             f"Node {live.name} went offline: no message for {silence} s", {"reason": reason})
        else:
            self.raise_event(live.id, "critical", "connection", "Node disconnected from manager",
                             {"reason": reason})

    # -- frames ----------------------------------------------------------------------------
    def on_frame(self, session: NodeSession, text: Any) -> None:
        live = self.live.get(session.node_id)
        if live is None or self.sessions.get(session.node_id) is not session:
            return
        now_mono = time.monotonic()
        live.touch(now_mono)
        live.seen_wall = time.time()
        if not isinstance(text, str):
            self._malformed(session, "binary frame from a node")
            return
        if _too_large(text):
            self.oversize_frames += 1
            log.warning("node %s: dropped a %d-byte message (limit 5 MiB)", live.name, len(text))
            return
        try:
            message = json.loads(text)
        except ValueError:
            self._malformed(session, "invalid JSON")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self._malformed(session, "not a typed JSON object")
            return
        kind = message["type"]
        self.app.metrics.node_messages[kind if kind in _KNOWN_TYPES else "unknown"] += 1
        handler = getattr(self, "_on_" + kind, None) if kind in _KNOWN_TYPES else None
        if handler is None:
            return  # unknown types are ignored (node-protocol §3.3)
        try:
            handler(session, live, message.get("payload"), message.get("timestamp"))
        except Exception:  # noqa: BLE001 - a bad frame must not kill this or any other session
            self._malformed(session, f"unprocessable {kind}")
            log.debug("frame processing failed", exc_info=True)

    def _malformed(self, session: NodeSession, what: str) -> None:
        self.malformed_frames += 1
        session.malformed_frames += 1
        if session.malformed_frames <= 3 or session.malformed_frames % 100 == 0:
            log.warning("node %s: malformed frame (%s); %d so far on this connection", session.node_id, what,
                        session.malformed_frames)

    @staticmethod
    def _newer(session: NodeSession, previous: str | None, timestamp: Any) -> bool:
        """Sidecars flush stale frames after a reconnect: never let an older one win.

        Only for nodes that replay queued frames with their original timestamps (gateway
        sidecars, node-protocol §13.4). Edges and relays stamp at send time and their clocks can
        be wrong or be corrected backwards (§3.2: the timestamp is for display only), so for
        them the latest frame received always wins.
        """
        if not session.replays_stale_frames or previous is None or not isinstance(timestamp, str):
            return True
        try:
            return parse_rfc3339(timestamp) >= parse_rfc3339(previous)
        except ValueError:
            return True

    def _on_health(self, session: NodeSession, live: NodeLive, payload: Any, timestamp: Any) -> None:
        if not isinstance(payload, dict) or not self._newer(session, live.health_node_ts, timestamp):
            return
        driver = self.drivers.get(live.device_type)
        live.health_node_ts = timestamp if isinstance(timestamp, str) else live.health_node_ts
        live.health_report = driver.merge_health(live.health_report, payload) if driver else payload
        live.health_received_at = now_iso()
        live.last_seen_at = live.health_received_at
        caps = live.health_report.get("capabilities")
        if isinstance(caps, list):
            live.capabilities = [c for c in caps if isinstance(c, str)][:200]
        version = live.health_report.get("version")
        if isinstance(version, str):
            live.software_version = version[:256]
        live.summary_dirty = True
        self._refresh_summary(live)
        self.app.history.record_health(live, live.health_report)
        # The report is kept in the database so it survives restarts; at 15 s beats x thousands
        # of nodes, persist it when something identifying changes or every five minutes.
        fingerprint = (live.software_version, tuple(live.capabilities or ()))
        now_mono = time.monotonic()
        if fingerprint != live.health_persisted_fingerprint or now_mono - live.health_persisted_monotonic > 300:
            live.health_persisted_fingerprint, live.health_persisted_monotonic = fingerprint, now_mono
            self.db.write_soon(node_service.record_health, live.id, live.health_report, live.health_received_at,
                               live.software_version, live.capabilities)
        if not session.first_health_seen:
            session.first_health_seen = True
            self._check_device_type(live, live.health_report)
            if driver is not None and driver.command("get_config") is not None:
                # ~5 s settle as the protocol suggests, spread out so that a reconnect storm of
                # thousands of nodes does not become a get_config storm.
                delay = CONFIG_SETTLE_SECS + random.random() * min(60.0, len(self.sessions) / 100)
                task = self.spawn(self.configs.refresh_after_settle(live.id, session, delay))
                self._settle_tasks.add(task)
                task.add_done_callback(self._settle_tasks.discard)

    def _check_device_type(self, live: NodeLive, report: dict[str, Any]) -> None:
        looks_like = None
        if "gateway_target" in report:
            looks_like = "appear_x"
        elif "connected_edges" in report or "quic_addr" in report:
            looks_like = "relay"
        elif "resource_budget" in report:
            looks_like = "edge"
        if looks_like and looks_like != live.device_type and looks_like in {d.device_type for d in self.drivers.all()}:
            self.raise_event(live.id, "warning", "compatibility",
                             f"Node {live.name} is recorded as {live.device_type} but its health looks like "
                             f"{looks_like}; check the registration token was given to the right device",
                             {"recorded_type": live.device_type, "reported_like": looks_like})

    def _on_stats(self, session: NodeSession, live: NodeLive, payload: Any, timestamp: Any) -> None:
        if not isinstance(payload, dict) or not self._newer(session, live.stats_node_ts, timestamp):
            return
        live.stats_node_ts = timestamp if isinstance(timestamp, str) else live.stats_node_ts
        live.stats = payload
        live.stats_received_wall = time.time()  # formatted only when someone reads it
        live.summary_dirty = True
        self.app.history.record(live, payload)
        self._notify("stats_received", live)
        self.changed(live)

    def _refresh_summary(self, live: NodeLive) -> None:
        driver = self.drivers.get(live.device_type)
        if driver is None:
            return
        live.summary = driver.summarise(live.stats, live.health_report, now=utcnow(), prev=live.summary)
        live.summary_dirty = False
        self.changed(live)

    def summary_of(self, live: NodeLive) -> dict[str, Any] | None:
        """Summaries are computed lazily, at most when someone looks (the 1 s dashboard tick)."""
        if live.summary_dirty:
            self._refresh_summary(live)
        return live.summary

    def _on_event(self, session: NodeSession, live: NodeLive, payload: Any, timestamp: Any) -> None:
        now = time.monotonic()
        window = live.event_window
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= EVENTS_PER_MINUTE:
            live.events_shed += 1
            if live.events_shed == 1:
                live.shed_warning = self.spawn(self._open_shed_warning(live))
            return
        if live.events_shed:
            self._report_shed(live)
        window.append(now)
        fields = event_service.normalise_node_event(payload)
        if isinstance(timestamp, str):
            fields["details"] = {**(fields.get("details") or {}), "node_timestamp": timestamp[:40]}
        driver = self.drivers.get(live.device_type)
        dedupe = driver.event_dedupe_key(payload) if driver is not None else None
        if dedupe:
            fields["details"] = {**(fields.get("details") or {}), "dedupe_key": dedupe}
        self.spawn(self._store_event(live.id, live.name, "node", fields, dedupe))

    async def _open_shed_warning(self, live: NodeLive) -> int | None:
        """Alert at once when a node starts flooding; the count is filled in when it ends."""
        fields = {"severity": "warning", "category": "rate_limit", "error_code": "event_rate_limit_exceeded",
                  "message": f"Node {live.name} sent more than {EVENTS_PER_MINUTE} events in a minute; "
                             "further events are dropped until the rate falls",
                  "details": {"error_code": "event_rate_limit_exceeded", "dropped": None,
                              "limit_per_minute": EVENTS_PER_MINUTE}}
        try:
            event = await self.db.write(event_service.store, live.id, live.name, "manager", fields)
        except Exception as exc:  # noqa: BLE001
            log.warning("rate-limit warning not stored: %s", exc)
            return None
        self._notify("event_stored", event)
        return event["id"]

    def _report_shed(self, live: NodeLive) -> None:
        """One warning per shedding episode, with the count (product.md §5.7)."""
        count, live.events_shed = live.events_shed, 0
        opening, live.shed_warning = live.shed_warning, None
        self.spawn(self._close_shed_warning(live.id, live.name, opening, count))

    async def _close_shed_warning(self, node_id: str, name: str, opening: asyncio.Task | None, count: int) -> None:
        event_id = await opening if opening is not None else None
        if event_id is None:
            return
        message = f"Node {name} sent more than {EVENTS_PER_MINUTE} events in a minute; {count} events were dropped"
        try:
            event = await self.db.write(event_service.finish_rate_limit_warning, event_id, message, count)
        except Exception as exc:  # noqa: BLE001 - the node may have been deleted meanwhile
            log.warning("rate-limit warning not updated: %s", exc)
            return
        if event is not None:
            self._notify("event_stored", event)

    def _on_thumbnail(self, session: NodeSession, live: NodeLive, payload: Any, timestamp: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("flow_id"), str):
            return
        data = payload.get("data")
        if not isinstance(data, str) or len(data) > THUMBNAIL_MAX_BYTES * 4 // 3 + 4:
            return
        try:
            jpeg = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self._malformed(session, "thumbnail is not base64")
            return
        if len(jpeg) > THUMBNAIL_MAX_BYTES or not jpeg.startswith(b"\xff\xd8"):
            return
        input_id = payload.get("input_id") if isinstance(payload.get("input_id"), str) else None
        live.set_thumbnail(payload["flow_id"][:64], input_id, jpeg)

    def _on_command_ack(self, session: NodeSession, live: NodeLive, payload: Any, timestamp: Any) -> None:
        if not isinstance(payload, dict):
            return
        payload.setdefault("success", False)
        if not session.on_ack(payload):
            log.info("node %s: ack for unknown command %s; refreshing its config", live.name,
                     str(payload.get("command_id"))[:64])
            self.configs.mark_stale(live.id)

    def _on_config_response(self, session: NodeSession, live: NodeLive, payload: Any, timestamp: Any) -> None:
        if isinstance(payload, dict):
            self.configs.store(live, payload)
        session.on_config_response(payload)

    def _on_pong(self, session: NodeSession, live: NodeLive, payload: Any, timestamp: Any) -> None:
        return None  # liveness was already refreshed by on_frame

    # -- liveness --------------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        last_ping = time.monotonic()
        last_flush = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            try:
                now = time.monotonic()
                await self.sweep_in_slices(now)
                if now - last_ping >= PING_INTERVAL:
                    last_ping = now
                    for index, session in enumerate(list(self.sessions.values())):
                        session.ping()
                        if index % SWEEP_SLICE == SWEEP_SLICE - 1:
                            await asyncio.sleep(0)
                if now - last_flush >= 30:
                    last_flush = now
                    self._collect_last_seen()
                    self._flush_last_seen()
            except Exception:  # noqa: BLE001
                log.exception("liveness sweep failed")

    async def sweep_in_slices(self, now: float) -> None:
        """The liveness sweep, SWEEP_SLICE sessions at a time, so that thousands of nodes never
        hold the event loop for one long stretch."""
        sessions = list(self.sessions.items())
        for start in range(0, len(sessions), SWEEP_SLICE):
            self.sweep(now, sessions[start:start + SWEEP_SLICE], finish=start + SWEEP_SLICE >= len(sessions))
            await asyncio.sleep(0)
        if not sessions:
            self.sweep(now, [], finish=True)

    def sweep(self, now: float, sessions: list | None = None, finish: bool = True) -> None:
        threshold = self.app.runtime_settings.get("node_offline_threshold_secs")
        stamp = now_iso()
        stale_after = {d.device_type: d.stale_after_secs for d in self.drivers.all()}
        live_by_id = self.live
        for node_id, session in (list(self.sessions.items()) if sessions is None else sessions):
            live = live_by_id.get(node_id)
            if live is None:
                continue
            silence = now - live.last_seen_monotonic
            if live.expires_at and live.expires_at <= stamp:
                session.close(1008, "node expired")
                self.detach(session, "expired")
                continue
            if session.sequential and session.in_flight and now < live.command_deadline_monotonic:
                continue  # relays and gateways are silent while a command runs
            if silence > threshold:
                session.close(1001, "no message within the offline threshold")
                self.detach(session, "timeout")
                continue
            stale = silence > stale_after.get(live.device_type, 10)
            if stale != live.stale_reported:  # silence changes what a dashboard shows, too
                live.stale_reported = stale
                self.changed(live)
        if not finish:
            return
        for live in self.live.values():
            if live.events_shed:
                # A shedding episode also ends when the rate falls and the node goes quiet: report
                # it then, not only when its next event (or a disconnect) happens to arrive.
                window = live.event_window
                while window and window[0] <= now - 60:
                    window.popleft()
                if len(window) < EVENTS_PER_MINUTE:
                    self._report_shed(live)
            if live.thumbnails and live.offline_since_monotonic and now - live.offline_since_monotonic > THUMBNAIL_KEEP_OFFLINE:
                live.thumbnails.clear()

    def _collect_last_seen(self) -> None:
        for node_id in self.sessions:
            live = self.live.get(node_id)
            if live is not None and live.last_seen_at:
                self._last_seen_flush[node_id] = live.last_seen_at

    def _flush_last_seen(self) -> None:
        if self._last_seen_flush:
            stamps, self._last_seen_flush = self._last_seen_flush, {}
            self.db.write_soon(node_service.record_last_seen, stamps)

    # -- record changes from the REST side ------------------------------------------------
    def node_created(self, row: Node) -> None:
        self.live[row.id] = self._live_from_row(row)
        self.changed(self.live[row.id])

    def node_updated(self, row: Node) -> None:
        live = self.live.get(row.id)
        if live is None:
            return self.node_created(row)
        live.name, live.expires_at = row.name, row.expires_at
        self.changed(live)

    def close_session(self, node_id: str, reason: str, code: int = 1000) -> None:
        session = self.sessions.get(node_id)
        if session is not None:
            session.close(code, reason)
            self.detach(session, reason)

    def token_regenerated(self, row: Node) -> None:
        self.close_session(row.id, "token_regenerated", 4001)
        live = self.live.get(row.id)
        if live is not None:
            live.registered = False
            self.set_status(live, "pending", "token_regenerated")

    def node_deleted(self, node_id: str) -> None:
        self.close_session(node_id, "deleted", 4002)
        self.live.pop(node_id, None)
        self.configs.forget(node_id)
        self.app.history.forget(node_id)
        self._notify("node_removed", node_id)

    # -- commands --------------------------------------------------------------------------
    def session_for(self, node_id: str) -> NodeSession:
        from ..services.errors import ApiError

        session = self.sessions.get(node_id)
        if session is None or session.closed:
            raise ApiError(502, "node_not_connected", f"Node {node_id} is not connected")
        return session

    async def send_command(self, node_id: str, action: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one command; returns the ack (success or failure). Raises ApiError 502/504/429."""
        session = self.session_for(node_id)
        live = self.live[node_id]
        live.command_deadline_monotonic = max(live.command_deadline_monotonic, time.monotonic() + timeout)
        started = time.monotonic()
        try:
            ack = await session.run_command(action, timeout)
        except Exception as exc:
            code = getattr(exc, "code", "error")
            self.app.metrics.node_commands[code] += 1
            if code in ("node_timeout", "node_disconnected"):
                self.configs.mark_stale(node_id)
            raise
        finally:
            self.app.metrics.command_duration.observe(time.monotonic() - started)
        self.app.metrics.node_commands["success" if ack.get("success") else "rejected"] += 1
        driver = self.drivers.get(live.device_type)
        if ack.get("success") and driver is not None and driver.is_config_changing(action.get("type", "")):
            self.configs.mark_stale(node_id)
        return ack


def _too_large(text: str) -> bool:
    """Over 5 MiB of UTF-8 (node-protocol §1.5 counts bytes, the socket hands us characters)."""
    if len(text) > MAX_NODE_MESSAGE:
        return True
    if len(text) * 4 <= MAX_NODE_MESSAGE:
        return False  # cannot be over the limit whatever the characters
    return len(text.encode("utf-8", "surrogatepass")) > MAX_NODE_MESSAGE


_KNOWN_TYPES = frozenset({"health", "stats", "event", "thumbnail", "command_ack", "config_response", "pong"})

