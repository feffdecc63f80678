"""The bilbycast-edge personality (edge 0.106.0, protocol_version 4).

* auth without ``timestamp``; ``register_ack`` with an empty field authenticates but
  persists nothing (quirk 9); ``auth_error`` raises a queued critical ``manager`` event.
* after auth: ``Connected to manager``, health twice (quirk 1), a timer-path stats with
  ``flows: []`` (quirk 2), the offline event queue, every current thumbnail once; then stats
  at 1 Hz (now and then an extra timer-path one), health every 15 s, changed thumbnails.
* every inbound frame runs in its own task, so acks can come back out of order (quirk 16).
* ``rotate_secret`` persists the new secret but the process keeps using the old one until it
  restarts (quirk 10); ``upgrade_binary`` acks ``staged`` and the process exits ~5 s later,
  then re-authenticates with the new ``software_version`` (quirk 32).
* binary media-upload frames (§5.8): malformed ones get a warning event and no ack (quirk 30).
"""

from __future__ import annotations

import asyncio
import logging
import json
import re
import struct
import time
import zlib
from typing import TYPE_CHECKING, Any

from .edge_model import EdgeModel
from .telemetry import EdgeTelemetry
from .wire import (EDGE_PROTOCOL, CommandError, ack_failure, ack_success, envelope, event)

log = logging.getLogger("bilbycast.simulator")

if TYPE_CHECKING:  # pragma: no cover
    from .node import Session, SimulatedNode

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def _version_tuple(text: str) -> tuple[int, ...] | None:
    m = _SEMVER.match(text or "")
    return tuple(int(x) for x in m.groups()) if m else None


