"""Hourly maintenance (product.md §12): prune events, sessions, old audit rows and history by
their retentions. Each step is its own transaction, so one failing step does not stop the rest."""

from __future__ import annotations

import logging
from datetime import timedelta

from ..db.models import AuditRow
from ..timeutil import iso, utcnow
from . import auth, events

log = logging.getLogger("bilbycast.maintenance")


def prune_audit(retention_days: int) -> int:
    cutoff = iso(utcnow() - timedelta(days=max(30, retention_days)))
    return AuditRow.delete().where(AuditRow.created_at < cutoff).execute()


async def run_once(app) -> dict[str, int]:
    done: dict[str, int] = {}
    steps = {
        "events": (events.prune, app.runtime_settings.get("events_retention_days")),
        "sessions": (auth.prune_sessions,),
        "audit": (prune_audit, app.config.audit_retention_days),
    }
    for name, (fn, *args) in steps.items():
        try:
            done[name] = await app.db.write(fn, *args)
        except Exception:  # noqa: BLE001
            log.exception("maintenance step %s failed", name)
    try:
        await app.history.prune()
    except Exception:  # noqa: BLE001
        log.exception("history pruning failed")
    return done
