"""Master-key rotation (product.md §9.5): re-wrap every data key under the new master key.

ENCRYPTED_COLUMNS is the one list of every envelope-encrypted column; a new secret column is
added here or rotation (and the plaintext scan in the tests) will not know about it. Runs in
one transaction: every re-wrapped value is opened with the new key before anything commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import peewee as pw

from ..db.models import AIKey, AIProposal, Node, NodeConfig
from . import audit
from .audit import Actor
from .crypto import SecretDecryptError, Vault


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[pw.Model]
    column: str
    domain: str
    row_id: Callable[[pw.Model], str]

    @property
    def table(self) -> str:
        return self.model._meta.table_name


ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn(Node, "secret_enc", "node-secret", lambda r: r.id),
    EncryptedColumn(Node, "previous_secret_enc", "node-secret", lambda r: r.id),
    EncryptedColumn(Node, "pending_secret_enc", "node-secret", lambda r: r.id),
    EncryptedColumn(NodeConfig, "config_enc", "node-config", lambda r: r.node_id),
    EncryptedColumn(AIKey, "key_enc", "ai-key", lambda r: f"{r.user_id}:{r.provider}"),
    EncryptedColumn(AIProposal, "secrets_enc", "ai-proposal", lambda r: r.id),
)


class RotationFailed(Exception):
    pass


@dataclass
class RotationReport:
    rewrapped: int = 0
    invalidated_tokens: list[tuple[str, str]] = field(default_factory=list)


def rotate(old_key: bytes, new_key: bytes) -> RotationReport:
    """Run inside a write transaction; raises RotationFailed (and so rolls back) on any failure."""
    old, new = Vault(old_key), Vault(new_key)
    report = RotationReport()
    for col in ENCRYPTED_COLUMNS:
        field_obj = getattr(col.model, col.column)
        for row in col.model.select().where(field_obj.is_null(False)):
            stored = getattr(row, col.column)
            where = dict(table=col.table, column=col.column, row_id=col.row_id(row))
            try:
                rewrapped = old.rewrap(stored, new, col.domain, **where)
                new.open(col.domain, rewrapped, **where)  # prove it opens before committing
            except SecretDecryptError as exc:
                raise RotationFailed(f"{col.table}.{col.column} row {col.row_id(row)}: {exc}") from None
            setattr(row, col.column, rewrapped)
            row.save(only=[field_obj])
            report.rewrapped += 1
    # Registration-token hashes are keyed by the master key and cannot be re-hashed.
    for node in Node.select().where(Node.token_hash.is_null(False)):
        report.invalidated_tokens.append((node.id, node.name))
    Node.update(token_hash=None).where(Node.token_hash.is_null(False)).execute()
    audit.record(Actor.cli(), "master_key.rotate", details={
        "rewrapped": report.rewrapped, "invalidated_tokens": [n for n, _ in report.invalidated_tokens]})
    return report