class EdgePersonality:
    protocol_version = EDGE_PROTOCOL
    event_queue_limit = 4096
    accepts_incomplete_register_ack = True

    def __init__(self, node: "SimulatedNode"):
        self.node = node
        opts = node.options
        entry = node.entry
        self.model = EdgeModel(device_name=entry.get("device_name") or node.name,
                               urls=opts.urls, accept_self_signed_cert=opts.accept_self_signed_cert,
                               cert_fingerprint=opts.cert_fingerprint,
                               flows=int(entry.get("flows", node.default_flows) or 0), index=node.index, rng=node.rng,
                               emit=node.emit_event, bind_watch_secs=opts.bind_watch_secs,
                               occupied_ports=opts.occupied_ports)
        self.telemetry = EdgeTelemetry(self.model, node.rng, index=node.index)
        self._sync_identity()
        self.upgrading: str | None = None
        self.pending_upgrade_event: dict | None = None
        self._loop_time_last = None
        if node.registry is not None:
            self.model.tunnel_listeners.append(self._tunnel_changed)

    @property
    def software_version(self) -> str:
        return self.model.software_version

    # ------------------------------------------------------------------ identity / auth
    def _sync_identity(self) -> None:
        self.model.manager_node_id = self.node.node_id
        self.model.setup_enabled = not (self.node.node_id and self.node.node_secret)

    def empty_auth_payload(self) -> dict:
        return {}

    def decorate_auth_payload(self, payload: dict) -> dict:
        return payload

    def auth_frame(self, payload: dict) -> dict:
        return {"type": "auth", "payload": payload}         # no timestamp (quirk 8)

    @staticmethod
    def auth_error_message(msg: dict) -> str:
        message = msg.get("message")
        return message if isinstance(message, str) else "Unknown auth error"

    def on_auth_error(self, message: str) -> None:
        self.node.queue_event(event("critical", "manager",
                                    f"Manager authentication failed: {message}"), dedupe=True)

    def registered(self) -> None:
        self._sync_identity()
        for tunnel in self.model.items("tunnels"):
            self._tunnel_changed(tunnel["id"], tunnel)

    def link_down(self, clean: bool, authenticated: bool) -> None:
        if not clean:        # edge: only after an error, not after a clean Close (quirk 27)
            self.node.queue_event(event("warning", "manager",
                                        "Manager connection lost, rotating to next URL"),
                                  dedupe=True)

    def reconnect_delay(self, authenticated: bool) -> float:
        return self.node.options.reconnect_delay

    # ------------------------------------------------------------------ process lifecycle
    def process_started(self) -> None:
        pass

    def process_restarted(self) -> None:
        self.model.running.clear()
        self.model.tunnel_started.clear()
        for flow in self.model.items("flows"):         # the persisted config starts again
            if flow.get("enabled", True):
                self.model._start(flow["id"], quiet=True)
        for tunnel in self.model.items("tunnels"):
            self.model.tunnel_started[tunnel["id"]] = time.monotonic()
        self.telemetry.restart_process()
        self.telemetry.flows.clear()
        self._sync_identity()
        if self.pending_upgrade_event is not None:
            self.node.queue_event(self.pending_upgrade_event)
            self.pending_upgrade_event = None
        self.upgrading = None

    def process_stopped(self) -> None:
        if self.node.registry is not None and self.node.node_id:
            self.node.registry.unbind_node(self.node.node_id)

    def _tunnel_changed(self, tunnel_id: str, tunnel: dict | None) -> None:
        registry, node_id = self.node.registry, self.node.node_id
        if registry is None or not node_id:
            return
        registry.unbind(tunnel_id, node_id)
        if tunnel is not None and tunnel.get("mode") == "relay" and tunnel.get("enabled", True):
            relay = (tunnel.get("relay_addrs") or [""])[0]
            port = 40000 + zlib.crc32(tunnel_id.encode()) % 20000
            registry.bind(tunnel_id, tunnel["direction"], node_id,
                          f"{self.telemetry.ip}:{port}", relay)

    # ------------------------------------------------------------------ outbound
    def emit(self, payload: dict) -> None:
        session = self.node.session
        if session is not None and not session.closed:
            session.send(envelope("event", payload))
        else:
            self.node.queue_event(payload)

    def _registry(self):
        return self.node.registry

    def _thumbnail_frames(self, session: "Session", *, all_current: bool = False) -> list:
        frames = []
        for key, gen, fc in self.telemetry.thumbnails():
            if all_current or session.thumbs_sent.get(key) != gen:
                session.thumbs_sent[key] = gen
                frames.append(envelope("thumbnail", self.telemetry.thumbnail_payload(key, fc)))
        return frames

    def on_authenticated(self, session: "Session") -> None:
        self._sync_identity()
        frames = [envelope("event", event("info", "manager", "Connected to manager")),
                  envelope("health", self.telemetry.health_payload()),
                  envelope("health", self.telemetry.health_payload()),
                  envelope("stats", self.telemetry.stats_payload(timer_path=True,
                                                                  registry=self._registry()))]
        frames.extend(envelope("event", e) for e in self.node.events)
        self.node.events.clear()
        frames.extend(self._thumbnail_frames(session, all_current=True))
        session.send(*frames)
        session.spawn(self._ticker(session))

    def on_session_end(self, session: "Session") -> None:
        pass

    async def _ticker(self, session: "Session") -> None:
        node, opts, rng = self.node, self.node.options, self.node.rng
        loop = asyncio.get_running_loop()
        interval = opts.stats_interval
        start = loop.time()
        next_tick = start + (rng.uniform(0.3, 1.0) * interval if opts.jitter else interval)
        next_health = start + opts.health_interval
        last = self._loop_time_last or start
        chaos = opts.chaos
        while not session.closed:
            delay = next_tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            self.telemetry.advance(max(0.0, min(now - last, 86400.0)))
            last = self._loop_time_last = now
            frames = [envelope("stats", self.telemetry.stats_payload(registry=self._registry()))]
            if rng.random() < opts.timer_stats_probability:
                frames.append(envelope("stats", self.telemetry.stats_payload(
                    timer_path=True, registry=self._registry())))
            frames.extend(self._thumbnail_frames(session))
            if now >= next_health:
                frames.append(envelope("health", self.telemetry.health_payload()))
                next_health += opts.health_interval
                if next_health < now:
                    next_health = now + opts.health_interval
            fut = session.send(*frames)
            if chaos is not None:
                chaos_tick(node, session, interval)
            next_tick += interval
            if next_tick < now:
                next_tick = now + interval
            if fut is not None:
                try:
                    await fut                      # backpressure on a slow manager
                except Exception:
                    return

    # ------------------------------------------------------------------ inbound
    async def on_frame(self, session: "Session", frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ping":
            session.send(envelope("pong", None))
        elif kind == "command":
            session.spawn(self._command(session, frame.get("payload")), cancel_on_close=False)
        # register_ack (late), unknown types: logged and ignored

    async def _command(self, session: "Session", payload: Any) -> None:
        payload = payload if isinstance(payload, dict) else {}
        cid = payload.get("command_id")
        cid = cid if isinstance(cid, str) else "unknown"
        action = payload.get("action")
        chaos = self.node.options.chaos
        if chaos is not None and self.node.rng.random() < chaos.ack_delay_prob:
            await asyncio.sleep(self.node.rng.uniform(*chaos.ack_delay_secs))
        if not isinstance(action, dict):
            session.send(ack_failure(cid, "Invalid command: missing field `action`"))
            return
        kind = action.get("type")
        if kind == "get_config":
            session.send(envelope("config_response", self.model.config_response()))
            return
        try:
            if kind == "rotate_secret":
                data = await self._rotate_secret(action)
            elif kind == "upgrade_binary":
                data = await self._upgrade_binary(action)
            else:
                data = await self.model.execute(action)
        except CommandError as exc:
            session.send(ack_failure(cid, exc.message, exc.code))
            return
        except Exception as exc:                       # a simulator bug: still answer
            log.exception("%s: %s failed", self.node.name, kind)
            session.send(ack_failure(cid, f"internal error: {exc}"))
            return
        session.send(ack_success(cid, data))

    async def on_binary(self, session: "Session", data: bytes) -> None:
        header = self._parse_upload_frame(data)
        if header is None:
            return
        cid = header["command_id"]
        nbytes = len(data) - 6 - struct.unpack(">I", data[2:6])[0]
        try:
            progress = self.model.extras.upload_chunk(
                header.get("name"), header.get("chunk_index"), header.get("total_chunks"),
                header.get("total_bytes"), nbytes, binary=True)
        except CommandError as exc:
            session.send(ack_failure(cid, exc.message))        # no error_code (§5.8)
            return
        session.send(ack_success(cid, progress))

    def _parse_upload_frame(self, data: bytes) -> dict | None:
        problem = None
        header: Any = None
        if len(data) < 6:
            problem = f"frame of {len(data)} bytes is shorter than 6"
        elif data[0] != 0xBC or data[1] != 0x01:
            problem = f"bad magic/kind 0x{data[0]:02x} 0x{data[1]:02x}"
        else:
            length = struct.unpack(">I", data[2:6])[0]
            if length > len(data) - 6:
                problem = f"header length {length} exceeds the frame"
            else:
                try:
                    header = json.loads(data[6:6 + length])
                except ValueError:
                    problem = "header is not JSON"
                if problem is None and (not isinstance(header, dict)
                                        or not isinstance(header.get("command_id"), str)):
                    problem = "header has no command_id"
        if problem is not None:
            self.emit(event("warning", "manager",
                            f"Dropped malformed binary media-upload frame: {problem}"))
            return None
        return header

    # ------------------------------------------------------------------ node administration
    async def _rotate_secret(self, action: dict) -> None:
        secret = action.get("new_secret")
        if secret is None:
            raise CommandError("missing field `new_secret`", "missing_field")
        if not isinstance(secret, str) or not secret:
            raise CommandError("new_secret must be a non-empty string", "invalid_value")
        self.node.entry["node_secret"] = secret          # secrets.json, not this process
        try:
            await self.node.persist()
        except OSError as exc:
            raise CommandError(f"Failed to persist the new secret: {exc}",
                               "config_persist_failed") from None
        self.emit(event("info", "manager", "Node authentication secret rotated and persisted"))
        return None

    async def _upgrade_binary(self, action: dict) -> dict:
        # a simulated edge without an ``upgrades`` block behaves as if it were enabled for
        # the stable and beta channels (so demo fleets can be upgraded)
        cfg = self.model.config.get("upgrades") or {"enabled": True,
                                                    "allowed_channels": ["stable", "beta"]}
        if not cfg.get("enabled", False):
            raise CommandError("Remote upgrades are disabled on this node", "upgrade_disabled")
        version = action.get("version")
        channel = action.get("channel")
        target = _version_tuple(version) if isinstance(version, str) else None
        if target is None:
            raise CommandError(f"Invalid version '{version}'", "upgrade_version_invalid")
        if channel not in (cfg.get("allowed_channels") or []):
            raise CommandError(f"Channel '{channel}' is not allowed on this node",
                               "upgrade_channel_not_allowed")
        current = _version_tuple(self.model.software_version) or (0, 0, 0)
        if target <= current:
            raise CommandError(f"Version {version} is not newer than "
                               f"{self.model.software_version}", "upgrade_version_too_old")
        if self.upgrading:
            raise CommandError(f"An upgrade to {self.upgrading} is already in progress",
                               "upgrade_in_progress")
        self.upgrading = version
        from_version = self.model.software_version
        self.emit(event("info", "upgrade", f"Upgrade to {version} started",
                        details={"error_code": "upgrade_started", "from_version": from_version,
                                 "to_version": version, "channel": channel}))
        await asyncio.sleep(self.node.options.upgrade_download_secs)
        self.emit(event("info", "upgrade", f"Upgrade to {version} staged",
                        details={"error_code": "upgrade_staged", "from_version": from_version,
                                 "to_version": version, "channel": channel}))
        self.pending_upgrade_event = event(
            "info", "upgrade", f"Upgrade to {version} completed",
            details={"error_code": "upgrade_completed", "from_version": from_version,
                     "to_version": version, "channel": channel})
        asyncio.ensure_future(self._exit_for_upgrade(version))
        return {"status": "staged", "from_version": from_version, "to_version": version,
                "channel": channel, "variant": action.get("variant") or "default",
                "arch": action.get("target_arch") or "x86_64-linux"}

    async def _exit_for_upgrade(self, version: str) -> None:
        await asyncio.sleep(self.node.options.upgrade_exit_secs)
        self.model.software_version = version
        self.node.request_restart()


def chaos_tick(node: "SimulatedNode", session: "Session", interval: float) -> None:
    """--chaos: now and then drop the connection or send a malformed frame."""
    chaos = node.options.chaos
    rng = node.rng
    per_tick = interval / 60.0
    if rng.random() < chaos.malformed_per_min * per_tick:
        session.send(rng.choice(('{"type":"stats","payload":{"flows":[',
                                 "not json at all", '{"type":', "\u0000\u0001garbage")))
    if rng.random() < chaos.drop_per_min * per_tick:
        session.abort()
