"""Events and alarms (api.md §8, node-protocol §4.4/§8): normalising what nodes send, storing,
filtering, acknowledging and exporting. Alarms are unacknowledged warning/critical events."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable

import peewee as pw

from ..db.models import Event
from ..timeutil import iso, now_iso, parse_rfc3339
from .errors import ApiError

SEVERITY_MAP = {"info": "info", "warning": "warning", "critical": "critical", "minor": "warning",
                "major": "critical"}
MAX_MESSAGE, MAX_CATEGORY, MAX_DETAILS_BYTES = 10_000, 256, 16 * 1024
CSV_COLUMNS = ("id", "created_at", "severity", "node_id", "node_name", "category", "message", "error_code",
               "flow_id", "input_id", "output_id", "acknowledged", "acknowledged_by_name", "acknowledged_at")


def normalise_node_event(payload: Any) -> dict[str, Any]:
    """Apply the protocol's defaults and caps to a node `event` payload (never raises)."""
    payload = payload if isinstance(payload, dict) else {}
    raw_severity = payload.get("severity")
    severity = SEVERITY_MAP.get(raw_severity.lower(), "info") if isinstance(raw_severity, str) else "info"
    category = payload.get("category") if isinstance(payload.get("category"), str) and payload.get("category") else "unknown"
    message = payload.get("message") if isinstance(payload.get("message"), str) and payload.get("message") else "Unknown event"
    details = payload.get("details") if isinstance(payload.get("details"), dict) else None
    if isinstance(raw_severity, str) and raw_severity != severity:
        details = {**(details or {}), "original_severity": raw_severity[:32]}  # sidecar minor/major
    if details is not None:
        encoded = json.dumps(details, ensure_ascii=False)
        if len(encoded.encode()) > MAX_DETAILS_BYTES:
            details = {"truncated": True, "error_code": details.get("error_code")}
    error_code = details.get("error_code") if details and isinstance(details.get("error_code"), str) else None
    scope = {k: payload[k][:64] for k in ("flow_id", "input_id", "output_id") if isinstance(payload.get(k), str)}
    return {"severity": severity, "category": category[:MAX_CATEGORY], "message": message[:MAX_MESSAGE],
            "details": details, "error_code": error_code, **scope}


def store(node_id: str | None, node_name: str | None, source: str, fields: dict[str, Any],
          dedupe_key: str | None = None) -> dict[str, Any] | None:
    """Insert one event (runs in the writer) and return its API object.

    With a driver's de-duplication key, a re-sent event (a sidecar re-raises every active alarm
    every 30 min) is dropped while the first one is still unacknowledged: returns None."""
    if dedupe_key and Event.select().where(
            (Event.node_id == node_id) & Event.acknowledged_at.is_null()
            & (pw.fn.json_extract(Event.details, "$.dedupe_key") == dedupe_key)).exists():
        return None
    row = Event.create(node_id=node_id, node_name=node_name, source=source, created_at=now_iso(),
                       severity=fields["severity"], category=fields["category"], message=fields["message"],
                       error_code=fields.get("error_code"), details=fields.get("details"),
                       flow_id=fields.get("flow_id"), input_id=fields.get("input_id"),
                       output_id=fields.get("output_id"))
    return to_api(row)


def finish_rate_limit_warning(event_id: int, message: str, dropped: int) -> dict[str, Any] | None:
    """Fill the final count into an episode's rate-limit warning (runs in the writer)."""
    row = Event.get_or_none(Event.id == event_id)
    if row is None:
        return None
    row.message = message
    row.details = {**(row.details or {}), "dropped": dropped}
    row.save()
    return to_api(row)


def to_api(row: Event) -> dict[str, Any]:
    return {
        "id": row.id, "node_id": row.node_id, "node_name": row.node_name, "source": row.source,
        "severity": row.severity, "category": row.category, "message": row.message,
        "error_code": row.error_code, "details": row.details, "flow_id": row.flow_id,
        "input_id": row.input_id, "output_id": row.output_id, "created_at": row.created_at,
        "acknowledged": row.acknowledged_at is not None, "acknowledged_by": row.acknowledged_by,
        "acknowledged_by_name": row.acknowledged_by_name, "acknowledged_at": row.acknowledged_at,
    }


def _visible(query: pw.ModelSelect, allowed_node_ids: list[str] | None) -> pw.ModelSelect:
    if allowed_node_ids is None:
        return query
    return query.where(Event.node_id.in_(allowed_node_ids or [""]))


def parse_filters(args: dict[str, list[str]]) -> dict[str, Any]:
    """Query-string filters of GET /events (lists for repeatable keys)."""
    def one(name: str) -> str | None:
        values = args.get(name) or []
        return values[-1] if values else None

    filters: dict[str, Any] = {}
    if one("severity"):
        severities = [s.strip() for s in one("severity").split(",") if s.strip()]
        if any(s not in ("info", "warning", "critical") for s in severities):
            raise ApiError(400, "invalid_query", "severity must be a comma list of info, warning, critical")
        filters["severity"] = severities
    for name in ("node_id", "category"):
        if args.get(name):
            filters[name] = [v for v in args[name] if v]
    for name in ("flow_id", "error_code", "search"):
        value = one(name)
        if value:
            if len(value) > 256:
                raise ApiError(400, "invalid_query", f"{name} is longer than 256 characters")
            filters[name] = value
    ack = one("acknowledged")
    if ack is not None and ack != "":
        if ack not in ("true", "false"):
            raise ApiError(400, "invalid_query", "acknowledged must be true or false")
        filters["acknowledged"] = ack == "true"
    for name in ("from", "to", "before"):
        value = one(name)
        if value:
            try:
                filters[name] = iso(parse_rfc3339(value))
            except ValueError:
                raise ApiError(400, "invalid_query", f"{name} is not an RFC 3339 timestamp") from None
    order = one("order") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(400, "invalid_query", "order must be asc or desc")
    filters["order"] = order
    return filters


