"""Encrypted backup export and import (api.md §13, product.md §10 and §13). No Tornado here.

The file is a JSON envelope: `format`, `format_version`, `created_at`, `manager_version`, `kdf`,
`cipher` and `ciphertext`. The key is Argon2id(passphrase, salt); the AES-256-GCM associated data
is the canonical JSON of every envelope field except the ciphertext, so a changed header fails
exactly like a changed ciphertext. The plaintext is gzip'd JSON: `exported_at`, `exported_by`,
`manager_version` and `data`.

Secrets travel in plaintext *inside* the passphrase-encrypted payload: every column that
keyrotation.ENCRYPTED_COLUMNS lists for a carried table is opened with this installation's vault
on export and sealed under the target's vault on import. The file therefore never depends on a
master key, and a new secret column on a carried table is carried without touching this module.

Three steps on each side, so the slow parts stay off the event loop and out of the writer:
  export: collect_payload (a DB read, one snapshot) -> seal_payload (CPU: gzip, Argon2id, AES)
  import: open_backup (CPU) -> prepare_import (CPU: validate, seal) -> apply_import (the writer)
`build_export` runs both export steps for the CLI.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import logging
import math
import os
import unicodedata
import zlib
from dataclasses import dataclass, field
from typing import Any

import peewee as pw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from .. import __version__
from ..db.models import (ALL_MODELS, AIKey, AuditRow, Event, JSONField, Node, NodeConfig, Preference, Setting,
                         TopologyPosition, User)
from ..timeutil import now_iso, parse_rfc3339
from . import audit
from .audit import Actor
from .crypto import SecretDecryptError, Vault
from .errors import ApiError
from .keyrotation import ENCRYPTED_COLUMNS, EncryptedColumn
from .settings import DEFINITIONS

log = logging.getLogger("bilbycast.backup")

FORMAT = "bilbycast-manager-backup"
FORMAT_VERSION = 1
PASSPHRASE_MIN_CHARS = 12
PASSPHRASE_MAX_CHARS = 4096
KDF = {"name": "argon2id", "memory_kib": 64 * 1024, "iterations": 3, "parallelism": 1}
CIPHER = "aes-256-gcm"
SALT_BYTES, NONCE_BYTES, KEY_BYTES = 16, 12, 32
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_PLAINTEXT_BYTES = 512 * 1024 * 1024   # after gunzip; bounds what a crafted file can make us hold
EVENTS_MAX, AUDIT_MAX = 50_000, 100_000
# What a file written elsewhere may ask of the KDF before we refuse to spend the memory and time.
KDF_BOUNDS = {"memory_kib": (8, 256 * 1024), "iterations": (1, 16), "parallelism": (1, 16)}
INSERT_CHUNK = 200


@dataclass(frozen=True)
class Carried:
    """One table a backup carries, under `data[key]`. `newest`: optional, newest N rows only."""

    key: str
    model: type[pw.Model]
    newest: int | None = None


# Exactly what a backup carries (api.md §13.1), in insert order (parents before children).
CARRIED: tuple[Carried, ...] = (
    Carried("users", User),
    Carried("nodes", Node),
    Carried("settings", Setting),
    Carried("ai_keys", AIKey),
    Carried("topology_positions", TopologyPosition),
    Carried("preferences", Preference),
    Carried("events", Event, newest=EVENTS_MAX),
    Carried("audit_log", AuditRow, newest=AUDIT_MAX),
)
OPTIONAL = ("events", "audit_log")
# A node's cached config rides inside its node entry under this key.
NODE_CONFIG_KEY = "last_config"
# Registration-token hashes are HMACs under the source's master key: useless anywhere else, so
# pending nodes arrive without a token and are listed in nodes_needing_token.
NOT_CARRIED_COLUMNS: dict[type[pw.Model], frozenset[str]] = {Node: frozenset({"token_hash"})}
# Everything else in ALL_MODELS (sessions, login-failure counters, and any table added later that is
# not listed above, such as AI threads) is emptied by an import and never exported.


def not_carried_models() -> list[type[pw.Model]]:
    carried = {c.model for c in CARRIED} | {NodeConfig}
    return [m for m in ALL_MODELS if m not in carried]


def invalid(message: str) -> ApiError:
    return ApiError(422, "backup_invalid", message)


# -- passphrase ------------------------------------------------------------------------------

def check_passphrase(value: Any) -> str:
    """The passphrase rule (≥ 12 characters); NFC so the same words typed anywhere give one key."""
    if not isinstance(value, str) or value == "":
        raise ApiError(422, "validation_failed", "A backup passphrase is required (X-Backup-Passphrase)",
                       fields=[{"path": "/passphrase", "message": "required"}])
    value = unicodedata.normalize("NFC", value)
    if not PASSPHRASE_MIN_CHARS <= len(value) <= PASSPHRASE_MAX_CHARS:
        raise ApiError(422, "validation_failed",
                       f"The backup passphrase must be {PASSPHRASE_MIN_CHARS}-{PASSPHRASE_MAX_CHARS} characters",
                       fields=[{"path": "/passphrase", "message": f"at least {PASSPHRASE_MIN_CHARS} characters"}])
    return value


def _derive_key(passphrase: str, kdf: dict[str, Any], salt: bytes) -> bytes:
    return Argon2id(salt=salt, length=KEY_BYTES, iterations=kdf["iterations"], lanes=kdf["parallelism"],
                    memory_cost=kdf["memory_kib"]).derive(passphrase.encode("utf-8"))


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- rows <-> payload entries ----------------------------------------------------------------

def _fields(model: type[pw.Model]) -> list[pw.Field]:
    skip = NOT_CARRIED_COLUMNS.get(model, frozenset())
    return [f for f in model._meta.sorted_fields if f.column_name not in skip]


def _secret_columns(model: type[pw.Model]) -> dict[str, EncryptedColumn]:
    return {c.column: c for c in ENCRYPTED_COLUMNS if c.model is model}


def plain_name(column: str) -> str:
    """secret_enc -> secret, config_enc -> config, key_enc -> key: the plaintext's name in the payload."""
    return column[:-len("_enc")] if column.endswith("_enc") else column + "_plain"


