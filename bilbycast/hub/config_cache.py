"""Node configs: fetched with get_config, cached in memory for 30 s, kept encrypted in the
database as the last known copy (api.md §7.1, node-protocol §5.3 rule 3 and rule 10)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from ..db.models import NodeConfig
from ..services import nodes as node_service
from ..services.crypto import SecretDecryptError
from ..services.errors import ApiError
from ..timeutil import now_iso
from .live import CachedConfig, NodeLive

if TYPE_CHECKING:
    from .hub import NodeHub
    from .session import NodeSession

log = logging.getLogger("bilbycast.hub.config")

FRESH_SECS = 30.0
FETCH_TIMEOUT = 5.0
DOMAIN = "node-config"


def config_hash(config: Any) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ConfigCache:
    def __init__(self, hub: "NodeHub"):
        self.hub = hub

    def store(self, live: NodeLive, config: dict[str, Any]) -> None:
        digest = config_hash(config)
        stamp = now_iso()
        live.config = CachedConfig(config, stamp, time.monotonic(), digest)
        vault = self.hub.app.vault
        sealed = vault.seal_text(DOMAIN, json.dumps(config, separators=(",", ":")), table="node_configs",
                                 column="config_enc", row_id=live.id)
        self.hub.db.write_soon(node_service.store_config, live.id, sealed, digest, stamp)
        self.hub.changed(live)

    def mark_stale(self, node_id: str) -> None:
        live = self.hub.live.get(node_id)
        if live is not None and live.config is not None:
            live.config.stale = True

    def forget(self, node_id: str) -> None:
        live = self.hub.live.get(node_id)
        if live is not None:
            live.config = None

    async def refresh_after_settle(self, node_id: str, session: "NodeSession", delay: float) -> None:
        await asyncio.sleep(delay)
        if self.hub.sessions.get(node_id) is not session:
            return
        try:
            await self.get(node_id, refresh=True)
        except ApiError as exc:
            log.info("initial get_config for %s failed: %s", node_id, exc.message)

    async def get(self, node_id: str, *, refresh: bool = False) -> tuple[dict[str, Any], str, str]:
        """(config, source "live"|"cache", fetched_at). Raises 502/504 when none was ever seen."""
        live = self.hub.live[node_id]
        cached = live.config
        session = self.hub.sessions.get(node_id)
        fresh = cached is not None and not cached.stale and time.monotonic() - cached.fetched_monotonic < FRESH_SECS
        if session is not None and fresh and not refresh:
            return cached.config, "cache", cached.fetched_at
        error: ApiError | None = None
        if session is not None and not session.closed:
            try:
                await session.fetch_config(FETCH_TIMEOUT)
                return live.config.config, "live", live.config.fetched_at
            except ApiError as exc:
                error = exc
        known = live.config or await self._load_last_known(live)
        if known is not None:
            return known.config, "cache", known.fetched_at
        raise error or ApiError(502, "node_not_connected", f"Node {node_id} is not connected")

    async def last_known(self, node_id: str) -> dict[str, Any] | None:
        live = self.hub.live.get(node_id)
        if live is None:
            return None
        known = live.config or await self._load_last_known(live)
        return known.config if known else None

    async def _load_last_known(self, live: NodeLive) -> CachedConfig | None:
        row = await self.hub.db.read(NodeConfig.get_or_none, NodeConfig.node == live.id)
        if row is None:
            return None
        try:
            text = self.hub.app.vault.open_text(DOMAIN, row.config_enc, table="node_configs", column="config_enc",
                                                row_id=live.id)
        except SecretDecryptError:
            log.error("cached config of %s does not decrypt", live.id)
            return None
        live.config = CachedConfig(json.loads(text), row.fetched_at, 0.0, row.config_hash, stale=True)
        return live.config
