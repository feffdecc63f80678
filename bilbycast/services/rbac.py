"""Roles and the one authorisation decision. The route table (routes.py) says, for each route
and method, which resource it touches and the minimum role; `authorise` is the only check."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "operator", "admin", "super_admin")
ROLE_LEVEL = {role: level for level, role in enumerate(ROLES)}

# Access kinds beyond a plain minimum role.
PUBLIC = "public"   # no authentication at all
OWN = "own"         # any signed-in user, limited to their own records by the service


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_LEVEL.get(role, -1) >= ROLE_LEVEL[minimum]


def max_role(*roles: str) -> str:
    return max(roles, key=lambda r: ROLE_LEVEL[r])


@dataclass(frozen=True)
class Rule:
    """Who may call one method of one route."""

    resource: str
    min_role: str            # a role name, PUBLIC or OWN
    node_scoped: bool = False
    audit: str | None = None

    def allows(self, role: str | None) -> bool:
        if self.min_role == PUBLIC:
            return True
        if role is None:
            return False
        if self.min_role == OWN:
            return role in ROLE_LEVEL
        return role_at_least(role, self.min_role)


def can_see_node(allowed_node_ids: list[str] | None, node_id: str | None) -> bool:
    """A user with no allowlist sees everything; manager events with no node only then."""
    if allowed_node_ids is None:
        return True
    return node_id is not None and node_id in allowed_node_ids
