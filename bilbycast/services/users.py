"""User accounts (api.md §4): validation, the admin/super_admin rules, and storage.

`check_*` functions validate a request body against the caller without touching the database
beyond reads; `*_row` functions run in the writer and also write the audit row, so a change and
its audit entry commit together.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ..db.models import Node, User
from ..timeutil import iso, now_iso, parse_rfc3339
from . import audit
from .audit import Actor
from .auth import Principal, revoke_user_sessions
from .errors import ApiError, not_found, validation_failed
from .passwords import password_policy_errors
from .rbac import ROLES, role_at_least

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CREATE_FIELDS = {"username", "password", "display_name", "email", "role", "is_temporary", "expires_at",
                 "allowed_node_ids"}
UPDATE_FIELDS = CREATE_FIELDS | {"is_active"}


def to_api(user: User) -> dict[str, Any]:
    return {
        "id": user.id, "username": user.username, "display_name": user.display_name, "email": user.email,
        "role": user.role, "is_temporary": bool(user.is_temporary), "expires_at": user.expires_at,
        "allowed_node_ids": user.allowed_node_ids, "is_active": bool(user.is_active),
        "must_change_password": bool(user.must_change_password), "last_login_at": user.last_login_at,
        "created_at": user.created_at, "updated_at": user.updated_at,
    }


def _has_control_chars(text: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in text)


def validate_fields(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Check types and limits of a UserCreate / UserUpdate body; returns normalised values."""
    allowed = CREATE_FIELDS if creating else UPDATE_FIELDS
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise ApiError(422, "unknown_field", f"Unknown field: {unknown[0]}",
                       fields=[{"path": f"/{k}", "message": "unknown field"} for k in unknown])
    if creating:
        missing = [k for k in ("username", "password", "display_name", "role") if k not in body]
        if missing:
            raise validation_failed(f"Missing required field: {missing[0]}",
                                    [{"path": f"/{k}", "message": "required"} for k in missing])
    problems: list[dict[str, str]] = []
    out: dict[str, Any] = {}

    def bad(field: str, message: str) -> None:
        problems.append({"path": f"/{field}", "message": message})

    if "username" in body:
        v = body["username"]
        if not isinstance(v, str) or not USERNAME_RE.match(v):
            bad("username", "1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit")
        else:
            out["username"] = v
    if "display_name" in body:
        v = body["display_name"]
        if not isinstance(v, str) or not 1 <= len(v) <= 128 or _has_control_chars(v):
            bad("display_name", "1-128 characters without control characters")
        else:
            out["display_name"] = v
    if "email" in body:
        v = body["email"]
        if v is not None and (not isinstance(v, str) or len(v) > 254 or not EMAIL_RE.match(v)):
            bad("email", "must be an email address (local@domain.tld) of at most 254 characters")
        else:
            out["email"] = v
    if "role" in body:
        if body["role"] not in ROLES:
            bad("role", "must be one of " + ", ".join(ROLES))
        else:
            out["role"] = body["role"]
    for flag in ("is_temporary", "is_active"):
        if flag in body:
            if not isinstance(body[flag], bool):
                bad(flag, "must be a boolean")
            else:
                out[flag] = body[flag]
    if "expires_at" in body:
        v = body["expires_at"]
        if v is None:
            out["expires_at"] = None
        else:
            try:
                out["expires_at"] = iso(parse_rfc3339(v))
            except (ValueError, TypeError):
                bad("expires_at", "must be an RFC 3339 timestamp or null")
    if "allowed_node_ids" in body:
        v = body["allowed_node_ids"]
        if v is not None and (not isinstance(v, list) or len(v) > 1000 or not all(isinstance(i, str) for i in v)):
            bad("allowed_node_ids", "must be null or a list of at most 1000 node ids")
        else:
            out["allowed_node_ids"] = None if v is None else sorted(set(v))
    if "password" in body:
        v = body["password"]
        name = out.get("username") or body.get("username")
        errors = password_policy_errors(v, name if isinstance(name, str) else None)
        if errors:
            bad("password", "; ".join(errors))
        else:
            out["password"] = v
    if problems:
        raise validation_failed("User failed validation: " + problems[0]["path"][1:] + " " + problems[0]["message"], problems)
    return out


