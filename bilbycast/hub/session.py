"""One authenticated node connection and its command correlation (node-protocol §5.3).

Acks are matched by command_id only (edges answer out of order). `get_config` has no ack on edge
and relay: the next id-less `config_response` answers it, so at most one is outstanding and
concurrent callers share it. Relays and gateways run one command at a time, so commands to them
are sent one after another and each timeout starts when its command is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from ..services.errors import ApiError
from ..timeutil import now_iso

log = logging.getLogger("bilbycast.hub")

MAX_IN_FLIGHT = 16


@dataclass
class PendingCommand:
    command_id: str
    action_type: str
    future: asyncio.Future
    sent_monotonic: float


class NodeSession:
    """Owned by the hub while authenticated; `send` and `close` come from the WebSocket handler."""

    def __init__(self, node_id: str, device_type: str, *, sequential: bool, remote_addr: str,
                 send: Callable[[str], Awaitable[None] | None], close: Callable[[int, str], None],
                 ping: Callable[[], None]):
        self.id = str(uuid.uuid4())
        self.node_id = node_id
        self.device_type = device_type
        self.remote_addr = remote_addr
        self._send = send
        self._close = close
        self._ping = ping
        self.sequential = sequential
        self._turn = asyncio.Lock() if sequential else None
        self.pending: dict[str, PendingCommand] = {}
        self.in_flight = 0
        self.config_future: asyncio.Future | None = None
        self.config_command_id: str | None = None
        self._orphaned_config_futures: list[asyncio.Future] = []  # timed out once, others may still wait
        self.closed = False
        self._close_sent = False
        self.connected_monotonic = time.monotonic()
        self.first_health_seen = False
        self.replays_stale_frames = False  # gateway sidecars: apply health/stats newer than the last only
        self.malformed_frames = 0

    # -- outbound --------------------------------------------------------------------------
    def send_json(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise ApiError(502, "node_disconnected", "Node disconnected before acknowledging command")
        try:
            result = self._send(json.dumps(message, separators=(",", ":")))
        except Exception:  # noqa: BLE001 - the socket closed under us (on_close not yet processed)
            raise ApiError(502, "node_disconnected", "Node disconnected before acknowledging command") from None
        if asyncio.isfuture(result):
            result.add_done_callback(_ignore_closed)

    def ping(self) -> None:
        if not self.closed:
            self._ping()

    def close(self, code: int, reason: str) -> None:
        # Independent of `closed` (which fail_all sets): a replaced session has its commands
        # failed first and must still have its socket closed.
        if not self._close_sent:
            self._close_sent = True
            self._close(code, reason)

    # -- commands --------------------------------------------------------------------------
    async def run_command(self, action: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one command and wait for its ack; returns the ack payload (success or not)."""
        if self.in_flight >= MAX_IN_FLIGHT:
            raise ApiError(429, "node_busy", f"{MAX_IN_FLIGHT} commands are already in flight for this node",
                           retry_after_secs=1)
        self.in_flight += 1
        try:
            if self._turn is None:
                return await self._send_and_wait(action, timeout)
            async with self._turn:
                return await self._send_and_wait(action, timeout)
        finally:
            self.in_flight -= 1

    async def _send_and_wait(self, action: dict[str, Any], timeout: float) -> dict[str, Any]:
        command_id = str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self.pending[command_id] = PendingCommand(command_id, action.get("type", ""), future, time.monotonic())
        try:
            self.send_json({"type": "command", "timestamp": now_iso(),
                            "payload": {"command_id": command_id, "action": action}})
            ack = await asyncio.wait_for(asyncio.shield(future), timeout)
            return {**ack, "command_id": command_id}
        except asyncio.TimeoutError:
            raise ApiError(504, "node_timeout", f"Command timed out waiting for node response ({timeout:g}s)",
                           command_id=command_id) from None
        finally:
            self.pending.pop(command_id, None)

    def on_ack(self, payload: dict[str, Any]) -> bool:
        """Resolve the waiting command; False when nothing waited for this id."""
        command_id = payload.get("command_id")
        if command_id is not None and command_id == self.config_command_id:
            # Gateways ack get_config before sending config_response: only a failure ends it.
            if payload.get("success") is False and self.config_future and not self.config_future.done():
                self.config_future.set_exception(_rejected(payload, command_id))
            return True
        pending = self.pending.get(command_id) if isinstance(command_id, str) else None
        if pending is None or pending.future.done():
            return False
        pending.future.set_result(payload)
        return True

    # -- get_config ------------------------------------------------------------------------
    async def fetch_config(self, timeout: float) -> dict[str, Any]:
        if self.config_future is None or self.config_future.done():
            self.config_future = asyncio.get_running_loop().create_future()
            self.config_command_id = str(uuid.uuid4())
            self.send_json({"type": "command", "timestamp": now_iso(),
                            "payload": {"command_id": self.config_command_id, "action": {"type": "get_config"}}})
        future = self.config_future
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            # The node dropped (or never got) that get_config: the next read must ask again rather
            # than wait on a request that will never be answered. Callers already waiting keep
            # their own deadline; a late config_response still refreshes the cache.
            if self.config_future is future and not future.done():
                self._orphaned_config_futures.append(future)
                self.config_future = None
                self.config_command_id = None
            raise ApiError(504, "node_timeout", f"Command timed out waiting for node response ({timeout:g}s)") from None

    def on_config_response(self, config: Any) -> None:
        for future in [self.config_future, *self._orphaned_config_futures]:
            if future is not None and not future.done():
                future.set_result(config)
        self._orphaned_config_futures.clear()
        self.config_command_id = None

    # -- teardown --------------------------------------------------------------------------
    def fail_all(self) -> None:
        self.closed = True
        error = ApiError(502, "node_disconnected", "Node disconnected before acknowledging command")
        for pending in self.pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        config_futures = [self.config_future, *self._orphaned_config_futures]
        self._orphaned_config_futures = []
        for future in config_futures:
            if future is not None and not future.done():
                future.set_exception(error)
        for future in [p.future for p in self.pending.values()] + config_futures:
            if future is not None:
                future.add_done_callback(_consume)


def _rejected(ack: dict[str, Any], command_id: str | None) -> ApiError:
    message = ack.get("error") if isinstance(ack.get("error"), str) and ack.get("error") else "Command failed on node"
    error = ApiError(422, "node_rejected", message, node_error=message, command_id=command_id)
    code = ack.get("error_code")
    error.extra["node_error_code"] = code if isinstance(code, str) else None  # null when the node gave none
    return error


def rejection(ack: dict[str, Any]) -> ApiError:
    return _rejected(ack, ack.get("command_id"))


def _ignore_closed(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _consume(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()
