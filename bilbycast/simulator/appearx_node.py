"""The appear_x gateway-sidecar personality (sidecar 0.11.8 on gateway SDK 0.10.1), §13.

* auth frame with ``timestamp`` and ``device_type``; ``register_ack`` missing a field is a
  failure; ``auth_error`` raises no event and the reason is read from ``payload.error``,
  ``payload.message`` or the top-level ``message``;
* reconnect backoff 1, 2, 5, 10, 30, 30, … s, reset after a connection that authenticated;
* frames are produced by the sidecar's pollers whether or not the link is up and wait in a
  256-frame queue with their original timestamps (when it is full the pollers stall); nothing
  is sent right after auth except that stale-frame flush (quirk 41);
* health: the first of every process says the target is unreachable (quirk 38), discovery
  beats every 10 s until discovery succeeds, then the alarm poller every 10 s, plus the bare
  SDK heartbeat every 300 s (quirk 39); stats (56 keys) every 5 s after discovery;
* commands inline, one at a time; nothing else — not even a Pong — is processed or sent while
  one runs (quirk 43); ``get_config`` → success ack, then ``config_response``; every failure
  has an ``error_code``; ``rotate_secret`` → ``unknown_action``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from .appearx_model import Chassis
from .edge_node import _version_tuple, chaos_tick
from .telemetry_relay import appearx_health, appearx_stats
from .wire import (APPEARX_PROTOCOL, CommandError, ack_failure, ack_success, envelope, event,
                   utc_timestamp)

log = logging.getLogger("bilbycast.simulator")

if TYPE_CHECKING:  # pragma: no cover
    from .node import Session, SimulatedNode

OUTBOX_LIMIT = 256


class AppearXPersonality:
    protocol_version = APPEARX_PROTOCOL
    event_queue_limit = 0           # events go through the frame outbox instead
    accepts_incomplete_register_ack = False

    def __init__(self, node: "SimulatedNode"):
        self.node = node
        self.outbox: deque = deque()
        self.busy = False
        self.backoff_index = 0
        self.producer: asyncio.Task | None = None
        self.upgrading: str | None = None
        self.allowed_channels = ("stable",)
        self.chassis = self._new_chassis()

    def _new_chassis(self) -> Chassis:
        return Chassis(index=self.node.index, rng=self.node.rng, emit=self.emit,
                       discovery_secs=self.node.options.discovery_secs,
                       gateway_host=f"{self.node.name}-gw")

    @property
    def software_version(self) -> str:
        return self.chassis.software_version

    # ------------------------------------------------------------------ auth
    def empty_auth_payload(self) -> dict:
        return {"software_version": self.software_version, "device_type": "appear_x",
                "protocol_version": self.protocol_version}

    def decorate_auth_payload(self, payload: dict) -> dict:
        payload["device_type"] = "appear_x"
        return payload

    def auth_frame(self, payload: dict) -> dict:
        return {"type": "auth", "timestamp": utc_timestamp(), "payload": payload}

    @staticmethod
    def auth_error_message(msg: dict) -> str:
        payload = msg.get("payload") if isinstance(msg.get("payload"), dict) else {}
        for value in (payload.get("error"), payload.get("message"), msg.get("message")):
            if isinstance(value, str):
                return value
        return "Unknown auth error"

    def on_auth_error(self, message: str) -> None:
        pass                                   # sidecars raise no event

    def registered(self) -> None:
        pass                                   # credentials.json written by node.persist

    def link_down(self, clean: bool, authenticated: bool) -> None:
        pass

    def reconnect_delay(self, authenticated: bool) -> float:
        steps = self.node.options.sidecar_backoff
        if authenticated:
            self.backoff_index = 0
        delay = steps[min(self.backoff_index, len(steps) - 1)]
        self.backoff_index += 1
        return float(delay)

    # ------------------------------------------------------------------ process lifecycle
    def process_started(self) -> None:
        self.producer = asyncio.ensure_future(self._produce())

    def process_restarted(self) -> None:
        version = self.upgrading or self.chassis.software_version
        if self.producer is not None:
            self.producer.cancel()
        self.outbox.clear()
        self.chassis = self._new_chassis()
        self.chassis.software_version = version
        self.upgrading = None
        self.backoff_index = 0
        self.producer = asyncio.ensure_future(self._produce())

    def process_stopped(self) -> None:
        if self.producer is not None:
            self.producer.cancel()

    # ------------------------------------------------------------------ frames
    def _produce_frame(self, frame: dict) -> None:
        if len(self.outbox) >= OUTBOX_LIMIT:
            return                              # queue full: the pollers stall
        self.outbox.append(frame)
        self._pump()

    def emit(self, payload: dict) -> None:
        self._produce_frame(envelope("event", payload))

    def _pump(self) -> None:
        session = self.node.session
        if self.outbox and session is not None and not session.closed and not self.busy:
            frames = list(self.outbox)
            self.outbox.clear()
            session.send(*frames)

    async def _produce(self) -> None:
        """The sidecar's pollers, independent of the manager link."""
        opts = self.node.options
        chassis = self.chassis
        loop = asyncio.get_running_loop()
        self._produce_frame(envelope("health", appearx_health(chassis, phase="first")))
        now = loop.time()
        jitter = self.node.rng.uniform(0, 1) if opts.jitter else 0.0
        next_poll = now + opts.sidecar_poll_interval + jitter
        next_stats = now + opts.discovery_secs + opts.sidecar_stats_interval + jitter
        next_heartbeat = now + opts.sidecar_heartbeat_interval
        next_refresh = now + opts.sidecar_alarm_refresh
        while True:
            wake = min(next_poll, next_stats, next_heartbeat, next_refresh)
            await asyncio.sleep(max(0.0, wake - loop.time()))
            now = loop.time()
            if now >= next_poll:
                next_poll += opts.sidecar_poll_interval
                if chassis.discovered:
                    chassis.poll()
                    self._produce_frame(envelope("health", appearx_health(chassis, phase="poll")))
                else:
                    chassis.discovery_attempts += 1
                    chassis.consecutive_failures = chassis.discovery_attempts
                    self._produce_frame(envelope("health",
                                                 appearx_health(chassis, phase="discovery")))
            if now >= next_stats:
                next_stats += opts.sidecar_stats_interval
                if chassis.discovered:
                    self._produce_frame(envelope("stats", appearx_stats(chassis)))
            if now >= next_heartbeat:
                next_heartbeat += opts.sidecar_heartbeat_interval
                self._produce_frame(envelope("health", appearx_health(chassis,
                                                                      phase="heartbeat")))
            if now >= next_refresh:
                next_refresh += opts.sidecar_alarm_refresh
                chassis.reemit_alarms()

    # ------------------------------------------------------------------ session
    def on_authenticated(self, session: "Session") -> None:
        self.backoff_index = 0
        self._pump()                            # the stale-frame flush, nothing else
        if self.node.options.chaos is not None:
            session.spawn(self._chaos(session))

    def on_session_end(self, session: "Session") -> None:
        self.busy = False

    async def _chaos(self, session: "Session") -> None:
        while not session.closed:
            await asyncio.sleep(5.0)
            if not self.busy:
                chaos_tick(self.node, session, 5.0)

    async def on_frame(self, session: "Session", frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ping":
            session.send(envelope("pong", None))
        elif kind == "command":
            self.busy = True
            try:
                await self._command(session, frame.get("payload"))
            finally:
                self.busy = False
                self._pump()

    async def on_binary(self, session: "Session", data: bytes) -> None:
        return None                             # ignored by sidecars

    async def _command(self, session: "Session", payload: Any) -> None:
        payload = payload if isinstance(payload, dict) else {}
        cid = payload.get("command_id")
        cid = cid if isinstance(cid, str) else ""
        action = payload.get("action") if isinstance(payload.get("action"), dict) else {}
        kind = action.get("type")
        rng, opts = self.node.rng, self.node.options
        await asyncio.sleep(rng.uniform(*opts.sidecar_command_secs))   # the chassis round trip
        chaos = opts.chaos
        if chaos is not None and rng.random() < chaos.ack_delay_prob:
            await asyncio.sleep(rng.uniform(*chaos.ack_delay_secs))
        if kind == "get_config":
            session.send(ack_success(cid))
            session.send(envelope("config_response", appearx_stats(self.chassis)))
            return
        try:
            if kind == "upgrade_binary":
                data = await self._upgrade_binary(action)
            else:
                data = self.chassis.execute(action)
        except CommandError as exc:
            session.send(ack_failure(cid, exc.message, exc.code or "vendor_api_error",
                                     exc.details))
            return
        except Exception as exc:                                     # a simulator bug
            log.exception("%s: %s failed", self.node.name, kind)
            session.send(ack_failure(cid, f"internal error: {exc}", "vendor_api_error"))
            return
        session.send(ack_success(cid, data))

    async def _upgrade_binary(self, action: dict) -> dict:
        version, channel = action.get("version"), action.get("channel")
        if not isinstance(version, str) or _version_tuple(version) is None:
            raise CommandError(f"Invalid version '{version}'", "upgrade_version_invalid")
        if not isinstance(channel, str) or channel not in self.allowed_channels:
            raise CommandError(f"Channel '{channel}' is not allowed",
                               "upgrade_channel_not_allowed")
        current = _version_tuple(self.software_version) or (0, 0, 0)
        if _version_tuple(version) <= current:  # type: ignore[operator]
            raise CommandError(f"Version {version} is not newer than {self.software_version}",
                               "upgrade_version_too_old")
        if self.upgrading:
            raise CommandError("An upgrade is already in progress", "upgrade_in_progress")
        self.upgrading = version
        from_version = self.software_version
        self.emit(event("info", "upgrade", f"Upgrade to {version} started",
                        details={"error_code": "upgrade_started", "from_version": from_version,
                                 "to_version": version, "channel": channel}))
        await asyncio.sleep(self.node.options.upgrade_download_secs)
        asyncio.ensure_future(self._exit_for_upgrade())
        return {"status": "staged", "from_version": from_version, "to_version": version,
                "channel": channel, "variant": action.get("variant") or "default",
                "arch": action.get("target_arch") or "x86_64-linux"}

    async def _exit_for_upgrade(self) -> None:
        await asyncio.sleep(self.node.options.upgrade_exit_secs)
        self.node.request_restart()
