"""The append-only audit log: writing rows and reading them back with filters and paging.

`record` runs inside a writer transaction (it is often part of the same transaction as the
change it describes, so a change is never stored without its audit row). Details pass through
`scrub` so that no secret, password, token or key can reach a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db.models import AuditRow
from ..timeutil import now_iso, parse_rfc3339, iso
from .errors import ApiError

SECRET_WORDS = ("password", "secret", "token", "passphrase", "api_key", "key_enc", "stream_key",
                "authorization", "cookie", "credential")


@dataclass(frozen=True)
class Actor:
    """Who did something: a signed-in user, the CLI, or the manager itself."""

    user_id: str | None
    username: str | None
    ip_address: str | None = None

    @classmethod
    def cli(cls) -> "Actor":
        return cls(None, "cli", None)

    @classmethod
    def system(cls) -> "Actor":
        return cls(None, "system", None)


def scrub(value: Any) -> Any:
    """Replace values under secret-looking keys, recursively."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            lowered = str(key).lower()
            if any(word in lowered for word in SECRET_WORDS) and item not in (None, "", True, False):
                out[key] = "••••••"
            else:
                out[key] = scrub(item)
        return out
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def record(actor: Actor, action: str, *, result: str = "success", target_type: str | None = None,
           target_id: str | None = None, node_id: str | None = None, error_code: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    AuditRow.create(
        created_at=now_iso(), user_id=actor.user_id, username=actor.username, action=action,
        target_type=target_type, target_id=target_id, node_id=node_id, result=result,
        error_code=error_code, details=scrub(details) if details else None, ip_address=actor.ip_address,
    )


def to_api(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id, "created_at": row.created_at, "user_id": row.user_id, "username": row.username,
        "action": row.action, "target_type": row.target_type, "target_id": row.target_id,
        "node_id": row.node_id, "result": row.result, "error_code": row.error_code,
        "details": row.details, "ip_address": row.ip_address,
    }


def query(filters: dict[str, Any], page: int, per_page: int, allowed_node_ids: list[str] | None) -> dict[str, Any]:
    q = AuditRow.select()
    if filters.get("user"):
        value = filters["user"]
        q = q.where((AuditRow.user_id == value) | (AuditRow.username.contains(value)))
    if filters.get("action"):
        q = q.where(AuditRow.action.startswith(filters["action"]))
    for name in ("target_type", "target_id", "node_id", "result"):
        if filters.get(name):
            q = q.where(getattr(AuditRow, name) == filters[name])
    if filters.get("from"):
        q = q.where(AuditRow.created_at >= filters["from"])
    if filters.get("to"):
        q = q.where(AuditRow.created_at <= filters["to"])
    if allowed_node_ids is not None:
        # Admins with an allowlist see rows about their nodes and rows about no node.
        q = q.where(AuditRow.node_id.is_null() | AuditRow.node_id.in_(allowed_node_ids or [""]))
    total = q.count()
    rows = q.order_by(AuditRow.id.desc()).paginate(page, per_page)
    return {"items": [to_api(r) for r in rows], "total": total, "page": page, "per_page": per_page}


def parse_filters(args: dict[str, str]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for name in ("user", "action", "target_type", "target_id", "node_id", "result"):
        value = args.get(name)
        if value:
            if len(value) > 256:
                raise ApiError(400, "invalid_query", f"{name} is longer than 256 characters")
            filters[name] = value
    if filters.get("result") not in (None, "success", "failure"):
        raise ApiError(400, "invalid_query", "result must be success or failure")
    for name in ("from", "to"):
        if args.get(name):
            try:
                filters[name] = iso(parse_rfc3339(args[name]))
            except ValueError:
                raise ApiError(400, "invalid_query", f"{name} is not an RFC 3339 timestamp") from None
    return filters
