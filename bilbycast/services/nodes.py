"""Node records (api.md §5): create with a one-time registration token, update, regenerate the
token, delete, and the secret-rotation bookkeeping. Runs in the DB threads; no networking."""

from __future__ import annotations

import uuid
from typing import Any

from ..db.models import Node, NodeConfig, TopologyPosition, User
from ..timeutil import iso, now_iso, parse_rfc3339
from . import audit
from .audit import Actor
from .crypto import Vault, new_token
from .errors import ApiError, not_found, validation_failed

CREATE_FIELDS = {"name", "description", "device_type", "expires_at", "web_ui_url"}
UPDATE_FIELDS = {"name", "description", "expires_at", "web_ui_url", "device_type"}
SECRET_DOMAIN = "node-secret"


def _control_chars(text: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in text)


def validate_fields(body: dict[str, Any], *, creating: bool, known_types: set[str]) -> dict[str, Any]:
    allowed = CREATE_FIELDS if creating else UPDATE_FIELDS
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise ApiError(422, "unknown_field", f"Unknown field: {unknown[0]}",
                       fields=[{"path": f"/{k}", "message": "unknown field"} for k in unknown])
    if not creating and "device_type" in body:
        raise ApiError(422, "immutable_field", "device_type cannot be changed; delete and re-create the node",
                       fields=[{"path": "/device_type", "message": "immutable"}])
    out: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    if creating and "name" not in body:
        problems.append({"path": "/name", "message": "required"})
    if "name" in body:
        v = body["name"]
        if not isinstance(v, str) or not 1 <= len(v.strip()) <= 128 or len(v) > 128 or _control_chars(v):
            problems.append({"path": "/name", "message": "1-128 characters without control characters"})
        else:
            out["name"] = v.strip()
    if "description" in body:
        v = body["description"]
        if v is not None and (not isinstance(v, str) or len(v) > 512 or _control_chars(v, "\n\r\t")):
            problems.append({"path": "/description", "message": "at most 512 characters"})
        else:
            out["description"] = v
    if "expires_at" in body:
        v = body["expires_at"]
        try:
            out["expires_at"] = None if v is None else iso(parse_rfc3339(v))
        except (ValueError, TypeError):
            problems.append({"path": "/expires_at", "message": "must be an RFC 3339 timestamp or null"})
    if "web_ui_url" in body:
        v = body["web_ui_url"]
        if v is not None and (not isinstance(v, str) or len(v) > 2048 or not v.startswith(("http://", "https://"))):
            problems.append({"path": "/web_ui_url", "message": "must be an http or https URL"})
        else:
            out["web_ui_url"] = v
    if problems:
        raise validation_failed("Node failed validation: " + problems[0]["path"][1:] + " " + problems[0]["message"], problems)
    if creating:
        device_type = body.get("device_type", "edge")
        if device_type not in known_types:
            raise ApiError(422, "unknown_device_type", f"Unknown device type: {device_type}",
                           fields=[{"path": "/device_type", "message": "one of " + ", ".join(sorted(known_types))}])
        out["device_type"] = device_type
    return out


def create_row(values: dict[str, Any], vault: Vault, actor: Actor) -> tuple[Node, str]:
    token = new_token()
    stamp = now_iso()
    node = Node.create(id=str(uuid.uuid4()), name=values["name"], description=values.get("description"),
                       device_type=values["device_type"], token_hash=vault.registration_token_hash(token),
                       expires_at=values.get("expires_at"), web_ui_url=values.get("web_ui_url"),
                       created_at=stamp, updated_at=stamp)
    audit.record(actor, "node.create", target_type="node", target_id=node.id, node_id=node.id,
                 details={"name": node.name, "device_type": node.device_type})
    return node, token


def update_row(node_id: str, values: dict[str, Any], actor: Actor) -> Node:
    node = Node.get_or_none(Node.id == node_id)
    if node is None:
        raise not_found("Node")
    before = {k: getattr(node, k) for k in values}
    Node.update(**values, updated_at=now_iso()).where(Node.id == node_id).execute()
    audit.record(actor, "node.update", target_type="node", target_id=node_id, node_id=node_id,
                 details={"changes": {k: {"old": before[k], "new": v} for k, v in values.items() if before[k] != v}})
    return Node.get_by_id(node_id)


def regenerate_token(node_id: str, vault: Vault, actor: Actor) -> tuple[Node, str]:
    """A new token replaces any earlier one and deletes the node's credentials (re-enrolment)."""
    node = Node.get_or_none(Node.id == node_id)
    if node is None:
        raise not_found("Node")
    token = new_token()
    Node.update(token_hash=vault.registration_token_hash(token), secret_enc=None, previous_secret_enc=None,
                pending_secret_enc=None, updated_at=now_iso()).where(Node.id == node_id).execute()
    audit.record(actor, "node.token_regenerate", target_type="node", target_id=node_id, node_id=node_id,
                 details={"name": node.name})
    return Node.get_by_id(node_id), token


