"""Stats history (api.md §6.3, product.md §5.4): 1 s points in memory, 10 s and 5 min
aggregates persisted in history.db, so charts survive a stream ending and a manager restart.

Recording is on the hot path (every stats message of every node), so it only writes a float
into a per-series ring (implicit timestamps: slot = second % capacity). The 10 s and 5 min
aggregates are computed from the ring every 10 s by `harvest`, off the per-message path.

Rings hold 2 minutes for every node and grow to 15 minutes for "hot" nodes (a dashboard is
watching them or their history was read in the last 15 min): 5000 nodes x 23 series x 15 min
of float32 would be 415 MB, which an appliance should not spend on charts nobody looks at.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from array import array
from pathlib import Path
from typing import Any, Iterable

COLD_SECONDS = 120
HOT_SECONDS = 15 * 60
TEN_SECOND_KEEP = 24 * 3600
MAX_SERIES_PER_NODE = 2000
MAX_SERIES_TOTAL = 50_000
NAN = float("nan")

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, node_id TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL,
    entity_name TEXT, metric TEXT NOT NULL, UNIQUE (node_id, entity, entity_id, metric));
CREATE TABLE IF NOT EXISTS points_10s (series_id INTEGER NOT NULL, ts INTEGER NOT NULL,
    avg REAL, min REAL, max REAL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points_5m (series_id INTEGER NOT NULL, ts INTEGER NOT NULL,
    avg REAL, min REAL, max REAL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
"""


class Series:
    __slots__ = ("node_id", "entity", "entity_id", "metric", "entity_name", "ring", "times", "last_second",
                 "counter_prev", "harvested_to", "five", "db_id")

    def __init__(self, node_id: str, entity: str, entity_id: str, metric: str, entity_name: str | None,
                 capacity: int):
        self.node_id, self.entity, self.entity_id, self.metric = node_id, entity, entity_id, metric
        self.entity_name = entity_name
        self.ring = array("f", [NAN]) * capacity
        self.times = array("l", [0]) * capacity   # which second each slot holds (slots get reused)
        self.last_second = 0
        self.counter_prev: tuple[float, float] | None = None
        self.harvested_to = 0                     # 10 s buckets before this second are aggregated
        self.five: list[float] | None = None      # running 5 min bucket: [start, sum, n, min, max]
        self.db_id: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.node_id, self.entity, self.entity_id, self.metric

    def grow(self, capacity: int) -> None:
        if capacity <= len(self.ring):
            return
        points = self.points()
        self.ring = array("f", [NAN]) * capacity
        self.times = array("l", [0]) * capacity
        for second, value in points:
            slot = second % capacity
            self.ring[slot], self.times[slot] = value, second

    def points(self, since: int = 0) -> list[tuple[int, float]]:
        out = [(t, v) for t, v in zip(self.times, self.ring) if t and t >= since and v == v]
        out.sort()
        return out


