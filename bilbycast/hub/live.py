"""In-memory live state of every node: what the dashboard, the REST API and the topology read.

One `NodeLive` per node record. It is filled from the database at start (offline), then from
the node's own traffic. Nothing here touches the database or the network.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from datetime import datetime, timezone

from ..timeutil import iso, now_iso


def _iso_epoch(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, timezone.utc))

THUMBNAIL_MAX_BYTES = 512 * 1024


@dataclass
class Thumbnail:
    jpeg: bytes
    captured_at: str
    received_monotonic: float
    generation: int


@dataclass
class CachedConfig:
    config: dict[str, Any]
    fetched_at: str
    fetched_monotonic: float
    config_hash: str
    stale: bool = False


@dataclass
class NodeLive:
    id: str
    name: str
    device_type: str
    status: str = "offline"                      # pending | online | offline
    registered: bool = False
    expires_at: str | None = None
    software_version: str | None = None
    protocol_version: int | None = None
    capabilities: list[str] | None = None
    remote_addr: str | None = None
    connected_since: str | None = None
    last_seen_stored: str | None = None          # from the database, until the node speaks
    seen_wall: float = 0.0                       # time.time() of the last frame (hot path: no formatting)
    last_seen_monotonic: float = 0.0
    health_report: dict[str, Any] | None = None
    health_received_at: str | None = None
    health_node_ts: str | None = None
    health_persisted_fingerprint: tuple | None = None
    health_persisted_monotonic: float = 0.0            # sidecars flush stale frames: apply newer only
    stats: dict[str, Any] | None = None
    stats_received_wall: float | None = None
    stats_node_ts: str | None = None
    summary: dict[str, Any] | None = None
    summary_dirty: bool = False
    config: CachedConfig | None = None
    thumbnails: dict[tuple[str, str | None], Thumbnail] = field(default_factory=dict)
    thumbnail_generation: int = 0
    offline_since_monotonic: float | None = None
    commands_in_flight: int = 0
    command_deadline_monotonic: float = 0.0     # relay/gateway: silence rule suspended until then
    event_window: deque = field(default_factory=deque)
    events_shed: int = 0
    stale_reported: bool = False
    shed_warning: Any = None                     # the task storing this episode's warning
    version: int = 0                             # bumps on every change the dashboard shows

    # -- derived ---------------------------------------------------------------------------
    @property
    def last_seen_at(self) -> str | None:
        return _iso_epoch(self.seen_wall) if self.seen_wall else self.last_seen_stored

    @last_seen_at.setter
    def last_seen_at(self, value: str | None) -> None:
        self.last_seen_stored, self.seen_wall = value, 0.0

    @property
    def stats_received_at(self) -> str | None:
        return _iso_epoch(self.stats_received_wall) if self.stats_received_wall else None

    def stale(self, stale_after: float, now: float | None = None) -> bool:
        if self.status != "online":
            return False
        now = time.monotonic() if now is None else now
        return now - self.last_seen_monotonic > stale_after

    @property
    def health(self) -> str | None:
        if self.status != "online" or self.summary is None:
            return None
        return self.summary.get("health")

    def touch(self, now_mono: float) -> None:
        self.last_seen_monotonic = now_mono

    def mark_changed(self) -> None:
        self.version += 1

    def public(self, stale_after: float) -> dict[str, Any]:
        """The NodeLive object of api.md §15.2 (a subset of the Node object)."""
        return {
            "id": self.id, "name": self.name, "device_type": self.device_type, "status": self.status,
            "stale": self.stale(stale_after), "health": self.health, "software_version": self.software_version,
            "connected_since": self.connected_since, "last_seen_at": self.last_seen_at, "summary": self.summary,
        }

    def set_thumbnail(self, flow_id: str, input_id: str | None, jpeg: bytes) -> None:
        self.thumbnail_generation += 1
        self.thumbnails[(flow_id, input_id)] = Thumbnail(jpeg, now_iso(), time.monotonic(),
                                                         self.thumbnail_generation)
