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
from ..services.history import ONE_SECOND_KEEP, TEN_SECOND_KEEP, TIERS, HistoryStore, bucketise
from ..timeutil import iso
from datetime import datetime, timezone

if TYPE_CHECKING:
    from ..app import ManagerApp
    from .live import NodeLive

log = logging.getLogger("bilbycast.history")

FLUSH_EVERY = 10.0
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
        if self._task:
            self._task.cancel()
        await asyncio.get_running_loop().run_in_executor(self._pool, self.store.close)
        self._pool.shutdown(wait=True)

    @property
    def queue_depth(self) -> int:
        return len(self.store._pending)

    def record(self, live: "NodeLive", stats: dict[str, Any]) -> None:
        driver = self.app.drivers.get(live.device_type)
        if driver is not None:
            self.store.record(live.id, driver.history_samples(stats))

    def record_health(self, live: "NodeLive", health: dict[str, Any]) -> None:
        driver = self.app.drivers.get(live.device_type)
        if driver is not None:
            self.store.record(live.id, driver.health_samples(health))

    def forget(self, node_id: str) -> None:
        self._pool.submit(self.store.forget, node_id)

    async def _flush_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            pending = self.store.take_pending()
            names = {s.key: s.entity_name for s in self.store.series.values()}
            try:
                await loop.run_in_executor(self._pool, self.store.write, pending, names)
            except Exception:  # noqa: BLE001
                log.exception("history flush failed; %d buckets lost", len(pending))
            if self.store.last_flush_secs > FLUSH_EVERY:
                log.warning("history writer is behind: last batch took %.1f s", self.store.last_flush_secs)

    async def prune(self) -> None:
        days = self.app.runtime_settings.get("stats_history_retention_days")
        await asyncio.get_running_loop().run_in_executor(self._pool, self.store.prune, days)

    # -- queries ---------------------------------------------------------------------------
    async def query(self, node_id: str, entity: str, entity_id: str | None, metrics: list[str] | None,
                    start: int, end: int, step: int | None, existing: set[str]) -> dict[str, Any]:
        now = int(time.time())
        if end <= start:
            raise ApiError(400, "invalid_query", "from must be before to")
        if start >= now - ONE_SECOND_KEEP:
            resolution, base = "1s", 1
        elif start >= now - TEN_SECOND_KEEP:
            resolution, base = "10s", TIERS["10s"]
        else:
            resolution, base = "5m", TIERS["5m"]
        if step is None:
            step = max(base, math.ceil((end - start) / DEFAULT_POINTS / base) * base)
        step = max(step, base)
        if (end - start) / step > MAX_POINTS:
            raise ApiError(400, "invalid_query", f"more than {MAX_POINTS} points per series; use a larger step")
        start -= start % step
        wanted = set(metrics) if metrics else None
        memory = {key: s for key, s in self.store.series.items()
                  if key[0] == node_id and key[1] == entity and (entity_id is None or key[2] == entity_id)
                  and (wanted is None or key[3] in wanted)}
        loop = asyncio.get_running_loop()
        stored = [] if resolution == "1s" else await loop.run_in_executor(
            self._pool, self.store.stored_series, node_id, entity)
        keys: dict[tuple, tuple[int | None, str | None]] = {}
        for key, series in memory.items():
            keys[key] = (None, series.entity_name)
        for sid, eid, name, metric in stored:
            key = (node_id, entity, eid, metric)
            if (entity_id is None or eid == entity_id) and (wanted is None or metric in wanted):
                keys[key] = (sid, keys.get(key, (None, name))[1] or name)
        if len(keys) > MAX_SERIES:
            raise ApiError(400, "invalid_query", f"more than {MAX_SERIES} series; filter by id or metric")
        out = []
        for key, (sid, name) in sorted(keys.items()):
            if resolution == "1s":
                series = memory.get(key)
                raw = [(ts, v, v, v) for ts, v in (series.points if series else ())]
            else:
                raw = await loop.run_in_executor(self._pool, self.store.stored_points, resolution, sid, start, end) \
                    if sid is not None else []
                series = memory.get(key)
                if series is not None:
                    raw += [row for tier, k, row in self.store._pending if tier == resolution and k == key]
                    bucket = series.buckets.get(resolution)
                    if bucket is not None:
                        raw.append(bucket.row())
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
