"""The node handshake decision (node-protocol §2.3–2.8): registration token or credentials.

`NodeAuthenticator.check(payload, ip)` returns an `AuthOutcome`: the reply frame to send and,
on success, the node record. Failures are counted per identifier (node_id or token:<8 chars>)
and per source IP on the token path, on a budget separate from user logins; successes are never
counted, so a reconnect storm of thousands of honest nodes passes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ..db.database import Database
from ..db.models import Node
from ..services.crypto import SecretDecryptError, Vault, constant_time_equals, new_token
from ..timeutil import now_iso

log = logging.getLogger("bilbycast.hub.auth")

FAILURE_LIMIT, FAILURE_WINDOW = 5, 60.0
IP_TOKEN_FAILURE_LIMIT = 100  # loose: one site NAT may hide many nodes
SECRET_DOMAIN = "node-secret"


@dataclass
class AuthOutcome:
    reply: dict[str, Any]
    node: Node | None = None
    registered: bool = False

    @property
    def ok(self) -> bool:
        return self.node is not None


def auth_error(message: str) -> AuthOutcome:
    return AuthOutcome({"type": "auth_error", "message": message})


class FailureLimiter:
    """Failures only: `limit` within `window` s lock the key until window s after the first."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._failures: dict[str, tuple[float, int]] = {}
        self.lockouts_logged: set[str] = set()

    def locked(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        entry = self._failures.get(key)
        if entry is None:
            return False
        first, count = entry
        if now - first >= self.window:
            del self._failures[key]
            self.lockouts_logged.discard(key)
            return False
        return count >= self.limit

    def fail(self, key: str, now: float | None = None) -> bool:
        """Count a failure; True when this one reaches the limit."""
        now = time.monotonic() if now is None else now
        first, count = self._failures.get(key, (now, 0))
        if now - first >= self.window:
            first, count = now, 0
        self._failures[key] = (first, count + 1)
        if len(self._failures) > 200_000:
            self._failures = {k: v for k, v in self._failures.items() if now - v[0] < self.window}
        return count + 1 == self.limit

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)
        self.lockouts_logged.discard(key)


