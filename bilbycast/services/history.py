"""Stats history (api.md §6.3, product.md §5.4): 1 s points in memory for 15 minutes, 10 s and
5 min aggregates persisted in history.db, so charts survive a stream ending and a restart.

The driver says which samples a stats message holds (`history_samples`); counters become
per-second rates here. Finished buckets queue up and are written every 10 s in one batch.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

TIERS = {"10s": 10, "5m": 300}
ONE_SECOND_KEEP = 15 * 60
TEN_SECOND_KEEP = 24 * 3600
MAX_SERIES_PER_NODE = 2000
MAX_SERIES_TOTAL = 50_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, node_id TEXT NOT NULL, entity TEXT NOT NULL, entity_id TEXT NOT NULL,
    entity_name TEXT, metric TEXT NOT NULL, UNIQUE (node_id, entity, entity_id, metric));
CREATE TABLE IF NOT EXISTS points_10s (series_id INTEGER NOT NULL, ts INTEGER NOT NULL,
    avg REAL, min REAL, max REAL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points_5m (series_id INTEGER NOT NULL, ts INTEGER NOT NULL,
    avg REAL, min REAL, max REAL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID;
"""


@dataclass
class Bucket:
    start: int
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1
        self.low = min(self.low, value)
        self.high = max(self.high, value)

    def row(self) -> tuple[int, float, float, float]:
        return self.start, self.total / self.count, self.low, self.high


@dataclass
class Series:
    key: tuple[str, str, str, str]        # node_id, entity, entity_id, metric
    entity_name: str | None
    points: deque = field(default_factory=lambda: deque(maxlen=ONE_SECOND_KEEP))
    buckets: dict[str, Bucket] = field(default_factory=dict)
    last_raw: tuple[float, float] | None = None  # (monotonic, counter value) for rates
    last_second: int = -1
    db_id: int | None = None


class HistoryStore:
    """Owns history.db (its own writer thread: one connection, batched transactions)."""

    def __init__(self, path: Path):
        self.path = path
        self.series: dict[tuple[str, str, str, str], Series] = {}
        self.by_node: dict[str, set[tuple[str, str, str, str]]] = {}
        self._pending: list[tuple[str, tuple, tuple]] = []
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.dropped_series = 0
        self.last_flush_secs = 0.0

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self.flush(final=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- recording (event loop) ------------------------------------------------------------
    def record(self, node_id: str, samples: Iterable[tuple], now: float | None = None) -> None:
        wall = time.time() if now is None else now
        second = int(wall)
        mono = time.monotonic()
        for entity, entity_id, entity_name, metric, value, is_counter in samples:
            if value is None or isinstance(value, bool):
                continue
            key = (node_id, entity, entity_id or node_id, metric)
            series = self.series.get(key)
            if series is None:
                series = self._new_series(key, entity_name)
                if series is None:
                    continue
            elif entity_name and entity_name != series.entity_name:
                series.entity_name = entity_name
            value = float(value)
            if is_counter:
                previous, series.last_raw = series.last_raw, (mono, value)
                if previous is None or value < previous[1] or mono <= previous[0]:
                    continue  # first sample or a counter reset: no rate yet
                value = (value - previous[1]) / (mono - previous[0])
            if second == series.last_second:
                continue
            series.last_second = second
            series.points.append((second, value))
            self._aggregate(series, second, value)

    def _new_series(self, key: tuple, entity_name: str | None) -> Series | None:
        node_keys = self.by_node.setdefault(key[0], set())
        if len(node_keys) >= MAX_SERIES_PER_NODE or len(self.series) >= MAX_SERIES_TOTAL:
            self.dropped_series += 1
            return None
        series = self.series[key] = Series(key, entity_name)
        node_keys.add(key)
        return series

    def _aggregate(self, series: Series, second: int, value: float) -> None:
        for tier, size in TIERS.items():
            start = second - second % size
            bucket = series.buckets.get(tier)
            if bucket is not None and bucket.start != start:
                self._pending.append((tier, series.key, bucket.row()))
                bucket = None
            if bucket is None:
                bucket = series.buckets[tier] = Bucket(start)
            bucket.add(value)

    def forget(self, node_id: str) -> None:
        for key in self.by_node.pop(node_id, set()):
            self.series.pop(key, None)
        self._pending = [p for p in self._pending if p[1][0] != node_id]
        with self._lock:
            if self._conn is not None:
                ids = [r[0] for r in self._conn.execute("SELECT id FROM series WHERE node_id = ?", (node_id,))]
                for sid in ids:
                    for tier in TIERS:
                        self._conn.execute(f"DELETE FROM points_{tier} WHERE series_id = ?", (sid,))
                self._conn.execute("DELETE FROM series WHERE node_id = ?", (node_id,))

    # -- persistence (a worker thread) -----------------------------------------------------
    def take_pending(self, final: bool = False) -> list[tuple[str, tuple, tuple]]:
        pending, self._pending = self._pending, []
        if final:
            for series in self.series.values():
                for tier, bucket in series.buckets.items():
                    pending.append((tier, series.key, bucket.row()))
        return pending

    def write(self, pending: list[tuple[str, tuple, tuple]], names: dict[tuple, str | None]) -> None:
        if not pending or self._conn is None:
            return
        started = time.monotonic()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                ids: dict[tuple, int] = {}
                for tier, key, row in pending:
                    sid = ids.get(key)
                    if sid is None:
                        conn.execute("INSERT OR IGNORE INTO series (node_id, entity, entity_id, entity_name, metric) "
                                     "VALUES (?, ?, ?, ?, ?)", (key[0], key[1], key[2], names.get(key), key[3]))
                        sid = ids[key] = conn.execute(
                            "SELECT id FROM series WHERE node_id=? AND entity=? AND entity_id=? AND metric=?",
                            key).fetchone()[0]
                    conn.execute(f"INSERT OR REPLACE INTO points_{tier} (series_id, ts, avg, min, max) "
                                 "VALUES (?, ?, ?, ?, ?)", (sid, *row))
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
        self.last_flush_secs = time.monotonic() - started

    def flush(self, final: bool = False) -> None:
        pending = self.take_pending(final)
        names = {s.key: s.entity_name for s in self.series.values()}
        self.write(pending, names)

    def prune(self, retention_days: int) -> None:
        now = int(time.time())
        with self._lock:
            if self._conn is None:
                return
            self._conn.execute("DELETE FROM points_10s WHERE ts < ?", (now - TEN_SECOND_KEEP,))
            self._conn.execute("DELETE FROM points_5m WHERE ts < ?", (now - retention_days * 86400,))

    # -- queries (reader thread) -----------------------------------------------------------
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
        if not start <= ts < end:
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
        out.append([b, None, None, None] if entry is None else [b, entry[0] / entry[1], entry[2], entry[3]])
    return out