def _key_order(model: type[pw.Model]) -> list[pw.Field]:
    pk = model._meta.primary_key
    if isinstance(pk, pw.CompositeKey):
        return [model._meta.fields[name] for name in pk.field_names]
    return [pk]


@dataclass
class ExportStats:
    counts: dict[str, int] = field(default_factory=dict)
    unreadable_secrets: list[str] = field(default_factory=list)   # "table.column row id": never values


def _export_row(row: pw.Model, model: type[pw.Model], vault: Vault, stats: ExportStats) -> dict[str, Any] | None:
    """One row as a payload entry (column names, secrets opened). None: a required secret is unreadable."""
    secrets = _secret_columns(model)
    out: dict[str, Any] = {}
    for f in _fields(model):
        value = row.__data__.get(f.name)
        column = secrets.get(f.column_name)
        if column is None:
            out[f.column_name] = value
            continue
        plain = None
        if value is not None:
            try:
                plain = vault.open_text(column.domain, value, table=column.table, column=column.column,
                                        row_id=column.row_id(row))
            except SecretDecryptError as exc:
                # Already useless on this installation (wrong master key or damaged): carried as
                # absent, so a node comes back pending instead of the whole export failing.
                log.warning("backup export: %s", exc)
                stats.unreadable_secrets.append(f"{column.table}.{column.column} row {column.row_id(row)}")
                if not f.null:
                    return None
        out[plain_name(f.column_name)] = plain
    return out


def collect_payload(vault: Vault, *, exported_by: str, include_events: bool = False,
                    include_audit: bool = False) -> tuple[dict[str, Any], ExportStats]:
    """Read everything a backup carries from one database snapshot (run in a DB reader thread)."""
    stats = ExportStats()
    data: dict[str, Any] = {}
    asked = {"events": include_events, "audit_log": include_audit}
    with User._meta.database.atomic():  # one read transaction: one consistent snapshot
        for carried in CARRIED:
            if carried.key in OPTIONAL and not asked[carried.key]:
                continue
            model = carried.model
            query = model.select()
            if carried.newest:
                rows = list(query.order_by(*[f.desc() for f in _key_order(model)]).limit(carried.newest))
                rows.reverse()
            else:
                rows = list(query.order_by(*_key_order(model)))
            entries = [e for e in (_export_row(r, model, vault, stats) for r in rows) if e is not None]
            data[carried.key] = entries
        configs = {row.__data__["node"]: row for row in NodeConfig.select()}
        for node in data["nodes"]:
            row = configs.get(node["id"])
            entry = _export_row(row, NodeConfig, vault, stats) if row is not None else None
            if entry is not None:
                entry.pop("node_id", None)
            node[NODE_CONFIG_KEY] = entry
    stats.counts = {key: len(value) for key, value in data.items()}
    payload = {"exported_at": now_iso(), "exported_by": exported_by, "manager_version": __version__, "data": data}
    return payload, stats


