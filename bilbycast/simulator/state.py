"""The simulator's state file: the persisted credentials of every simulated node.

Format (JSON, mode 0600, replaced atomically)::

    {"version": 1,
     "nodes": [
       {"name": "sim-edge-01", "device_type": "edge",
        "registration_token": "…",              # until registered
        "node_id": "…", "node_secret": "…",     # after register_ack
        "flows": 2},                            # optional: flows to pre-build on an edge
       …]}

``--token T`` adds ``"enrolled_with": T`` so that the next run with the same token reconnects
with the stored credentials, while a different token re-provisions the node.

A bare JSON array of entries is accepted on read.  An entry with ``node_id`` *and*
``node_secret`` reconnects with them (a node holding credentials never falls back to its
token, node-protocol §2.2); an entry with only a token registers and is then rewritten with
the credentials of ``register_ack``.

Writes are coalesced: the whole file is rewritten by at most one writer at a time, and a
caller of :meth:`StateStore.save` returns only after a write that includes its change has
reached the disk.  5000 nodes registering within a second therefore cost a handful of
writes, not 5000.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

STATE_VERSION = 1
ENTRY_KEYS = ("name", "device_type", "registration_token", "node_id", "node_secret", "flows")


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    The temp file is created with ``mode`` from the start, so the secrets are never readable
    by others, not even for a moment.
    """
    folder = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".simstate-", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load_entries(path: str) -> list[dict]:
    """Read the entries of a state file; a missing file is an empty list."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return []
    if not raw.strip():
        return []
    doc = json.loads(raw)
    entries = doc.get("nodes", []) if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'nodes' must be a list")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"{path}: entry {i} needs a string 'name'")
        entry.setdefault("device_type", "edge")
        if entry["device_type"] not in ("edge", "relay", "appear_x"):
            raise ValueError(f"{path}: entry {entry['name']!r} has an unknown device_type "
                             f"{entry['device_type']!r}")
        out.append(entry)
    return out


def has_credentials(entry: dict) -> bool:
    return bool(entry.get("node_id")) and bool(entry.get("node_secret"))


class StateStore:
    """The in-memory list of entries plus coalesced atomic persistence.

    ``path`` may be ``None`` (nothing is persisted; credentials live only in memory).
    """

    def __init__(self, path: str | None, entries: list[dict] | None = None):
        self.path = path
        self.entries: list[dict] = entries if entries is not None else (
            load_entries(path) if path else [])
        self._by_name: dict[str, dict] | None = None
        self._lock: asyncio.Lock | None = None
        self._requested = 0
        self._written = 0
        self.writes = 0          # number of physical writes (for tests and load reports)

    # -- entries ---------------------------------------------------------------------
    def find(self, name: str) -> dict | None:
        entry = self._index().get(name)
        if entry is not None and entry.get("name") == name:
            return entry
        self._by_name = None                    # the list was changed behind our back
        return self._index().get(name)

    def _index(self) -> dict[str, dict]:
        if self._by_name is None or len(self._by_name) != len(self.entries):
            self._by_name = {e.get("name"): e for e in self.entries}
        return self._by_name

    def add(self, entry: dict) -> dict:
        existing = self.find(entry["name"])
        if existing is not None:
            existing.clear()
            existing.update(entry)
            return existing
        self.entries.append(entry)
        self._by_name = None
        return entry

    def document(self) -> dict[str, Any]:
        nodes = []
        for entry in self.entries:
            # known keys first in a stable order, then anything else the user put there
            clean = {k: entry[k] for k in ENTRY_KEYS if entry.get(k) is not None}
            clean.update({k: v for k, v in entry.items()
                          if k not in ENTRY_KEYS and v is not None})
            nodes.append(clean)
        return {"version": STATE_VERSION, "nodes": nodes}

    def serialize(self) -> bytes:
        return (json.dumps(self.document(), indent=2) + "\n").encode()

    # -- persistence -----------------------------------------------------------------
    def save_now(self) -> None:
        """Synchronous write (start-up and shutdown paths)."""
        if not self.path:
            return
        atomic_write(self.path, self.serialize())
        self.writes += 1

    async def save(self) -> None:
        """Persist the current entries; returns once a write containing them is on disk."""
        if not self.path:
            return
        self._requested += 1
        ticket = self._requested
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._written >= ticket:
                return                       # a write that started after our change covered it
            covered = self._requested
            data = self.serialize()          # snapshot in the loop thread: consistent
            await asyncio.get_running_loop().run_in_executor(
                None, atomic_write, self.path, data)
            self.writes += 1
            self._written = covered