def _filtered(filters: dict[str, Any], allowed_node_ids: list[str] | None) -> pw.ModelSelect:
    q = _visible(Event.select(), allowed_node_ids)
    if filters.get("severity"):
        q = q.where(Event.severity.in_(filters["severity"]))
    if filters.get("node_id"):
        q = q.where(Event.node_id.in_(filters["node_id"]))
    if filters.get("category"):
        q = q.where(Event.category.in_(filters["category"]))
    if filters.get("flow_id"):
        q = q.where(Event.flow_id == filters["flow_id"])
    if filters.get("error_code"):
        q = q.where(Event.error_code == filters["error_code"])
    if "acknowledged" in filters:
        q = q.where(Event.acknowledged_at.is_null(not filters["acknowledged"]))
    if filters.get("search"):
        term = filters["search"]
        q = q.where(Event.message.contains(term) | Event.category.contains(term)
                    | Event.node_name.contains(term) | Event.error_code.contains(term))
    if filters.get("from"):
        q = q.where(Event.created_at >= filters["from"])
    if filters.get("to"):
        q = q.where(Event.created_at <= filters["to"])
    if filters.get("before"):
        q = q.where(Event.created_at <= filters["before"])
    return q


def query(filters: dict[str, Any], page: int, per_page: int, allowed_node_ids: list[str] | None) -> dict[str, Any]:
    q = _filtered(filters, allowed_node_ids)
    total = q.count()
    order = Event.id.asc() if filters.get("order") == "asc" else Event.id.desc()
    rows = q.order_by(order).paginate(page, per_page)
    return {"items": [to_api(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def unacked_counts(allowed_node_ids: list[str] | None) -> dict[str, int]:
    q = _visible(Event.select(Event.severity, pw.fn.COUNT(Event.id).alias("n")), allowed_node_ids)
    q = q.where(Event.acknowledged_at.is_null() & Event.severity.in_(["warning", "critical"])).group_by(Event.severity)
    counts = {"critical": 0, "warning": 0}
    for row in q:
        counts[row.severity] = row.n
    return {"count": counts["critical"] + counts["warning"], **counts}


def acknowledge(event_ids: Iterable[int], user_id: str, username: str,
                allowed_node_ids: list[str] | None) -> tuple[int, list[dict[str, Any]]]:
    """Ack the visible, unacked events among ids (runs in the writer). Returns (count, rows)."""
    ids = list(event_ids)
    q = _visible(Event.select(Event.id), allowed_node_ids).where(Event.id.in_(ids) & Event.acknowledged_at.is_null())
    targets = [r.id for r in q]
    if targets:
        Event.update(acknowledged_by=user_id, acknowledged_by_name=username, acknowledged_at=now_iso()).where(
            Event.id.in_(targets)).execute()
    return len(targets), [to_api(r) for r in Event.select().where(Event.id.in_(targets))]


def acknowledge_filter(filters: dict[str, Any], user_id: str, username: str,
                       allowed_node_ids: list[str] | None) -> int:
    q = _filtered(filters, allowed_node_ids).where(Event.acknowledged_at.is_null())
    ids = [r.id for r in q.select(Event.id)]
    for start in range(0, len(ids), 900):
        Event.update(acknowledged_by=user_id, acknowledged_by_name=username, acknowledged_at=now_iso()).where(
            Event.id.in_(ids[start:start + 900])).execute()
    return len(ids)


def get_visible(event_id: int, allowed_node_ids: list[str] | None) -> Event | None:
    return _visible(Event.select(), allowed_node_ids).where(Event.id == event_id).first()


def _csv_cell(value: Any) -> str:
    text = "" if value is None else ("true" if value is True else "false" if value is False else str(value))
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text  # spreadsheets must not read a cell as a formula
    return text


def export_csv(filters: dict[str, Any], allowed_node_ids: list[str] | None, limit: int = 100_000) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in _filtered(filters, allowed_node_ids).order_by(Event.id.desc()).limit(limit):
        item = to_api(row)
        writer.writerow([_csv_cell(item[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


def prune(retention_days: int, cap_rows: int = 1_000_000) -> int:
    from datetime import timedelta
    from ..timeutil import utcnow

    cutoff = iso(utcnow() - timedelta(days=retention_days))
    removed = Event.delete().where(Event.created_at < cutoff).execute()
    total = Event.select().count()
    if total > cap_rows:
        edge = Event.select(Event.id).order_by(Event.id.desc()).offset(cap_rows).limit(1).scalar()
        if edge is not None:
            removed += Event.delete().where(Event.id <= edge).execute()
    return removed