# -- the file --------------------------------------------------------------------------------

@dataclass
class BackupFile:
    content: bytes
    created_at: str

    @property
    def filename(self) -> str:
        moment = parse_rfc3339(self.created_at)
        return f"bilbycast-manager-backup-{moment.strftime('%Y%m%d-%H%M%S')}.json"


def seal_payload(payload: dict[str, Any], passphrase: str) -> BackupFile:
    """gzip, Argon2id, AES-256-GCM (CPU work: run it off the event loop)."""
    passphrase = check_passphrase(passphrase)
    compressed = gzip.compress(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
                               compresslevel=6, mtime=0)
    if (len(compressed) + 16) * 4 // 3 + 1024 > MAX_FILE_BYTES:
        raise ApiError(422, "validation_failed",
                       f"The backup would be over {MAX_FILE_BYTES // (1024 * 1024)} MiB, the import limit; "
                       "leave out events or the audit log")
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    header = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "created_at": now_iso(), "manager_version": __version__,
        "kdf": {**KDF, "salt": _b64(salt)},
        "cipher": {"name": CIPHER, "nonce": _b64(nonce)},
    }
    key = _derive_key(passphrase, header["kdf"], salt)
    ciphertext = AESGCM(key).encrypt(nonce, compressed, _canonical(header))
    document = {**header, "ciphertext": _b64(ciphertext)}
    return BackupFile((json.dumps(document, indent=2) + "\n").encode("utf-8"), header["created_at"])


def build_export(vault: Vault, passphrase: str, *, exported_by: str, include_events: bool = False,
                 include_audit: bool = False) -> tuple[BackupFile, ExportStats]:
    """Both export steps in the calling thread (the CLI)."""
    passphrase = check_passphrase(passphrase)
    payload, stats = collect_payload(vault, exported_by=exported_by, include_events=include_events,
                                     include_audit=include_audit)
    return seal_payload(payload, passphrase), stats


@dataclass
class OpenedBackup:
    header: dict[str, Any]        # every envelope field but the ciphertext
    payload: dict[str, Any]


def _b64_field(value: Any, name: str, sizes: range) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) not in sizes:
        raise invalid(f"{name} is not valid base64 of the right length")
    return raw


def _int_in(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"{name} must be an integer between {low} and {high}")
    return value


