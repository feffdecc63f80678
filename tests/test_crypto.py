"""Envelope encryption and token hashing (product.md §9.2, §9.3)."""

import base64
import os
import re

import pytest

from bilbycast.services.crypto import (
    DOMAIN_AI_KEY,
    DOMAIN_NODE_CONFIG,
    DOMAIN_NODE_SECRET,
    SecretDecryptError,
    Vault,
    constant_time_equals,
    new_token,
)

WHERE = {"table": "nodes", "column": "secret_enc", "row_id": "3f1c8f0e-6a55-4a57-9c0c-0b8f7f7c1e21"}


@pytest.fixture
def vault():
    return Vault(os.urandom(32))


def test_round_trip_bytes_and_text(vault):
    stored = vault.seal(DOMAIN_NODE_SECRET, b"\x00node secret\xff", **WHERE)
    assert stored.startswith("v1:")
    assert vault.open(DOMAIN_NODE_SECRET, stored, **WHERE) == b"\x00node secret\xff"
    text = vault.seal_text(DOMAIN_AI_KEY, "sk-ünïcode-key", **WHERE)
    assert vault.open_text(DOMAIN_AI_KEY, text, **WHERE) == "sk-ünïcode-key"
    empty = vault.seal(DOMAIN_NODE_CONFIG, b"", **WHERE)
    assert vault.open(DOMAIN_NODE_CONFIG, empty, **WHERE) == b""


def test_stored_layout_matches_spec(vault):
    plaintext = b"x" * 10
    blob = base64.b64decode(vault.seal(DOMAIN_NODE_SECRET, plaintext, **WHERE)[3:], validate=True)
    # dek_nonce(12) + wrapped_dek(32+16) + data_nonce(12) + ciphertext(len) + tag(16)
    assert len(blob) == 12 + 48 + 12 + len(plaintext) + 16


def test_fresh_key_and_nonces_every_seal(vault):
    first = vault.seal(DOMAIN_NODE_SECRET, b"same", **WHERE)
    second = vault.seal(DOMAIN_NODE_SECRET, b"same", **WHERE)
    assert first != second
    a, b = base64.b64decode(first[3:]), base64.b64decode(second[3:])
    assert a[:12] != b[:12] and a[60:72] != b[60:72]


@pytest.mark.parametrize(
    "moved",
    [
        {"row_id": "another-row"},
        {"column": "previous_secret_enc"},
        {"table": "ai_keys"},
    ],
)
def test_value_moved_elsewhere_does_not_open(vault, moved):
    stored = vault.seal(DOMAIN_NODE_SECRET, b"secret", **WHERE)
    with pytest.raises(SecretDecryptError):
        vault.open(DOMAIN_NODE_SECRET, stored, **{**WHERE, **moved})


def test_other_domain_or_master_key_does_not_open(vault):
    stored = vault.seal(DOMAIN_NODE_SECRET, b"secret", **WHERE)
    with pytest.raises(SecretDecryptError):
        vault.open(DOMAIN_AI_KEY, stored, **WHERE)
    with pytest.raises(SecretDecryptError):
        Vault(os.urandom(32)).open(DOMAIN_NODE_SECRET, stored, **WHERE)


@pytest.mark.parametrize("position", [0, 20, 65, 75, -1])
def test_any_tampered_byte_is_refused(vault, position):
    stored = vault.seal(DOMAIN_NODE_SECRET, b"payload of some length", **WHERE)
    blob = bytearray(base64.b64decode(stored[3:]))
    blob[position] ^= 0x01
    with pytest.raises(SecretDecryptError):
        vault.open(DOMAIN_NODE_SECRET, "v1:" + base64.b64encode(bytes(blob)).decode(), **WHERE)


def test_unknown_version_bad_base64_and_truncation_are_refused(vault):
    stored = vault.seal(DOMAIN_NODE_SECRET, b"secret", **WHERE)
    with pytest.raises(SecretDecryptError, match="version"):
        vault.open(DOMAIN_NODE_SECRET, "v2:" + stored[3:], **WHERE)
    with pytest.raises(SecretDecryptError, match="version"):
        vault.open(DOMAIN_NODE_SECRET, stored[3:], **WHERE)
    with pytest.raises(SecretDecryptError, match="base64"):
        vault.open(DOMAIN_NODE_SECRET, "v1:not*base64!", **WHERE)
    with pytest.raises(SecretDecryptError):
        vault.open(DOMAIN_NODE_SECRET, "v1:" + base64.b64encode(b"short").decode(), **WHERE)


def test_errors_do_not_contain_secret_material(vault):
    plaintext_looking = "hunter2-plaintext-secret:oops"
    with pytest.raises(SecretDecryptError) as caught:
        vault.open(DOMAIN_NODE_SECRET, plaintext_looking, **WHERE)
    assert "hunter2" not in str(caught.value)
    stored = vault.seal(DOMAIN_NODE_SECRET, b"very-secret-value", **WHERE)
    with pytest.raises(SecretDecryptError) as caught:
        Vault(os.urandom(32)).open(DOMAIN_NODE_SECRET, stored, **WHERE)
    assert stored[3:20] not in str(caught.value) and "very-secret" not in str(caught.value)
    assert "Vault" in repr(vault) and len(repr(vault)) < 20


def test_rewrap_moves_the_data_key_to_the_new_master_key(vault):
    new_vault = Vault(os.urandom(32))
    stored = vault.seal(DOMAIN_NODE_SECRET, b"node secret", **WHERE)
    rewrapped = vault.rewrap(stored, new_vault, DOMAIN_NODE_SECRET, **WHERE)
    assert new_vault.open(DOMAIN_NODE_SECRET, rewrapped, **WHERE) == b"node secret"
    with pytest.raises(SecretDecryptError):
        vault.open(DOMAIN_NODE_SECRET, rewrapped, **WHERE)
    # The data nonce and ciphertext are carried over unchanged; only the wrapping differs.
    old_blob, new_blob = base64.b64decode(stored[3:]), base64.b64decode(rewrapped[3:])
    assert old_blob[60:] == new_blob[60:]
    assert old_blob[:60] != new_blob[:60]


def test_rewrap_with_the_wrong_old_key_fails(vault):
    stored = vault.seal(DOMAIN_NODE_SECRET, b"node secret", **WHERE)
    with pytest.raises(SecretDecryptError):
        Vault(os.urandom(32)).rewrap(stored, Vault(os.urandom(32)), DOMAIN_NODE_SECRET, **WHERE)


def test_registration_token_hash_is_stable_per_master_key():
    key = os.urandom(32)
    token = new_token()
    first = Vault(key).registration_token_hash(token)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert Vault(key).registration_token_hash(token) == first
    assert Vault(os.urandom(32)).registration_token_hash(token) != first
    assert Vault(key).registration_token_hash(new_token()) != first


def test_new_token_shape_and_uniqueness():
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert len(base64.urlsafe_b64decode(token + "=")) == 32


def test_constant_time_equals():
    assert constant_time_equals("abc", "abc")
    assert not constant_time_equals("abc", "abd")
    assert not constant_time_equals("abc", "abcd")
    assert constant_time_equals("ünï", "ünï")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        Vault(b"too short")
    vault = Vault(os.urandom(32))
    with pytest.raises(ValueError):
        vault.seal(DOMAIN_NODE_SECRET, b"x", table="a|b", column="c", row_id="1")
    with pytest.raises(ValueError):
        vault.seal("", b"x", **WHERE)
