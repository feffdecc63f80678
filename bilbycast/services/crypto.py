"""Envelope encryption of stored secrets and hashing of registration tokens (product.md §9.2, §9.3).

Every stored secret gets its own random data key (DEK). The DEK encrypts the plaintext and is
itself wrapped under a per-domain key-encryption key (KEK) derived from the master key, so a
master-key rotation only has to re-wrap 48-byte DEKs and never touches the data ciphertexts.
Both encryptions carry the same associated data naming the table, column and row the value is
stored in, so a ciphertext copied anywhere else fails to open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# The four domains the manager uses today; future secrets get their own.
DOMAIN_NODE_SECRET = "node-secret"
DOMAIN_NODE_CONFIG = "node-config"
DOMAIN_AI_KEY = "ai-key"
DOMAIN_AI_PROPOSAL = "ai-proposal"

FORMAT_VERSION = "v1"
_PREFIX = FORMAT_VERSION + ":"
_VERSION_LABEL = re.compile(r"v[0-9]{1,3}")
_HKDF_SALT = b"bilbycast-manager-master-key-v1"
_KEY_LEN = 32
_NONCE_LEN = 12
_TAG_LEN = 16
_WRAPPED_DEK_LEN = _KEY_LEN + _TAG_LEN
# dek_nonce ‖ wrapped_dek ‖ data_nonce ‖ ciphertext ‖ tag; an empty plaintext still has its tag.
_MIN_BLOB_LEN = _NONCE_LEN + _WRAPPED_DEK_LEN + _NONCE_LEN + _TAG_LEN


class SecretDecryptError(Exception):
    """A stored secret could not be opened. The message names where it was stored, never what it holds."""


def new_token() -> str:
    """32 random bytes as base64url without padding (43 characters): registration tokens, node secrets."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode("ascii")