def open_backup(document: bytes | dict[str, Any], passphrase: str) -> OpenedBackup:
    """Check the envelope, derive the key, authenticate and decrypt (CPU work: off the loop).

    422 backup_invalid for a file that is not a v1 backup; 422 backup_decrypt_failed for a wrong
    passphrase or any changed byte in the header or ciphertext.
    """
    passphrase = check_passphrase(passphrase)
    if isinstance(document, (bytes, bytearray)):
        if len(document) > MAX_FILE_BYTES:
            raise invalid(f"The file is over {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        try:
            document = json.loads(document)
        except (ValueError, UnicodeDecodeError):
            raise invalid("The file is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise invalid("This is not a bilbycast-manager backup file")
    version = document.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise invalid(f"Backup format_version {version!r} is not supported (this manager reads {FORMAT_VERSION})")
    for name in ("created_at", "manager_version"):
        if not isinstance(document.get(name), str):
            raise invalid(f"{name} must be a string")
    kdf, cipher = document.get("kdf"), document.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != KDF["name"]:
        raise invalid("kdf must be argon2id")
    if not isinstance(cipher, dict) or cipher.get("name") != CIPHER:
        raise invalid("cipher must be aes-256-gcm")
    for name, (low, high) in KDF_BOUNDS.items():
        _int_in(kdf.get(name), f"kdf.{name}", low, high)
    if kdf["memory_kib"] < 8 * kdf["parallelism"]:
        raise invalid("kdf.memory_kib must be at least 8 × parallelism")
    salt = _b64_field(kdf.get("salt"), "kdf.salt", range(8, 65))
    nonce = _b64_field(cipher.get("nonce"), "cipher.nonce", range(NONCE_BYTES, NONCE_BYTES + 1))
    ciphertext = _b64_field(document.get("ciphertext"), "ciphertext", range(16, MAX_FILE_BYTES))
    header = {k: v for k, v in document.items() if k != "ciphertext"}
    key = _derive_key(passphrase, kdf, salt)
    try:
        compressed = AESGCM(key).decrypt(nonce, ciphertext, _canonical(header))
    except InvalidTag:
        raise ApiError(422, "backup_decrypt_failed",
                       "The backup does not decrypt: wrong passphrase, or the file was changed") from None
    payload = _parse_payload(_gunzip(compressed))
    return OpenedBackup(header, payload)


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_PLAINTEXT_BYTES)
    except zlib.error:
        raise invalid("The decrypted payload is not gzip data") from None
    if inflater.unconsumed_tail:
        raise invalid(f"The payload is over {MAX_PLAINTEXT_BYTES // (1024 * 1024)} MiB uncompressed")
    return out


def _parse_payload(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("The decrypted payload is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise invalid("The payload has no data object")
    for name in ("exported_at", "exported_by", "manager_version"):
        if not isinstance(payload.get(name), str):
            raise invalid(f"The payload's {name} must be a string")
    data = payload["data"]
    for carried in CARRIED:
        if carried.key not in data and carried.key in OPTIONAL:
            continue
        entries = data.get(carried.key)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise invalid(f"data.{carried.key} must be a list of objects")
    unknown = sorted(set(data) - {c.key for c in CARRIED})
    if unknown:
        log.warning("backup import: ignoring data this manager does not know: %s", ", ".join(unknown))
    return payload


# -- import ----------------------------------------------------------------------------------

@dataclass
class PreparedImport:
    """Validated rows ready to insert, secrets already sealed under the target's vault."""

    rows: dict[str, list[dict[str, Any]]]
    node_configs: list[dict[str, Any]]
    settings: dict[str, Any]
    nodes_needing_token: list[str]
    source: dict[str, Any]
    counts: dict[str, int]


@dataclass
class ImportReport:
    counts: dict[str, int]
    nodes_needing_token: list[str]
    settings: dict[str, Any]             # the runtime values now stored (the rest are defaults)
    settings_updated_at: str | None
    settings_updated_by: str | None

    def to_api(self) -> dict[str, Any]:
        return {"imported": self.counts, "nodes_needing_token": self.nodes_needing_token, "sessions_revoked": True}


def _check_value(f: pw.Field, value: Any, where: str) -> Any:
    column = f.column_name
    if value is None:
        if f.null:
            return None
        raise invalid(f"{where}: {column} must not be null")
    if isinstance(f, pw.ForeignKeyField):
        f = f.rel_field
    if isinstance(f, JSONField):
        return value
    if isinstance(f, pw.BooleanField):
        ok = isinstance(value, bool)
    elif isinstance(f, pw.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(f, pw.FloatField):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise invalid(f"{where}: {column} has the wrong type")
    return value


def _import_row(model: type[pw.Model], entry: dict[str, Any], where: str, vault: Vault) -> dict[str, Any]:
    """A payload entry as insert values (by field name), its plaintext secrets sealed for the target."""
    secrets = _secret_columns(model)
    values: dict[str, Any] = {}
    for f in _fields(model):
        if f.column_name in secrets:
            continue
        if f.column_name in entry:
            values[f.name] = _check_value(f, entry[f.column_name], where)
        elif f.default is not None:  # every row gets every column: insert_many takes one column list
            values[f.name] = f.default() if callable(f.default) else f.default
        elif f.null or isinstance(f, pw.AutoField):
            values[f.name] = None
        else:
            raise invalid(f"{where}: {f.column_name} is missing")
    located = model(**values)  # the row's identity, for the AAD that binds each secret to it
    for column, spec in secrets.items():
        f = next(x for x in model._meta.sorted_fields if x.column_name == column)
        plain = entry.get(plain_name(column))
        if plain is None:
            if not f.null:
                raise invalid(f"{where}: {plain_name(column)} is missing")
            values[f.name] = None
            continue
        if not isinstance(plain, str):
            raise invalid(f"{where}: {plain_name(column)} must be a string")
        values[f.name] = vault.seal_text(spec.domain, plain, table=spec.table, column=column,
                                         row_id=spec.row_id(located))
    return values


def prepare_import(opened: OpenedBackup, vault: Vault) -> PreparedImport:
    """Validate every entry and seal every secret under the target's vault (CPU; no database)."""
    data = opened.payload["data"]
    rows: dict[str, list[dict[str, Any]]] = {}
    node_configs: list[dict[str, Any]] = []
    settings: dict[str, Any] = {}
    for carried in CARRIED:
        out = rows[carried.key] = []
        for index, entry in enumerate(data.get(carried.key, [])):
            where = f"data.{carried.key}[{index}]"
            if carried.model is Setting:
                key, value = entry.get("key"), entry.get("value")
                definition = DEFINITIONS.get(key) if isinstance(key, str) else None
                if definition is None or definition.check(key, value) is not None:
                    log.warning("backup import: skipping setting %r (unknown or out of range here)", key)
                    continue
                settings[key] = value
            out.append(_import_row(carried.model, entry, where, vault))
            if carried.model is Node:
                config = entry.get(NODE_CONFIG_KEY)
                if config is None:
                    continue
                if not isinstance(config, dict):
                    raise invalid(f"{where}: {NODE_CONFIG_KEY} must be an object or null")
                node_configs.append(_import_row(NodeConfig, {**config, "node_id": out[-1]["id"]},
                                                f"{where}.{NODE_CONFIG_KEY}", vault))
    if not any(u["role"] == "super_admin" and u.get("is_active", True) for u in rows["users"]):
        raise invalid("The backup holds no active super_admin: nobody could manage this installation after it")
    needing_token = [n["id"] for n in rows["nodes"] if n.get("secret_enc") is None]
    source = {"created_at": opened.header.get("created_at"), "manager_version": opened.header.get("manager_version"),
              "exported_by": opened.payload.get("exported_by")}
    return PreparedImport(rows, node_configs, settings, needing_token, source,
                          {c.key: len(rows[c.key]) for c in CARRIED})


def target_is_empty() -> bool:
    """A fresh installation: no node and at most the one user `setup` created."""
    return not Node.select().exists() and User.select().count() <= 1


def apply_import(prepared: PreparedImport, actor: Actor, *, force: bool = False) -> ImportReport:
    """Replace the manager's data with the backup's, in the caller's write transaction.

    Any failure raises, and the transaction (or the writer's savepoint) rolls everything back.
    Sessions are not carried, so emptying their table revokes every session, the caller's too.
    """
    if not force and not target_is_empty():
        raise ApiError(409, "import_target_not_empty",
                       "This manager already holds nodes or more than one user; import with force=true to replace them")
    replaced = {"users": User.select().count(), "nodes": Node.select().count()}
    for model in reversed(not_carried_models()):
        model.delete().execute()
    for model in (Event, Preference, TopologyPosition, AIKey, NodeConfig, Node, User, Setting):
        model.delete().execute()
    appended = 0
    try:
        for carried in CARRIED:
            if carried.model is AuditRow:
                appended = _append_audit_rows(prepared.rows[carried.key])
            else:
                _insert(carried.model, prepared.rows[carried.key])
            if carried.model is Node:
                _insert(NodeConfig, prepared.node_configs)
    except (pw.IntegrityError, pw.DataError, OverflowError) as exc:
        raise invalid(f"The backup's records do not fit together ({exc})") from None
    audit.record(actor, "backup.import", target_type="backup", details={
        "source": prepared.source, "forced": force, "imported": prepared.counts, "replaced": replaced,
        "audit_rows_appended": appended, "pending_nodes": prepared.nodes_needing_token})
    stored = list(Setting.select().order_by(Setting.updated_at.desc()).limit(1))
    return ImportReport(dict(prepared.counts), list(prepared.nodes_needing_token), dict(prepared.settings),
                        stored[0].updated_at if stored else None, stored[0].updated_by if stored else None)


def _insert(model: type[pw.Model], rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        model.insert_many(rows[start:start + INSERT_CHUNK]).execute()


def _audit_identity(row: dict[str, Any]) -> tuple:
    details = row.get("details")
    return (row.get("created_at"), row.get("user_id"), row.get("username"), row.get("action"),
            row.get("target_type"), row.get("target_id"), row.get("node_id"), row.get("result"),
            row.get("error_code"), None if details is None else _canonical(details), row.get("ip_address"))


def _append_audit_rows(rows: list[dict[str, Any]]) -> int:
    """The audit log is append-only (product.md §9.7), so an import never deletes a row of it.

    The backup's rows are appended with fresh ids, in their order, skipping any row the log
    already holds (re-importing a backup of this same installation adds nothing twice).
    """
    present = {_audit_identity(r) for r in AuditRow.select().dicts().iterator()}
    fresh = []
    for row in rows:
        identity = _audit_identity(row)
        if identity not in present:
            present.add(identity)
            fresh.append({k: v for k, v in row.items() if k != "id"})
    _insert(AuditRow, fresh)
    return len(fresh)
