"""Password hashing and policy (product.md §9.4)."""

import re
import time

import pytest

from bilbycast.services.passwords import PasswordHasher, password_policy_errors


@pytest.fixture(scope="module")
def hasher():
    return PasswordHasher()


@pytest.fixture(scope="module")
def stored(hasher):
    return hasher.hash("correct horse battery")


def test_hash_uses_the_spec_parameters(stored):
    match = re.fullmatch(r"\$argon2id\$v=19\$m=65536,t=3,p=4\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)", stored)
    assert match
    assert len(match[1]) == 22  # 16-byte salt, unpadded base64
    assert len(match[2]) == 43  # 32-byte hash


def test_verify(hasher, stored):
    assert hasher.verify(stored, "correct horse battery")
    assert not hasher.verify(stored, "correct horse batterY")
    assert not hasher.verify(stored, "")


def test_same_password_hashes_differently(hasher, stored):
    assert hasher.hash("correct horse battery") != stored


def test_unicode_passwords(hasher):
    phc = hasher.hash("pässwörd ✓ long")
    assert hasher.verify(phc, "pässwörd ✓ long")
    assert not hasher.verify(phc, "passwort ✓ long")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
        "$argon2id$v=19$m=65536,t=3,p=4$!!!$???",
        "$argon2id$v=19$m=4194304,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
        None,
        12345,
    ],
)
def test_malformed_hash_is_false_not_an_error(hasher, bad):
    assert hasher.verify(bad, "correct horse battery") is False


def test_truncated_hash_is_false(hasher, stored):
    assert hasher.verify(stored[:-5], "correct horse battery") is False


def test_needs_rehash(hasher, stored):
    assert not hasher.needs_rehash(stored)
    weaker = PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
    old = weaker.hash("correct horse battery")
    assert hasher.needs_rehash(old)
    # An old hash still verifies, so the login can upgrade it.
    assert hasher.verify(old, "correct horse battery")
    assert hasher.needs_rehash("garbage")
    assert PasswordHasher(memory_cost_kib=32768).needs_rehash(stored)


def test_verify_dummy_takes_as_long_as_a_real_check(hasher, stored):
    assert hasher.verify_dummy("anything") is None  # warms the lazily made dummy hash

    def timed(action):
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    real = min(timed(lambda: hasher.verify(stored, "wrong password")) for _ in range(2))
    dummy = min(timed(lambda: hasher.verify_dummy("wrong password")) for _ in range(2))
    assert dummy > real * 0.5 and dummy < real * 2


def test_password_policy():
    assert password_policy_errors("eight ch") == []
    assert password_policy_errors("x" * 128) == []
    assert password_policy_errors("seven c")
    assert password_policy_errors("x" * 129)
    assert password_policy_errors("ü" * 8) == []  # code points, not bytes
    assert password_policy_errors(12345678) == ["password must be a string"]
    assert password_policy_errors(None)
    same = password_policy_errors("FieldEngineer", username="fieldengineer")
    assert same and "username" in same[0]
    assert password_policy_errors("fieldengineer!", username="fieldengineer") == []
    assert len(password_policy_errors("bob", username="BOB")) == 2