class NodeAuthenticator:
    def __init__(self, db: Database, vault: Vault):
        self.db = db
        self.vault = vault
        self.by_identifier = FailureLimiter(FAILURE_LIMIT, FAILURE_WINDOW)
        self.by_ip = FailureLimiter(IP_TOKEN_FAILURE_LIMIT, FAILURE_WINDOW)

    def _log_lockout_once(self, key: str) -> None:
        if key not in self.by_identifier.lockouts_logged:
            self.by_identifier.lockouts_logged.add(key)
            log.warning("node authentication locked out for 60 s: %s", key if not key.startswith("token:") else "token:…")

    async def check(self, payload: Any, ip: str) -> AuthOutcome:
        if not isinstance(payload, dict):
            return auth_error("Invalid auth payload")
        token = payload.get("registration_token")
        if isinstance(token, str) and token:
            return await self._register(token, payload, ip)
        return await self._credentials(payload)

    async def _register(self, token: str, payload: dict[str, Any], ip: str) -> AuthOutcome:
        key = "token:" + token[:8]
        if self.by_identifier.locked(key) or self.by_ip.locked("ip:" + ip):
            self._log_lockout_once(key)
            return auth_error("Too many failed attempts. Try again later.")
        token_hash = self.vault.registration_token_hash(token[:4096])
        secret = new_token()
        result = await self.db.write(_consume_token, token_hash, secret, self.vault, payload.get("device_type"))
        if isinstance(result, str):
            if result == "Invalid registration token":
                self.by_identifier.fail(key)
                self.by_ip.fail("ip:" + ip)
            return auth_error(result)
        self.by_identifier.clear(key)
        return AuthOutcome({"type": "register_ack", "timestamp": now_iso(),
                            "payload": {"node_id": result.id, "node_secret": secret}}, result, registered=True)

    async def _credentials(self, payload: dict[str, Any]) -> AuthOutcome:
        node_id, secret = payload.get("node_id"), payload.get("node_secret")
        if not isinstance(node_id, str) or not node_id:
            return auth_error("Missing node_id in auth payload")
        if not isinstance(secret, str) or not secret:
            return auth_error("Missing node_secret in auth payload")
        node_id = node_id[:128]
        if self.by_identifier.locked(node_id):
            self._log_lockout_once(node_id)
            return auth_error("Too many failed authentication attempts. Locked out for 60 seconds.")
        node = await self.db.read(Node.get_or_none, Node.id == node_id)
        if node is None:
            self.by_identifier.fail(node_id)
            return auth_error("Node not registered")
        which = self._match_secret(node, secret[:4096])
        if which is None:
            if self.by_identifier.fail(node_id):
                self._log_lockout_once(node_id)
                return auth_error("Invalid node secret. Too many failures — locked out for 60 seconds.")
            return auth_error("Invalid node secret")
        if node.expires_at and node.expires_at <= now_iso():
            return auth_error("Node has expired")
        device_type = payload.get("device_type")
        if isinstance(device_type, str) and device_type and device_type != node.device_type:
            return auth_error(f"Device type mismatch: node says {device_type}, manager record is {node.device_type}")
        self.by_identifier.clear(node_id)
        if (which == "current" and node.previous_secret_enc) or which == "pending":
            await self.db.write(_settle_rotation, node.id, which, self.vault)
        return AuthOutcome({"type": "auth_ok", "timestamp": now_iso()}, node)

    def _match_secret(self, node: Node, presented: str) -> str | None:
        """Which stored secret matches: current, previous (rotation grace) or pending (ack lost)."""
        match = None
        for column in ("secret_enc", "previous_secret_enc", "pending_secret_enc"):
            stored = getattr(node, column)
            if not stored:
                continue
            try:
                value = self.vault.open_text(SECRET_DOMAIN, stored, table="nodes", column=column, row_id=node.id)
            except SecretDecryptError:
                log.error("node %s: stored %s does not decrypt (master key changed?)", node.id, column)
                continue
            if constant_time_equals(value, presented) and match is None:
                match = {"secret_enc": "current", "previous_secret_enc": "previous",
                         "pending_secret_enc": "pending"}[column]
        return match


def _consume_token(token_hash: str, secret: str, vault: Vault, claimed_type: Any) -> Node | str:
    """Registration in one transaction: find the pending record, store the secret, drop the token."""
    node = Node.get_or_none(Node.token_hash == token_hash)
    if node is None:
        return "Invalid registration token"
    if node.expires_at and node.expires_at <= now_iso():
        return "Node has expired"
    if isinstance(claimed_type, str) and claimed_type and claimed_type != node.device_type:
        return f"Device type mismatch: node says {claimed_type}, manager record is {node.device_type}"
    sealed = vault.seal_text(SECRET_DOMAIN, secret, table="nodes", column="secret_enc", row_id=node.id)
    stamp = now_iso()
    Node.update(token_hash=None, secret_enc=sealed, previous_secret_enc=None, pending_secret_enc=None,
                registered_at=stamp, connected_after_register=False, updated_at=stamp).where(Node.id == node.id).execute()
    return Node.get_by_id(node.id)


def _settle_rotation(node_id: str, which: str, vault: Vault) -> None:
    """The node proved which secret it holds (node-protocol §2.7).

    current with a previous one kept: a login with the new secret proves a restart, so the grace
    ends. pending (the rotate ack was lost): the node did persist the new secret and restarted,
    so it becomes current. A login with the old secret while a pending one exists proves
    nothing (edges keep sending the old secret until they restart), so both stay valid.
    """
    node = Node.get_by_id(node_id)
    if which == "current":
        Node.update(previous_secret_enc=None).where(Node.id == node_id).execute()
    elif which == "pending" and node.pending_secret_enc:
        value = vault.open_text(SECRET_DOMAIN, node.pending_secret_enc, table="nodes",
                                column="pending_secret_enc", row_id=node_id)
        sealed = vault.seal_text(SECRET_DOMAIN, value, table="nodes", column="secret_enc", row_id=node_id)
        Node.update(secret_enc=sealed, previous_secret_enc=None, pending_secret_enc=None,
                    updated_at=now_iso()).where(Node.id == node_id).execute()