def constant_time_equals(a: str, b: str) -> bool:
    """Compare two secrets without leaking where they differ (only whether the lengths differ)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _aad(table: str, column: str, row_id: str) -> bytes:
    # "|" separates the fields, so it may not appear in table or column names: otherwise
    # ("a|b", "c") and ("a", "b|c") would share an AAD. The row id is last, so it may hold anything.
    for label, value in (("table", table), ("column", column)):
        if not value or "|" in value:
            raise ValueError(f"{label} name must be non-empty and must not contain '|'")
    if not row_id:
        raise ValueError("row id must be non-empty")
    return f"bilbycast|{FORMAT_VERSION}|{table}|{column}|{row_id}".encode("utf-8")


def _hkdf(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_LEN, salt=_HKDF_SALT, info=info).derive(master_key)


def _split(stored: str, where: str) -> tuple[bytes, bytes, bytes, bytes]:
    """Parse the stored text into (dek_nonce, wrapped_dek, data_nonce, ciphertext‖tag)."""
    if not isinstance(stored, str) or not stored.startswith(_PREFIX):
        # Name the version only when it looks like one ("v2"): anything else might be plaintext.
        label = stored.split(":", 1)[0] if isinstance(stored, str) else ""
        shown = repr(label) if _VERSION_LABEL.fullmatch(label) else "missing"
        raise SecretDecryptError(f"{where}: unknown stored-secret format version ({shown})")
    try:
        blob = base64.b64decode(stored[len(_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SecretDecryptError(f"{where}: stored secret is not valid base64") from None
    if len(blob) < _MIN_BLOB_LEN:
        raise SecretDecryptError(f"{where}: stored secret is truncated")
    dek_nonce = blob[:_NONCE_LEN]
    wrapped_dek = blob[_NONCE_LEN:_NONCE_LEN + _WRAPPED_DEK_LEN]
    data_nonce = blob[_NONCE_LEN + _WRAPPED_DEK_LEN:_NONCE_LEN + _WRAPPED_DEK_LEN + _NONCE_LEN]
    ciphertext = blob[_NONCE_LEN + _WRAPPED_DEK_LEN + _NONCE_LEN:]
    return dek_nonce, wrapped_dek, data_nonce, ciphertext


def _join(dek_nonce: bytes, wrapped_dek: bytes, data_nonce: bytes, ciphertext: bytes) -> str:
    return _PREFIX + base64.b64encode(dek_nonce + wrapped_dek + data_nonce + ciphertext).decode("ascii")


class Vault:
    """Seals and opens stored secrets under one master key. Thread-safe."""

    def __init__(self, master_key: bytes) -> None:
        if not isinstance(master_key, (bytes, bytearray)) or len(master_key) != _KEY_LEN:
            raise ValueError("master key must be exactly 32 bytes")
        self._master_key = bytes(master_key)
        self._keks: dict[str, AESGCM] = {}
        self._lock = threading.Lock()
        self._registration_key = _hkdf(self._master_key, b"hmac:registration-token")

    def __repr__(self) -> str:  # keep key material out of logs and tracebacks
        return "<Vault>"

    def _kek(self, domain: str) -> AESGCM:
        if not isinstance(domain, str) or not domain:
            raise ValueError("domain must be a non-empty string")
        with self._lock:
            kek = self._keks.get(domain)
            if kek is None:
                kek = AESGCM(_hkdf(self._master_key, b"kek:" + domain.encode("utf-8")))
                self._keks[domain] = kek
            return kek

    def _unwrap_dek(self, domain: str, dek_nonce: bytes, wrapped_dek: bytes, aad: bytes, where: str) -> bytes:
        try:
            return self._kek(domain).decrypt(dek_nonce, wrapped_dek, aad)
        except InvalidTag:
            raise SecretDecryptError(
                f"{where}: data key did not authenticate (wrong master key or domain, "
                "value moved from another row/column, or tampered)"
            ) from None

    def seal(self, domain: str, plaintext: bytes, *, table: str, column: str, row_id: str) -> str:
        """Encrypt `plaintext` for storage at table.column[row_id] with a fresh DEK and nonces."""
        aad = _aad(table, column, row_id)
        dek = AESGCM.generate_key(bit_length=256)
        data_nonce = os.urandom(_NONCE_LEN)
        ciphertext = AESGCM(dek).encrypt(data_nonce, bytes(plaintext), aad)
        dek_nonce = os.urandom(_NONCE_LEN)
        wrapped_dek = self._kek(domain).encrypt(dek_nonce, dek, aad)
        return _join(dek_nonce, wrapped_dek, data_nonce, ciphertext)

    def open(self, domain: str, stored: str, *, table: str, column: str, row_id: str) -> bytes:
        """Decrypt a value sealed for exactly this domain and location; SecretDecryptError otherwise."""
        aad = _aad(table, column, row_id)
        where = f"{table}.{column} row {row_id}"
        dek_nonce, wrapped_dek, data_nonce, ciphertext = _split(stored, where)
        dek = self._unwrap_dek(domain, dek_nonce, wrapped_dek, aad, where)
        try:
            return AESGCM(dek).decrypt(data_nonce, ciphertext, aad)
        except InvalidTag:
            raise SecretDecryptError(f"{where}: ciphertext did not authenticate (tampered)") from None

    def seal_text(self, domain: str, plaintext: str, *, table: str, column: str, row_id: str) -> str:
        return self.seal(domain, plaintext.encode("utf-8"), table=table, column=column, row_id=row_id)

    def open_text(self, domain: str, stored: str, *, table: str, column: str, row_id: str) -> str:
        raw = self.open(domain, stored, table=table, column=column, row_id=row_id)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretDecryptError(f"{table}.{column} row {row_id}: value is not UTF-8 text") from None

    def rewrap(self, stored: str, new_vault: Vault, domain: str, *, table: str, column: str, row_id: str) -> str:
        """Re-wrap the DEK under `new_vault`'s KEK for master-key rotation.

        The data nonce and ciphertext are carried over byte for byte; only the DEK wrapping
        (with a fresh nonce) changes. The caller checks the result opens under `new_vault`.
        """
        aad = _aad(table, column, row_id)
        where = f"{table}.{column} row {row_id}"
        dek_nonce, wrapped_dek, data_nonce, ciphertext = _split(stored, where)
        dek = self._unwrap_dek(domain, dek_nonce, wrapped_dek, aad, where)
        new_dek_nonce = os.urandom(_NONCE_LEN)
        new_wrapped_dek = new_vault._kek(domain).encrypt(new_dek_nonce, dek, aad)
        return _join(new_dek_nonce, new_wrapped_dek, data_nonce, ciphertext)

    def registration_token_hash(self, token: str) -> str:
        """Hex HMAC-SHA256 of a registration token under K_reg; only this is stored."""
        return hmac.new(self._registration_key, token.encode("utf-8"), hashlib.sha256).hexdigest()