def check_create(caller: Principal, values: dict[str, Any]) -> None:
    """The role and allowlist rules for creating a user (api.md §3.4 footnotes 1, 2)."""
    if values["role"] == "super_admin" and caller.role != "super_admin":
        raise ApiError(403, "forbidden", "Only a super_admin can create a super_admin")
    _check_allowlist_grant(caller, values.get("allowed_node_ids"), True)
    _check_temporary(values, None)


def _check_temporary(values: dict[str, Any], existing: User | None) -> None:
    is_temp = values.get("is_temporary", existing.is_temporary if existing else False)
    expires = values.get("expires_at", existing.expires_at if existing else None)
    if "expires_at" in values and values["expires_at"] is not None and values["expires_at"] <= now_iso() \
            and existing is None:
        raise validation_failed("expires_at must be in the future", [{"path": "/expires_at", "message": "must be in the future"}])
    if is_temp and not expires:
        raise validation_failed("A temporary user needs expires_at", [{"path": "/expires_at", "message": "required when is_temporary"}])


def _check_allowlist_grant(caller: Principal, new_list: list[str] | None, touching: bool) -> None:
    if not touching or caller.allowed_node_ids is None:
        return
    if new_list is None:
        raise ApiError(403, "node_access_restricted", "A user with a node allowlist cannot grant access to every node")
    outside = set(new_list) - set(caller.allowed_node_ids)
    if outside:
        raise ApiError(403, "node_access_restricted", "Cannot grant nodes outside your own allowlist")


def _check_nodes_exist(node_ids: list[str] | None) -> None:
    if not node_ids:
        return
    found = {n.id for n in Node.select(Node.id).where(Node.id.in_(node_ids))}
    missing = [i for i in node_ids if i not in found]
    if missing:
        raise validation_failed(f"Unknown node id in allowed_node_ids: {missing[0]}",
                                [{"path": "/allowed_node_ids", "message": f"unknown node {m}"} for m in missing[:20]])


def _username_taken(username: str, except_id: str | None = None) -> bool:
    q = User.select().where(User.username_lower == username.lower())
    if except_id:
        q = q.where(User.id != except_id)
    return q.exists()


def create_row(values: dict[str, Any], password_hash: str, actor: Actor, *, must_change_password: bool = False) -> User:
    if values["role"] == "super_admin" and values.get("allowed_node_ids") is not None:
        raise validation_failed("A super_admin always sees every node", [{"path": "/allowed_node_ids", "message": "must be null for super_admin"}])
    _check_nodes_exist(values.get("allowed_node_ids"))
    if _username_taken(values["username"]):
        raise ApiError(409, "username_taken", f"Username {values['username']} is taken")
    stamp = now_iso()
    user = User.create(
        id=str(uuid.uuid4()), username=values["username"], username_lower=values["username"].lower(),
        password_hash=password_hash, display_name=values["display_name"], email=values.get("email"),
        role=values["role"], is_temporary=values.get("is_temporary", False), expires_at=values.get("expires_at"),
        allowed_node_ids=values.get("allowed_node_ids"), is_active=True,
        must_change_password=must_change_password, created_at=stamp, updated_at=stamp,
    )
    audit.record(actor, "user.create", target_type="user", target_id=user.id,
                 details={"username": user.username, "role": user.role,
                          "allowed_node_ids": user.allowed_node_ids})
    return user


def _guard_target(caller: Principal, target: User) -> None:
    if target.role == "super_admin" and caller.role != "super_admin":
        raise ApiError(403, "forbidden", "Only a super_admin can change a super_admin")
    if caller.allowed_node_ids is not None:
        if target.allowed_node_ids is None or not set(target.allowed_node_ids) <= set(caller.allowed_node_ids):
            raise ApiError(403, "node_access_restricted", "This user can see nodes outside your allowlist")