class HistoryStore:
    """The series in memory plus history.db (written by one worker thread)."""

    def __init__(self, path: Path):
        self.path = path
        self.nodes: dict[str, dict[tuple, Series]] = {}
        self.hot_until: dict[str, float] = {}
        self.total_series = 0
        self.dropped_series = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.last_flush_secs = 0.0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- recording (event loop, hot path) --------------------------------------------------
    def record(self, node_id: str, samples: Iterable[tuple], now: float | None = None) -> None:
        wall = time.time() if now is None else now
        second = int(wall)
        series_map = self.nodes.get(node_id)
        if series_map is None:
            series_map = self.nodes[node_id] = {}
        for entity, entity_id, entity_name, metric, value, is_counter in samples:
            if value is None or value is True or value is False:
                continue
            key = (entity, entity_id, metric)
            series = series_map.get(key)
            if series is None:
                series = self._new_series(node_id, series_map, key, entity_id or node_id, entity_name)
                if series is None:
                    continue
            if is_counter:
                previous = series.counter_prev
                series.counter_prev = (wall, value)
                if previous is None or value < previous[1] or wall <= previous[0]:
                    continue  # first sample or a counter reset: no rate yet
                value = (value - previous[1]) / (wall - previous[0])
            if second == series.last_second:
                continue
            series.last_second = second
            slot = second % len(series.ring)
            series.ring[slot] = value
            series.times[slot] = second

    def _new_series(self, node_id: str, series_map: dict, key: tuple, entity_id: str,
                    entity_name: str | None) -> Series | None:
        if len(series_map) >= MAX_SERIES_PER_NODE or self.total_series >= MAX_SERIES_TOTAL:
            self.dropped_series += 1
            return None
        capacity = HOT_SECONDS if self.is_hot(node_id) else COLD_SECONDS
        series = Series(node_id, key[0], entity_id, key[2], entity_name, capacity)
        series_map[key] = series
        self.total_series += 1
        return series

    def is_hot(self, node_id: str) -> bool:
        return self.hot_until.get(node_id, 0) > time.monotonic()

    def mark_hot(self, node_id: str) -> None:
        """Someone looks at this node: keep 15 minutes of 1 s points from now on."""
        self.hot_until[node_id] = time.monotonic() + HOT_SECONDS
        for series in self.nodes.get(node_id, {}).values():
            series.grow(HOT_SECONDS)

    def forget(self, node_id: str) -> None:
        self.total_series -= len(self.nodes.pop(node_id, {}))
        self.hot_until.pop(node_id, None)
        with self._lock:
            if self._conn is not None:
                ids = [r[0] for r in self._conn.execute("SELECT id FROM series WHERE node_id = ?", (node_id,))]
                for sid in ids:
                    self._conn.execute("DELETE FROM points_10s WHERE series_id = ?", (sid,))
                    self._conn.execute("DELETE FROM points_5m WHERE series_id = ?", (sid,))
                self._conn.execute("DELETE FROM series WHERE node_id = ?", (node_id,))

    # -- aggregation (event loop, every 10 s) ----------------------------------------------
    def harvest(self, now: float | None = None, node_ids: Iterable[str] | None = None) -> list[tuple[str, Series, tuple]]:
        """Finished 10 s buckets (and 5 min buckets) since the last harvest, as rows to write.

        It reads only the slots of the seconds since the last harvest. The recorder runs it on
        the event loop a few hundred nodes at a time (`node_ids`): pure-Python work on a worker
        thread would fight the loop for the GIL and stall every socket read."""
        current = int(time.time() if now is None else now)
        edge = current - current % 10
        rows: list[tuple[str, Series, tuple]] = []
        maps = list(self.nodes.values()) if node_ids is None else [self.nodes[n] for n in node_ids if n in self.nodes]
        for series_map in maps:
            for series in list(series_map.values()):
                if not series.last_second:
                    continue
                start = max(series.harvested_to, edge - len(series.ring))
                if start >= edge:
                    continue
                ring, times, capacity = series.ring, series.times, len(series.ring)
                buckets: dict[int, list[float]] = {}
                for t in range(start, edge):
                    slot = t % capacity
                    v = ring[slot]
                    if times[slot] == t and v == v:
                        b = buckets.get(t - t % 10)
                        if b is None:
                            buckets[t - t % 10] = [v, 1, v, v]
                        else:
                            b[0] += v
                            b[1] += 1
                            b[2] = v if v < b[2] else b[2]
                            b[3] = v if v > b[3] else b[3]
                for bstart in sorted(buckets):
                    total, count, low, high = buckets[bstart]
                    rows.append(("10s", series, (bstart, total / count, low, high)))
                    self._five(series, bstart, total, count, low, high, rows)
                series.harvested_to = edge
        return rows

    @staticmethod
    def _five(series: Series, bstart: int, total: float, count: int, low: float, high: float, rows: list) -> None:
        five_start = bstart - bstart % 300
        acc = series.five
        if acc is not None and acc[0] != five_start:
            rows.append(("5m", series, (int(acc[0]), acc[1] / acc[2], acc[3], acc[4])))
            acc = None
        if acc is None:
            series.five = [five_start, total, count, low, high]
        else:
            acc[1] += total
            acc[2] += count
            acc[3] = min(acc[3], low)
            acc[4] = max(acc[4], high)

    def open_buckets(self) -> list[tuple[str, Series, tuple]]:
        """The unfinished 5 min buckets, for a final flush at shutdown."""
        return [("5m", s, (int(s.five[0]), s.five[1] / s.five[2], s.five[3], s.five[4]))
                for m in self.nodes.values() for s in m.values() if s.five]

    # -- persistence (worker thread) -------------------------------------------------------
    def write(self, rows: list[tuple[str, Series, tuple]]) -> None:
        """rows: (tier, series, (ts, avg, min, max)), written in one transaction.

        A series gets its database id once (cached on the Series); the points then go in with
        one executemany per tier, so a 5000-node flush (115 000 rows) stays a short batch."""
        if not rows or self._conn is None:
            return
        started = time.monotonic()
        by_tier: dict[str, list[tuple]] = {}
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                for tier, series, row in rows:
                    if series.db_id is None:
                        conn.execute("INSERT OR IGNORE INTO series (node_id, entity, entity_id, entity_name, metric) "
                                     "VALUES (?, ?, ?, ?, ?)", (series.node_id, series.entity, series.entity_id,
                                                                series.entity_name, series.metric))
                        series.db_id = conn.execute(
                            "SELECT id FROM series WHERE node_id=? AND entity=? AND entity_id=? AND metric=?",
                            series.key).fetchone()[0]
                    by_tier.setdefault(tier, []).append((series.db_id, *row))
                for tier, values in by_tier.items():
                    conn.executemany(f"INSERT OR REPLACE INTO points_{tier} (series_id, ts, avg, min, max) "
                                     "VALUES (?, ?, ?, ?, ?)", values)
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
        self.last_flush_secs = time.monotonic() - started

    def prune(self, retention_days: int) -> None:
        now = int(time.time())
        with self._lock:
            if self._conn is None:
                return
            self._conn.execute("DELETE FROM points_10s WHERE ts < ?", (now - TEN_SECOND_KEEP,))
            self._conn.execute("DELETE FROM points_5m WHERE ts < ?", (now - retention_days * 86400,))

    # -- queries (worker thread) -----------------------------------------------------------
    def stored_series(self, node_id: str, entity: str) -> list[tuple[int, str, str | None, str]]:
        with self._lock:
            return list(self._conn.execute(
                "SELECT id, entity_id, entity_name, metric FROM series WHERE node_id = ? AND entity = ?",
                (node_id, entity)))

    def stored_points(self, tier: str, series_id: int, start: int, end: int) -> list[tuple]:
        with self._lock:
            return list(self._conn.execute(
                f"SELECT ts, avg, min, max FROM points_{tier} WHERE series_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (series_id, start, end)))


def bucketise(points: Iterable[tuple], start: int, end: int, step: int) -> list[list[Any]]:
    """Merge (ts, avg, min, max) points into [ts, avg, min, max] buckets of `step` s; gaps null."""
    sums: dict[int, list[float]] = {}
    for ts, avg, low, high in points:
        if not start <= ts < end or avg is None or (isinstance(avg, float) and math.isnan(avg)):
            continue
        b = ts - (ts - start) % step
        entry = sums.get(b)
        if entry is None:
            sums[b] = [avg, 1, low, high]
        else:
            entry[0] += avg
            entry[1] += 1
            entry[2] = min(entry[2], low)
            entry[3] = max(entry[3], high)
    out = []
    for b in range(start, end, step):
        entry = sums.get(b)
        out.append([b, None, None, None] if entry is None else [b, round(entry[0] / entry[1], 3), entry[2], entry[3]])
    return out
