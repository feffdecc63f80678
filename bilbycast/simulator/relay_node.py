"""The bilbycast-relay personality (relay 0.10.6, protocol_version 1), node-protocol §9.

Differences from the edge that matter on the wire:

* commands run inline, one at a time, in arrival order (a slow one delays the rest);
* failure acks never carry ``error_code``; ``rotate_secret`` / ``configure_distribution`` acks
  always carry ``error`` (``null`` on success);
* ``get_config`` returns the **startup** config with ``node_secret`` / ``api_token`` replaced
  by ``***REDACTED***`` — on a relay that registered in this process it still holds the
  consumed token and no ``node_id`` (quirk 23);
* persisting ``rotate_secret`` / ``configure_distribution`` writes the startup config plus the
  one change, so a relay that registered in this process loses its fresh ``node_id`` from
  the state file (quirk 11) — after its next restart it presents the consumed token forever;
* ``Manager connection lost, rotating to next URL`` also after a clean close (quirk 27);
* event queue of 1024; no thumbnails, no binary frames.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .edge_node import chaos_tick
from .relay_model import RelayModel
from .telemetry_relay import RelayTelemetry
from .wire import RELAY_PROTOCOL, CommandError, ack_failure, ack_success, envelope, event

log = logging.getLogger("bilbycast.simulator")

if TYPE_CHECKING:  # pragma: no cover
    from .node import Session, SimulatedNode

_ALWAYS_ERROR = ("rotate_secret", "configure_distribution")


class RelayPersonality:
    protocol_version = RELAY_PROTOCOL
    event_queue_limit = 1024
    accepts_incomplete_register_ack = True

    def __init__(self, node: "SimulatedNode"):
        self.node = node
        self.model = self._new_model()
        self.telemetry = RelayTelemetry(self.model, node.rng)
        self._last = None

    def _new_model(self) -> RelayModel:
        node = self.node
        self.startup_entry = {k: node.entry.get(k) for k in ("registration_token", "node_id",
                                                              "node_secret")}
        return RelayModel(name=node.name, urls=node.options.urls, index=node.index,
                          registry=node.registry, rng=node.rng,
                          accept_self_signed_cert=node.options.accept_self_signed_cert,
                          manager=dict(self.startup_entry))

    @property
    def software_version(self) -> str:
        return self.model.software_version

    # ------------------------------------------------------------------ auth
    def empty_auth_payload(self) -> dict:
        return {}

    def decorate_auth_payload(self, payload: dict) -> dict:
        return payload

    def auth_frame(self, payload: dict) -> dict:
        return {"type": "auth", "payload": payload}

    @staticmethod
    def auth_error_message(msg: dict) -> str:
        message = msg.get("message")
        return message if isinstance(message, str) else "Unknown auth error"

    def on_auth_error(self, message: str) -> None:
        self.node.queue_event(event("critical", "manager",
                                    f"Manager authentication failed: {message}"), dedupe=True)

    def registered(self) -> None:
        pass            # the whole plaintext config file was rewritten (node.entry)

    def link_down(self, clean: bool, authenticated: bool) -> None:
        self.node.queue_event(event("warning", "manager",
                                    "Manager connection lost, rotating to next URL"),
                              dedupe=True)

    def reconnect_delay(self, authenticated: bool) -> float:
        return self.node.options.reconnect_delay

    # ------------------------------------------------------------------ process lifecycle
    def process_started(self) -> None:
        pass

    def process_restarted(self) -> None:
        self.model = self._new_model()             # authorisations were in memory only
        self.telemetry = RelayTelemetry(self.model, self.node.rng)

    def process_stopped(self) -> None:
        pass

    # ------------------------------------------------------------------ outbound
    def emit(self, payload: dict) -> None:
        session = self.node.session
        if session is not None and not session.closed:
            session.send(envelope("event", payload))
        else:
            self.node.queue_event(payload)

    def on_authenticated(self, session: "Session") -> None:
        frames = [envelope("event", event("info", "manager", "Connected to manager")),
                  envelope("health", self.telemetry.health_payload()),
                  envelope("health", self.telemetry.health_payload()),
                  envelope("stats", self.telemetry.stats_payload())]
        frames.extend(envelope("event", e) for e in self.node.events)
        self.node.events.clear()
        session.send(*frames)
        session.spawn(self._ticker(session))

    def on_session_end(self, session: "Session") -> None:
        pass

    async def _ticker(self, session: "Session") -> None:
        opts, rng = self.node.options, self.node.rng
        loop = asyncio.get_running_loop()
        interval = opts.stats_interval
        start = loop.time()
        next_tick = start + (rng.uniform(0.3, 1.0) * interval if opts.jitter else interval)
        next_health = start + opts.health_interval
        last = self._last or start
        while not session.closed:
            delay = next_tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            self.telemetry.advance(max(0.0, min(now - last, 86400.0)))
            last = self._last = now
            frames = [envelope("stats", self.telemetry.stats_payload())]
            if now >= next_health:
                frames.append(envelope("health", self.telemetry.health_payload()))
                next_health += opts.health_interval
                if next_health < now:
                    next_health = now + opts.health_interval
            fut = session.send(*frames)
            if opts.chaos is not None:
                chaos_tick(self.node, session, interval)
            next_tick += interval
            if next_tick < now:
                next_tick = now + interval
            if fut is not None:
                try:
                    await fut
                except Exception:
                    return

    # ------------------------------------------------------------------ inbound
    async def on_frame(self, session: "Session", frame: dict) -> None:
        kind = frame.get("type")
        if kind == "ping":
            session.send(envelope("pong", None))
        elif kind == "command":
            await self._command(session, frame.get("payload"))     # inline, sequential

    async def on_binary(self, session: "Session", data: bytes) -> None:
        return None                                                # the relay takes none

    async def _command(self, session: "Session", payload: Any) -> None:
        payload = payload if isinstance(payload, dict) else {}
        cid = payload.get("command_id")
        cid = cid if isinstance(cid, str) else "unknown"
        action = payload.get("action") if isinstance(payload.get("action"), dict) else {}
        kind = action.get("type")
        chaos = self.node.options.chaos
        if chaos is not None and self.node.rng.random() < chaos.ack_delay_prob:
            await asyncio.sleep(self.node.rng.uniform(*chaos.ack_delay_secs))
        if kind == "get_config":
            session.send(envelope("config_response", self.model.config_response()))
            return
        try:
            if kind == "rotate_secret":
                data = await self._rotate_secret(action)
            else:
                data = self.model.execute(action, self.telemetry)
                if kind == "configure_distribution":
                    await self._persist_startup_plus()
        except CommandError as exc:
            session.send(ack_failure(cid, exc.message))              # never error_code
            return
        except Exception as exc:                                     # a simulator bug
            log.exception("%s: %s failed", self.node.name, kind)
            session.send(ack_failure(cid, f"internal error: {exc}"))
            return
        ack = ack_success(cid, data)
        if kind in _ALWAYS_ERROR:
            ack["payload"]["error"] = None
        session.send(ack)

    async def _rotate_secret(self, action: dict) -> None:
        secret = action.get("new_secret")
        if not isinstance(secret, str) or not secret:
            raise CommandError("Missing new_secret")
        await self._persist_startup_plus(node_secret=secret)
        self.emit(event("info", "manager", "Secret rotated successfully"))
        return None

    async def _persist_startup_plus(self, **change: str) -> None:
        """Write the startup config plus one change (quirk 11)."""
        entry = self.node.entry
        if self.node.registered_this_process:
            for key, value in self.startup_entry.items():
                if value:
                    entry[key] = value
                else:
                    entry.pop(key, None)
        entry.update(change)
        try:
            await self.node.persist()
        except OSError as exc:
            self.emit(event("warning", "manager", f"Credential persistence failed: {exc}"))
