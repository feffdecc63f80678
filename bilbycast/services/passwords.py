"""User password hashing and policy (product.md §9.4).

Argon2id with RFC 9106's low-memory profile (t=3, m=64 MiB, p=4). Hashes are PHC strings
(`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), so a hash made under older parameters still verifies
and `needs_rehash` tells the login path to upgrade it.
"""

from __future__ import annotations

import base64
import os
import re
import threading

from cryptography.exceptions import InvalidKey, UnsupportedAlgorithm
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 128

_PHC = re.compile(
    r"\$argon2id\$v=(?P<version>\d+)\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<hash>[A-Za-z0-9+/]+)"
)
_ARGON2_VERSION = 19
# A stored hash asking for more than this is corrupt or hostile; refusing it keeps one bad row
# from making a login allocate gigabytes or spin for minutes.
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_TIME_COST = 64
_MAX_PARALLELISM = 64


def _b64_len(encoded: str) -> int:
    return len(base64.b64decode(encoded + "=" * (-len(encoded) % 4)))


def _parse_phc(phc: str) -> dict[str, int] | None:
    """The parameters of an Argon2id PHC string, or None if it is not one we would verify."""
    match = _PHC.fullmatch(phc) if isinstance(phc, str) else None
    if not match:
        return None
    try:
        params = {
            "version": int(match["version"]),
            "m": int(match["m"]),
            "t": int(match["t"]),
            "p": int(match["p"]),
            "salt_len": _b64_len(match["salt"]),
            "hash_len": _b64_len(match["hash"]),
        }
    except ValueError:
        return None
    if params["m"] > _MAX_MEMORY_KIB or params["t"] > _MAX_TIME_COST or params["p"] > _MAX_PARALLELISM:
        return None
    return params


class PasswordHasher:
    """Hash, verify and upgrade password hashes. Safe to share between threads."""

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost_kib: int = 64 * 1024,
        parallelism: int = 4,
        salt_len: int = 16,
        hash_len: int = 32,
    ) -> None:
        self.time_cost = time_cost
        self.memory_cost_kib = memory_cost_kib
        self.parallelism = parallelism
        self.salt_len = salt_len
        self.hash_len = hash_len
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        if not isinstance(password, str):
            raise TypeError("password must be a str")
        kdf = Argon2id(
            salt=os.urandom(self.salt_len),
            length=self.hash_len,
            iterations=self.time_cost,
            lanes=self.parallelism,
            memory_cost=self.memory_cost_kib,
        )
        return kdf.derive_phc_encoded(password.encode("utf-8"))

    def verify(self, phc: str, password: str) -> bool:
        """True only when `password` matches; False for a mismatch or an unusable stored hash."""
        if not isinstance(password, str) or _parse_phc(phc) is None:
            return False
        try:
            Argon2id.verify_phc_encoded(password.encode("utf-8"), phc)
        except (InvalidKey, ValueError, TypeError, UnsupportedAlgorithm, MemoryError):
            return False
        return True

    def needs_rehash(self, phc: str) -> bool:
        """True when the hash was made with other parameters than this hasher's (or is unreadable)."""
        params = _parse_phc(phc)
        if params is None:
            return True
        return params != {
            "version": _ARGON2_VERSION,
            "m": self.memory_cost_kib,
            "t": self.time_cost,
            "p": self.parallelism,
            "salt_len": self.salt_len,
            "hash_len": self.hash_len,
        }

    def verify_dummy(self, password: str) -> None:
        """Spend one verification's time for an unknown user, so timing does not reveal who exists."""
        with self._dummy_lock:
            if self._dummy_hash is None:
                # Made lazily, with this hasher's parameters, so it costs exactly what a real check does.
                self._dummy_hash = self.hash(base64.b64encode(os.urandom(24)).decode("ascii"))
            dummy = self._dummy_hash
        self.verify(dummy, password if isinstance(password, str) else "")


def password_policy_errors(password: object, username: str | None = None) -> list[str]:
    """Why `password` is not acceptable (empty when it is): 8–128 characters, not the username."""
    if not isinstance(password, str):
        return ["password must be a string"]
    errors = []
    if len(password) < PASSWORD_MIN_CHARS:
        errors.append(f"password must be at least {PASSWORD_MIN_CHARS} characters")
    if len(password) > PASSWORD_MAX_CHARS:
        errors.append(f"password must be at most {PASSWORD_MAX_CHARS} characters")
    if username and password.casefold() == username.casefold():
        errors.append("password must not be the same as the username")
    return errors
