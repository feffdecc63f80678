"""One SQLite database file: a pool of reader threads and ONE writer thread.

The writer owns every write. Jobs arrive on a queue; the writer drains what is waiting into
one transaction (BEGIN IMMEDIATE ... COMMIT), each job inside its own savepoint, so a burst of
event or audit writes costs one fsync while a failing job rolls back only itself. Futures are
resolved after the commit, so a caller that awaited a write knows it is durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

import peewee as pw

from . import migrations
from .models import ALL_MODELS

log = logging.getLogger(__name__)

MAX_BATCH = 500


class DatabaseUnavailable(Exception):
    """The writer is stopped or the database cannot be written."""


@dataclass
class _Job:
    fn: Callable[[], Any]
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future | None = None
    enqueued_at: float = field(default_factory=time.monotonic)


_STOP = object()


class Database:
    def __init__(self, path: Path, *, synchronous: str = "FULL", readers: int = 2):
        self.path = Path(path)
        self.orm = pw.SqliteDatabase(
            str(self.path),
            pragmas={"journal_mode": "wal", "synchronous": synchronous, "foreign_keys": 1,
                     "busy_timeout": 5000},
        )
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-read")
        self._accepting = False
        self.healthy = True
        self.batches_committed = 0
        self.jobs_committed = 0

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        """Migrate, bind the models and start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        migrations.migrate(self.path)
        self.orm.bind(ALL_MODELS, bind_refs=False, bind_backrefs=False)
        self._accepting = True
        self._writer = threading.Thread(target=self._run_writer, name="sqlite-writer", daemon=True)
        self._writer.start()

    def open_sync(self) -> None:
        """For CLI commands: migrate and bind, no writer thread (writes run in the caller)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        migrations.migrate(self.path)
        self.orm.bind(ALL_MODELS, bind_refs=False, bind_backrefs=False)

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting writes, flush what is queued, and close."""
        self._accepting = False
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join(timeout)
            self._writer = None
        self._readers.shutdown(wait=True)
        self.orm.close()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # -- reads -----------------------------------------------------------------------------
    async def read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, partial(self._read_job, fn, args, kwargs))

    @staticmethod
    def _read_job(fn, args, kwargs):
        # peewee opens one connection per reader thread on first use and keeps it.
        return fn(*args, **kwargs)

    # -- writes ----------------------------------------------------------------------------
    async def write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run fn in the writer's transaction; returns its result once committed."""
        if not self._accepting:
            raise DatabaseUnavailable("database writer is not running")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(partial(fn, *args, **kwargs), loop, future))
        return await future

    def write_soon(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Fire-and-forget write for high-rate data (events, history); failures are logged."""
        if not self._accepting:
            log.warning("write dropped: database writer is not running")
            return
        self._queue.put(_Job(partial(fn, *args, **kwargs)))

    def write_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """For CLI commands that run without the writer thread."""
        with self.orm.atomic("IMMEDIATE"):
            return fn(*args, **kwargs)

    def _run_writer(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(job is _STOP for job in batch)
            jobs = [job for job in batch if job is not _STOP]
            if jobs:
                self._commit_batch(jobs)
        self.orm.close()

    def _commit_batch(self, jobs: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            with self.orm.atomic("IMMEDIATE"):
                for job in jobs:
                    try:
                        with self.orm.atomic():  # a savepoint: a failing job undoes only itself
                            outcomes.append((job, job.fn(), None))
                    except Exception as exc:  # noqa: BLE001 - handed to the caller
                        outcomes.append((job, None, exc))
            self.healthy = True
            self.batches_committed += 1
            self.jobs_committed += len(jobs)
        except Exception as exc:  # noqa: BLE001 - the commit itself failed: nothing was stored
            log.error("database commit failed: %s", exc)
            self.healthy = False
            outcomes = [(job, None, DatabaseUnavailable(f"commit failed: {exc}")) for job in jobs]
        for job, result, error in outcomes:
            if job.future is None:
                if error is not None:
                    log.error("background write failed: %r", error)
                continue
            job.loop.call_soon_threadsafe(_resolve, job.future, result, error)


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