def delete_row(node_id: str, actor: Actor) -> Node:
    node = Node.get_or_none(Node.id == node_id)
    if node is None:
        raise not_found("Node")
    Node.delete().where(Node.id == node_id).execute()  # events, config cascade
    TopologyPosition.delete().where(TopologyPosition.key == node_id).execute()
    for user in User.select().where(User.allowed_node_ids.is_null(False)):
        if node_id in (user.allowed_node_ids or []):
            User.update(allowed_node_ids=[i for i in user.allowed_node_ids if i != node_id]).where(
                User.id == user.id).execute()
    audit.record(actor, "node.delete", target_type="node", target_id=node_id, node_id=node_id,
                 details={"name": node.name, "device_type": node.device_type})
    return node


def stage_rotation(node_id: str, new_secret: str, vault: Vault) -> str:
    """Before sending rotate_secret: keep the new secret as pending (valid if the ack is lost).

    Returns the secret to send. When an earlier rotation lost its ack, its pending secret may
    be what the node has persisted (node-protocol §2.7 rule 3), so it is sent again instead of
    a fresh one: re-persisting the same value is harmless, and no secret the node may hold is
    ever dropped.
    """
    node = Node.get_by_id(node_id)
    if node.pending_secret_enc:
        try:
            return vault.open_text(SECRET_DOMAIN, node.pending_secret_enc, table="nodes",
                                   column="pending_secret_enc", row_id=node_id)
        except Exception:  # noqa: BLE001 - unreadable (master key changed): replace it
            pass
    sealed = vault.seal_text(SECRET_DOMAIN, new_secret, table="nodes", column="pending_secret_enc", row_id=node_id)
    Node.update(pending_secret_enc=sealed).where(Node.id == node_id).execute()
    return new_secret


def commit_rotation(node_id: str, vault: Vault, actor: Actor) -> str:
    """On the success ack: current := new, previous := old (accepted until the node restarts)."""
    node = Node.get_by_id(node_id)
    old = vault.open_text(SECRET_DOMAIN, node.secret_enc, table="nodes", column="secret_enc", row_id=node_id)
    new = vault.open_text(SECRET_DOMAIN, node.pending_secret_enc, table="nodes", column="pending_secret_enc",
                          row_id=node_id)
    stamp = now_iso()
    Node.update(
        secret_enc=vault.seal_text(SECRET_DOMAIN, new, table="nodes", column="secret_enc", row_id=node_id),
        previous_secret_enc=vault.seal_text(SECRET_DOMAIN, old, table="nodes", column="previous_secret_enc",
                                            row_id=node_id),
        pending_secret_enc=None, updated_at=stamp).where(Node.id == node_id).execute()
    audit.record(actor, "node.secret_rotate", target_type="node", target_id=node_id, node_id=node_id,
                 details={"name": node.name})
    return stamp


def record_connect(node_id: str, software_version: str | None, protocol_version: int | None, stamp: str) -> None:
    Node.update(software_version=software_version, protocol_version=protocol_version, last_seen_at=stamp).where(
        Node.id == node_id).execute()


def record_health(node_id: str, report: dict[str, Any], stamp: str, software_version: str | None,
                  capabilities: list[str] | None) -> None:
    Node.update(last_health=report, last_health_at=stamp, last_seen_at=stamp, software_version=software_version,
                capabilities=capabilities).where(Node.id == node_id).execute()


def record_last_seen(stamps: dict[str, str]) -> None:
    # One executemany: thousands of ORM updates would hold the GIL against the event loop.
    cursor = Node._meta.database.cursor()
    cursor.executemany("UPDATE nodes SET last_seen_at = ? WHERE id = ?",
                       [(stamp, node_id) for node_id, stamp in stamps.items()])


def store_config(node_id: str, sealed: str, config_hash: str, stamp: str) -> None:
    NodeConfig.replace(node=node_id, config_enc=sealed, config_hash=config_hash, fetched_at=stamp).execute()


def to_api(row: Node, live: Any, stale_after: float, summary: dict[str, Any] | None) -> dict[str, Any]:
    """The api.md §5.1 Node object: the record plus the hub's live view of it."""
    status = live.status if live is not None else ("pending" if row.secret_enc is None else "offline")
    expired = bool(row.expires_at and row.expires_at <= now_iso())
    return {
        "id": row.id, "name": row.name, "description": row.description, "device_type": row.device_type,
        "status": status, "stale": live.stale(stale_after) if live else False,
        "health": live.health if live else None,
        "software_version": live.software_version if live else row.software_version,
        "protocol_version": live.protocol_version if live else row.protocol_version,
        "capabilities": live.capabilities if live else row.capabilities,
        "remote_addr": live.remote_addr if live else None,
        "connected_since": live.connected_since if live else None,
        "last_seen_at": (live.last_seen_at if live else None) or row.last_seen_at,
        "registered_at": row.registered_at, "expires_at": row.expires_at, "expired": expired,
        "web_ui_url": row.web_ui_url, "summary": summary,
        "created_at": row.created_at, "updated_at": row.updated_at,
    }
