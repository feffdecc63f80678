"""Dashboard fan-out (api.md §15): state per browser connection, never a queue of frames.

Each connection keeps the last NodeLive it sent per node and a set of nodes changed since; a
1 s tick turns that into at most one `update` with only what changed, and only when the
previous write has flushed and under 256 KiB is buffered. A slow browser therefore gets merged
state, never a growing backlog. Events go out at once (≤ 20/s per connection, ≤ 100 pending),
and whatever cannot be sent is counted for `events_dropped`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..db.models import Event
from ..services.auth import Principal
from ..services.rbac import can_see_node
from ..timeutil import now_iso
from .hub import HubListener
from .live import NodeLive

if TYPE_CHECKING:
    from ..app import ManagerApp

log = logging.getLogger("bilbycast.dashboard")

MAX_PENDING_EVENTS = 100
EVENTS_PER_SECOND = 20
MAX_BUFFERED = 256 * 1024
TOO_SLOW_SECS = 30.0
RECHECK_SECS = 10.0
MAX_WATCH = 4


class DashboardClient:
    """One browser connection's state. `send` returns an awaitable that resolves when flushed."""

    def __init__(self, fanout: "DashboardFanout", principal: Principal, send: Callable[[str], Awaitable | None],
                 close: Callable[[int, str], None]):
        self.fanout = fanout
        self.principal = principal
        self._send = send
        self._close = close
        self.seq = 0
        self.sent_nodes: dict[str, dict[str, Any]] = {}
        self.changed: set[str] = set()
        self.removed: set[str] = set()
        self.pending_events: list[dict[str, Any]] = []
        self.dropped_events = 0
        self.events_this_second = 0
        self.second = 0
        self.watched: set[str] = set()
        self.watched_stats: dict[str, NodeLive] = {}
        self.last_counts: dict[str, int] | None = None
        self.buffered = 0
        self.unflushed_since: float | None = None
        self.closed = False
        self.last_recheck = time.monotonic()

    # -- writing ---------------------------------------------------------------------------
    def frame(self, kind: str, **fields: Any) -> None:
        self.seq += 1
        text = json.dumps({"type": kind, "seq": self.seq, "ts": now_iso(), **fields}, separators=(",", ":"))
        self.buffered += len(text)
        try:
            result = self._send(text)
        except Exception:  # noqa: BLE001 - closed underneath us
            self.closed = True
            return
        if asyncio.isfuture(result):
            result.add_done_callback(lambda f, n=len(text): self._flushed(f, n))
        else:
            self.buffered -= len(text)

    def _flushed(self, future: asyncio.Future, size: int) -> None:
        self.buffered -= size
        if not future.cancelled() and future.exception() is not None:
            self.closed = True

    def visible(self, node_id: str | None) -> bool:
        return can_see_node(self.principal.allowed_node_ids, node_id)

    # -- frames ----------------------------------------------------------------------------
    def send_snapshot(self) -> None:
        hub = self.fanout.app.hub
        nodes = []
        self.sent_nodes.clear()
        for live in sorted(hub.live.values(), key=lambda n: n.name.lower()):
            if not self.visible(live.id):
                continue
            item = self.fanout.node_live(live)
            self.sent_nodes[live.id] = item
            nodes.append(item)
        self.changed.clear()
        self.removed.clear()
        self.last_counts = self.fanout.counts_for(self)
        self.frame("snapshot", user={"id": self.principal.user_id, "role": self.principal.role},
                   counts=self.last_counts, nodes=nodes)

    def tick(self, now: float) -> None:
        if self.closed:
            return
        if self.buffered > 0:
            self.unflushed_since = self.unflushed_since or now
            if now - self.unflushed_since > TOO_SLOW_SECS:
                self._close(4008, "too_slow")
                self.closed = True
            if self.buffered >= MAX_BUFFERED:
                return
        else:
            self.unflushed_since = None
        self._flush_pending_events()
        if self.buffered > 0:
            return  # the previous write has not flushed: merge into the next tick
        updates = []
        for node_id in self.changed:
            live = self.fanout.app.hub.live.get(node_id)
            if live is None or not self.visible(node_id):
                continue
            item = self.fanout.node_live(live)
            previous = self.sent_nodes.get(node_id)
            if previous is None:
                delta = item
            else:
                delta = {k: v for k, v in item.items() if k == "id" or previous.get(k) != v}
                if len(delta) == 1:
                    continue  # nothing the browser shows changed
            self.sent_nodes[node_id] = item
            updates.append(delta)
        self.changed.clear()
        removed = sorted(self.removed)
        self.removed.clear()
        counts = self.fanout.counts_for(self)
        fields: dict[str, Any] = {}
        if counts != self.last_counts:
            fields["counts"] = self.last_counts = counts
        if updates or removed or fields:
            self.frame("update", nodes=updates, removed_node_ids=removed, **fields)
        for node_id, live in list(self.watched_stats.items()):
            if live.stats is not None:
                self.frame("node_stats", node_id=node_id, received_at=live.stats_received_at, stats=live.stats)
        self.watched_stats.clear()

    def _flush_pending_events(self) -> None:
        if self.dropped_events:
            self.frame("events_dropped", count=self.dropped_events)
            self.dropped_events = 0
        while self.pending_events and self._event_budget():
            self.frame("event", event=self.pending_events.pop(0))

    def _event_budget(self) -> bool:
        second = int(time.monotonic())
        if second != self.second:
            self.second, self.events_this_second = second, 0
        if self.events_this_second >= EVENTS_PER_SECOND or self.buffered >= MAX_BUFFERED:
            return False
        self.events_this_second += 1
        return True

    def offer_event(self, event: dict[str, Any]) -> None:
        if not self.visible(event.get("node_id")):
            return
        if not self.pending_events and self._event_budget():
            self.frame("event", event=event)
        elif len(self.pending_events) < MAX_PENDING_EVENTS:
            self.pending_events.append(event)
        else:
            self.dropped_events += 1

    def on_client_frame(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "ping":
            self.frame("pong", id=str(message.get("id"))[:64] if message.get("id") is not None else None)
        elif kind == "resync":
            self.send_snapshot()
        elif kind == "watch":
            ids = message.get("node_ids")
            hub = self.fanout.app.hub
            if isinstance(ids, list):
                self.watched = {i for i in ids if isinstance(i, str) and i in hub.live and self.visible(i)}
                self.watched = set(sorted(self.watched)[:MAX_WATCH])
                for node_id in self.watched:  # a watched node keeps 15 min of 1 s history
                    self.fanout.app.history.mark_hot(node_id)


class DashboardFanout(HubListener):
    def __init__(self, app: "ManagerApp"):
        self.app = app
        self.clients: set[DashboardClient] = set()
        self.alarms_by_node: dict[str | None, int] = {}
        self._task: asyncio.Task | None = None
        self.tick_seconds: list[float] = []

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        await self.recount_alarms()
        self.app.hub.listeners.append(self)
        self.app.events_ack_listeners.append(lambda: self.app.hub.spawn(self.recount_alarms()))
        self.app.user_change_listeners.append(lambda user_id: self.app.hub.spawn(self.recheck(user_id)))
        self._task = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        for client in list(self.clients):
            client._close(1001, "manager shutting down")

    async def recount_alarms(self) -> None:
        def count():
            query = (Event.select(Event.node_id, Event.id)
                     .where(Event.acknowledged_at.is_null() & Event.severity.in_(["warning", "critical"])))
            totals: dict[str | None, int] = {}
            for row in query.tuples():
                totals[row[0]] = totals.get(row[0], 0) + 1
            return totals

        self.alarms_by_node = await self.app.db.read(count)

    # -- helpers ---------------------------------------------------------------------------
    def node_live(self, live: NodeLive) -> dict[str, Any]:
        driver = self.app.drivers.get(live.device_type)
        item = live.public(driver.stale_after_secs if driver else 10)
        item["summary"] = self.app.hub.summary_of(live)
        item["health"] = live.health
        return item

    def counts_for(self, client: DashboardClient) -> dict[str, int]:
        counts = {"nodes_total": 0, "online": 0, "offline": 0, "pending": 0, "unacked_alarms": 0}
        allowed = client.principal.allowed_node_ids
        for live in self.app.hub.live.values():
            if allowed is not None and live.id not in allowed:
                continue
            counts["nodes_total"] += 1
            counts[live.status] = counts.get(live.status, 0) + 1
        if allowed is None:
            counts["unacked_alarms"] = sum(self.alarms_by_node.values())
        else:
            counts["unacked_alarms"] = sum(self.alarms_by_node.get(n, 0) for n in allowed)
        return counts

    # -- hub listener ----------------------------------------------------------------------
    def node_changed(self, live: NodeLive) -> None:
        for client in self.clients:
            client.changed.add(live.id)

    def stats_received(self, live: NodeLive) -> None:
        for client in self.clients:
            if live.id in client.watched:
                client.watched_stats[live.id] = live

    def node_status(self, live: NodeLive, old: str, new: str, reason: str) -> None:
        for client in list(self.clients):
            if client.visible(live.id) and not client.closed:
                client.frame("node_status", node_id=live.id, name=live.name, to=new, reason=reason, at=now_iso(),
                             **{"from": old})

    def node_removed(self, node_id: str) -> None:
        for client in self.clients:
            client.removed.add(node_id)
            client.changed.discard(node_id)
            client.sent_nodes.pop(node_id, None)

    def event_stored(self, event: dict[str, Any]) -> None:
        if event.get("severity") in ("warning", "critical"):
            key = event.get("node_id")
            self.alarms_by_node[key] = self.alarms_by_node.get(key, 0) + 1
        for client in self.clients:
            client.offer_event(event)

    # -- the tick --------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            started = time.perf_counter()
            now = time.monotonic()
            for client in list(self.clients):
                try:
                    client.tick(now)
                except Exception:  # noqa: BLE001 - one broken connection must not stop the others
                    log.exception("dashboard tick failed")
                if now - client.last_recheck >= RECHECK_SECS:
                    client.last_recheck = now
                    self.app.hub.spawn(self._recheck_client(client))
            self.tick_seconds.append(time.perf_counter() - started)
            del self.tick_seconds[:-60]

    async def recheck(self, user_id: str) -> None:
        for client in list(self.clients):
            if client.principal.user_id == user_id:
                await self._recheck_client(client)

    async def _recheck_client(self, client: DashboardClient) -> None:
        """Re-read role, is_active, allowlist and session; close 4001 when no longer valid."""
        from ..services.auth import _load_principal

        p = client.principal
        fresh = await self.app.db.read(_load_principal, p.session_id, p.user_id, "cookie")
        if client.closed:
            return
        if fresh is None:
            client._close(4001, "session_invalid")
            client.closed = True
            return
        allowlist_changed = fresh.allowed_node_ids != p.allowed_node_ids
        client.principal = fresh
        if allowlist_changed or fresh.role != p.role:
            client.send_snapshot()