def _active_super_admins(except_id: str) -> int:
    return User.select().where((User.role == "super_admin") & (User.is_active == True)  # noqa: E712
                               & (User.id != except_id)).count()


def update_row(caller: Principal, user_id: str, values: dict[str, Any], password_hash: str | None,
               actor: Actor) -> User:
    target = User.get_or_none(User.id == user_id)
    if target is None:
        raise not_found("User")
    _guard_target(caller, target)
    if values.get("role") == "super_admin" and caller.role != "super_admin":
        raise ApiError(403, "forbidden", "Only a super_admin can grant super_admin")
    losing_super = target.role == "super_admin" and target.is_active and (
        values.get("role", target.role) != "super_admin" or values.get("is_active") is False)
    # Checked before self_modification: only the last super_admin can reach it (any other caller
    # able to touch a super_admin is an active super_admin), so it must not be shadowed.
    if losing_super and _active_super_admins(target.id) == 0:
        raise ApiError(409, "last_super_admin", "The last active super_admin cannot be demoted or deactivated")
    if user_id == caller.user_id and any(k in values for k in ("role", "is_active", "allowed_node_ids")):
        raise ApiError(422, "self_modification", "You cannot change your own role, active flag or node allowlist")
    if "allowed_node_ids" in values:
        _check_allowlist_grant(caller, values["allowed_node_ids"], True)
        _check_nodes_exist(values["allowed_node_ids"])
    new_role = values.get("role", target.role)
    new_list = values.get("allowed_node_ids", target.allowed_node_ids)
    if new_role == "super_admin" and new_list is not None:
        if "allowed_node_ids" in values:
            raise validation_failed("A super_admin always sees every node", [{"path": "/allowed_node_ids", "message": "must be null for super_admin"}])
        values["allowed_node_ids"] = None
    if "username" in values and _username_taken(values["username"], except_id=target.id):
        raise ApiError(409, "username_taken", f"Username {values['username']} is taken")
    _check_temporary(values, target)
    changes: dict[str, Any] = {}
    before = to_api(target)
    for field in ("username", "display_name", "email", "role", "is_temporary", "expires_at", "allowed_node_ids", "is_active"):
        if field in values:
            changes[field] = values[field]
    if "username" in changes:
        changes["username_lower"] = changes["username"].lower()
    if password_hash is not None:
        changes["password_hash"] = password_hash
    changes["updated_at"] = now_iso()
    User.update(**changes).where(User.id == target.id).execute()
    revoke = password_hash is not None or values.get("is_active") is False or (
        values.get("expires_at") is not None and values["expires_at"] <= now_iso())
    revoked = revoke_user_sessions(target.id) if revoke else 0
    diff = {k: {"old": before.get(k), "new": v} for k, v in values.items()
            if k != "password" and before.get(k) != v}
    if password_hash is not None:
        diff["password"] = "reset"
    audit.record(actor, "user.update", target_type="user", target_id=target.id,
                 details={"username": target.username, "changes": diff, "sessions_revoked": revoked})
    return User.get_by_id(target.id)


def delete_row(caller: Principal, user_id: str, actor: Actor) -> None:
    target = User.get_or_none(User.id == user_id)
    if target is None:
        raise not_found("User")
    _guard_target(caller, target)
    if target.role == "super_admin" and target.is_active and _active_super_admins(target.id) == 0:
        raise ApiError(409, "last_super_admin", "The last active super_admin cannot be deleted")
    if user_id == caller.user_id:
        raise ApiError(422, "self_modification", "You cannot delete yourself")
    User.delete().where(User.id == user_id).execute()
    audit.record(actor, "user.delete", target_type="user", target_id=user_id,
                 details={"username": target.username, "role": target.role})


def visible_to(caller: Principal, user: User) -> bool:
    if role_at_least(caller.role, "admin"):
        return True
    return user.id == caller.user_id
