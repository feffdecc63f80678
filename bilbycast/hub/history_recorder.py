"""The app's stats-history service: records samples the drivers extract from stats messages,
flushes finished buckets every 10 s on a worker thread, and answers history queries."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..services.errors import ApiError
from ..services.history import HOT_SECONDS, TEN_SECOND_KEEP, HistoryStore, bucketise
from ..timeutil import iso
from datetime import datetime, timezone

if TYPE_CHECKING:
    from ..app import ManagerApp
    from .live import NodeLive

log = logging.getLogger("bilbycast.history")

FLUSH_EVERY = 10.0
HARVEST_SLICE = 50
MAX_POINTS, DEFAULT_POINTS, MAX_SERIES = 2000, 720, 100


class HistoryRecorder:
    def __init__(self, app: "ManagerApp"):
        self.app = app
        self.store = HistoryStore(app.config.history_db_path)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="history")
        self._task: asyncio.Task | None = None

    def open(self) -> None:
        self.store.open()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_forever())

    async def stop(self) -> None:
        """Flush what is finished and the open 5 min buckets, then close history.db."""
        if self._task:
            self._task.cancel()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._flush_once, True)
        await loop.run_in_executor(self._pool, self.store.close)
        self._pool.shutdown(wait=True)

    @property
    def queue_depth(self) -> int:
        return self._queue_depth

    _queue_depth = 0

    def record(self, live: "NodeLive", stats: dict[str, Any]) -> None:
        # Nobody is looking at a "cold" node: one sample every 2 s keeps its 10 s / 5 min
        # aggregates and 2 s chart steps whole at half the cost on the hub's hot path. A watched
        # or queried node ("hot") is sampled every second.
        second = int(time.time())
        if second % 2 and not self.store.is_hot(live.id):
            return
        driver = self.app.drivers.get(live.device_type)
        if driver is not None:
            self.store.record(live.id, driver.history_samples(stats))

    def record_health(self, live: "NodeLive", health: dict[str, Any]) -> None:
        driver = self.app.drivers.get(live.device_type)
        if driver is not None:
            self.store.record(live.id, driver.health_samples(health))

    def forget(self, node_id: str) -> None:
        self._pool.submit(self.store.forget, node_id)

    def mark_hot(self, node_id: str) -> None:
        self.store.mark_hot(node_id)

    def _flush_once(self, final: bool = False) -> None:
        """Aggregate everything and write it (used at shutdown, on the worker thread)."""
        rows = self.store.harvest()
        if final:
            rows += self.store.open_buckets()
        self.store.write(rows)

    async def _harvest_in_slices(self) -> list:
        """Aggregate on the event loop, HARVEST_SLICE nodes at a time, yielding in between."""
        rows: list = []
        node_ids = list(self.store.nodes)
        now = time.time()
        for start in range(0, len(node_ids), HARVEST_SLICE):
            rows += self.store.harvest(now, node_ids[start:start + HARVEST_SLICE])
            await asyncio.sleep(0)
        return rows

    async def _flush_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            try:
                rows = await self._harvest_in_slices()
                self._queue_depth = len(rows)
                # sqlite releases the GIL while it steps, so the write itself can stay on a thread.
                await loop.run_in_executor(self._pool, self.store.write, rows)
                self._queue_depth = 0
            except Exception:  # noqa: BLE001
                log.exception("history flush failed")
            if self.store.last_flush_secs > FLUSH_EVERY:
                log.warning("history writer is behind: last batch took %.1f s", self.store.last_flush_secs)

    async def prune(self) -> None:
        days = self.app.runtime_settings.get("stats_history_retention_days")
        await asyncio.get_running_loop().run_in_executor(self._pool, self.store.prune, days)

    # -- queries ---------------------------------------------------------------------------
    async def query(self, node_id: str, entity: str, entity_id: str | None, metrics: list[str] | None,
                    start: int, end: int, step: int | None, existing: set[str]) -> dict[str, Any]:
        self.mark_hot(node_id)
        now = int(time.time())
        if end <= start:
            raise ApiError(400, "invalid_query", "from must be before to")
        memory = {s.key: s for s in self.store.nodes.get(node_id, {}).values()
                  if s.entity == entity and (entity_id is None or s.entity_id == entity_id)
                  and (not metrics or s.metric in metrics)}
        covered = min((s.points()[0][0] for s in memory.values() if s.points()), default=now)
        if start >= covered - 1 and start >= now - HOT_SECONDS:
            resolution, base = "1s", 1
        elif start >= now - TEN_SECOND_KEEP:
            resolution, base = "10s", 10
        else:
            resolution, base = "5m", 300
        if step is None:
            step = max(base, math.ceil((end - start) / DEFAULT_POINTS / base) * base)
        step = max(step, base)
        if (end - start) / step > MAX_POINTS:
            raise ApiError(400, "invalid_query", f"more than {MAX_POINTS} points per series; use a larger step")
        start -= start % step
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(self._pool, self.store.stored_series, node_id, entity)
        keys: dict[tuple, tuple[int | None, str | None]] = {key: (None, s.entity_name) for key, s in memory.items()}
        for sid, eid, name, metric in stored:
            key = (node_id, entity, eid, metric)
            if (entity_id is None or eid == entity_id) and (not metrics or metric in metrics):
                keys[key] = (sid, keys.get(key, (None, name))[1] or name)
        if len(keys) > MAX_SERIES:
            raise ApiError(400, "invalid_query", f"more than {MAX_SERIES} series; filter by id or metric")
        out = []
        for key, (sid, name) in sorted(keys.items()):
            series = memory.get(key)
            if resolution == "1s":
                raw = [(t, v, v, v) for t, v in (series.points(start) if series else ())]
            else:
                raw = await loop.run_in_executor(self._pool, self.store.stored_points, resolution, sid, start, end) \
                    if sid is not None else []
                if series is not None:  # the seconds not yet harvested into the database
                    since = max(series.harvested_to, raw[-1][0] + base if raw else 0)
                    raw += [(t, v, v, v) for t, v in series.points(since)]
            out.append({"entity": entity, "entity_id": key[2], "entity_name": name,
                        "entity_exists": key[2] in existing, "metric": key[3], "unit": _unit(key[3]),
                        "points": bucketise(raw, start, end, step)})
        return {"node_id": node_id, "from": _iso(start), "to": _iso(end), "step_secs": step,
                "resolution": resolution, "series": out}


def _unit(metric: str) -> str | None:
    if metric.endswith("_bps"):
        return "bps"
    if metric.endswith("_percent"):
        return "%"
    if metric.endswith("_ms"):
        return "ms"
    if metric.endswith(("_per_sec", "_lost", "_dropped", "_recovered", "_retransmitted")):
        return "1/s"
    return None


def _iso(ts: int) -> str:
    return iso(datetime.fromtimestamp(ts, timezone.utc))
