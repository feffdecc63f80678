"""The two process secrets: the JWT signing key and the master key (product.md §9.1, §9.5).

They come from the environment first and otherwise from `<config_dir>/manager.env`, which must
be private to the running user. Weak values are refused outright: a guessable master key would
make every encrypted secret in the database readable, and a guessable JWT key lets anyone mint
sessions. Error messages never repeat a secret value, because they end up in logs and terminals.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

JWT_SECRET_VAR = "BILBYCAST_JWT_SECRET"
MASTER_KEY_VAR = "BILBYCAST_MASTER_KEY"
NEW_MASTER_KEY_VAR = "BILBYCAST_NEW_MASTER_KEY"
SECRETS_FILE_NAME = "manager.env"

# Shown in the README and CLI help as "do not use" examples, so they are refused at startup.
EXAMPLE_JWT_SECRET = "86621fa0ecd331049681b0c0e99f66dc05e17dc29fcb9c4dc4a1d1904057ffa6"
EXAMPLE_MASTER_KEY = "2924878af18038be611abe54fc7944bd666aa17e3210dfc19f37e04015f82127"
EXAMPLE_SECRETS = frozenset({EXAMPLE_JWT_SECRET, EXAMPLE_MASTER_KEY})

HOW_TO_GENERATE = (
    "Generate good secrets with `bilbycast-manager setup --generate-secrets` "
    "(from source: `python manager.py setup --generate-secrets`), or make each one with `openssl rand -hex 32`."
)

_SECRET_HEX_LEN = 64
_MIN_DISTINCT_DIGITS = 8
_MAX_REPEAT_UNIT = 16
_HEX = re.compile(r"[0-9a-fA-F]*")
_ENV_LINE = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


class SecretsError(Exception):
    """A process secret is missing, weak or stored unsafely. Startup refuses (exit code 3)."""


@dataclass(frozen=True)
class ProcessSecrets:
    jwt_secret: bytes = field(repr=False)
    master_key: bytes = field(repr=False)
    source: str  # e.g. "environment", "/etc/bilbycast-manager/manager.env", or one per variable


def _refuse(name: str, problem: str) -> SecretsError:
    return SecretsError(f"{name} {problem}. {HOW_TO_GENERATE}")


def _is_repetition(digits: str) -> bool:
    # Periodic with a short unit: "aaaa…", "deadbeef"*8, "abc" repeated (even when 64 is not a multiple).
    return any(
        all(digits[i] == digits[i - unit] for i in range(unit, len(digits)))
        for unit in range(1, _MAX_REPEAT_UNIT + 1)
    )


def _is_counting(values: list[int], modulus: int) -> bool:
    # A constant step, wrapping around: 0123…f0123…, fedc…, 0246…, or bytes 00 01 02 … 1f.
    step = (values[1] - values[0]) % modulus
    return all((values[i + 1] - values[i]) % modulus == step for i in range(len(values) - 1))


def validate_secret(name: str, value: str | None) -> bytes:
    """Return the 32 bytes of a good 64-hex secret, or raise SecretsError naming `name`."""
    if value is None or not value.strip():
        raise _refuse(name, "is not set")
    value = value.strip()  # a trailing newline from a file or `export X=$(cat …)` is harmless
    if len(value) != _SECRET_HEX_LEN:
        raise _refuse(name, f"must be exactly {_SECRET_HEX_LEN} hexadecimal characters (it has {len(value)})")
    if not _HEX.fullmatch(value):
        raise _refuse(name, "must contain only hexadecimal characters 0-9 and a-f")
    digits = value.lower()
    if len(set(digits)) < _MIN_DISTINCT_DIGITS:
        raise _refuse(name, f"uses fewer than {_MIN_DISTINCT_DIGITS} different hex digits, so it is not random")
    raw = bytes.fromhex(digits)
    if _is_repetition(digits):
        raise _refuse(name, "is a repeating pattern, so it is not random")
    if _is_counting([int(c, 16) for c in digits], 16) or _is_counting(list(raw), 256):
        raise _refuse(name, "is a counting pattern, so it is not random")
    if digits in EXAMPLE_SECRETS:
        raise _refuse(name, "is one of the example values printed in the documentation")
    return raw


def _parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines, `#` comments, optional `export ` and matching quotes around the value."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.fullmatch(line)
        if not match:
            continue  # not ours to judge; the secrets we need are reported missing by name
        key, raw = match.group(1), match.group(2).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1]
        values[key] = raw
    return values


def _read_private_file(path: Path) -> str:
    """Read a secrets file, refusing one other users could read or replace."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise  # the callers say what a missing file means for them
    except OSError as exc:
        raise SecretsError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        # fstat the open file, not the path, so the checked file is the one we read.
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretsError(f"{path} is not a regular file")
        if hasattr(os, "geteuid"):  # POSIX only; Windows has no owner/mode bits to check here
            if info.st_uid != os.geteuid():
                raise SecretsError(
                    f"{path} must be owned by the user running the manager (uid {os.geteuid()}), "
                    f"but is owned by uid {info.st_uid}. Fix: chown it to that user, then chmod 600 {path}"
                )
            if info.st_mode & 0o077:
                raise SecretsError(
                    f"{path} must have mode 0600 (readable only by its owner), but has mode "
                    f"{stat.S_IMODE(info.st_mode):04o}. Fix: chmod 600 {path}"
                )
        try:
            return handle.read()
        except UnicodeDecodeError:
            raise SecretsError(f"{path} is not UTF-8 text") from None


def load_process_secrets(environ: Mapping[str, str], config_dir: Path) -> ProcessSecrets:
    """Load and check both secrets: environment first, then `<config_dir>/manager.env`."""
    names = (JWT_SECRET_VAR, MASTER_KEY_VAR)
    # An empty variable counts as unset, so an `Environment=X=` left in a unit does not shadow the file.
    values = {name: environ.get(name) or None for name in names}
    sources = {name: "environment" for name in names if values[name] is not None}
    missing = [name for name in names if values[name] is None]
    if missing:
        path = Path(config_dir) / SECRETS_FILE_NAME
        try:
            from_file = _parse_env_file(_read_private_file(path))
        except FileNotFoundError:
            verb = "are" if len(missing) > 1 else "is"
            raise _refuse(" and ".join(missing), f"{verb} not set in the environment and {path} does not exist") from None
        for name in missing:
            if from_file.get(name):
                values[name] = from_file[name]
                sources[name] = str(path)
            else:
                raise _refuse(name, f"is not set in the environment or in {path}")
    jwt_secret = validate_secret(JWT_SECRET_VAR, values[JWT_SECRET_VAR])
    master_key = validate_secret(MASTER_KEY_VAR, values[MASTER_KEY_VAR])
    if hmac.compare_digest(jwt_secret, master_key):
        raise _refuse(f"{JWT_SECRET_VAR} and {MASTER_KEY_VAR}", "are equal; they must be two different secrets")
    if sources[JWT_SECRET_VAR] == sources[MASTER_KEY_VAR]:
        source = sources[JWT_SECRET_VAR]
    else:
        source = ", ".join(f"{name} from {sources[name]}" for name in names)
    return ProcessSecrets(jwt_secret=jwt_secret, master_key=master_key, source=source)


def _new_strong_hex(avoid: set[str]) -> str:
    while True:  # the checks reject a random value with negligible probability; loop anyway
        candidate = secrets.token_hex(32)
        if candidate in avoid:
            continue
        try:
            validate_secret("generated secret", candidate)
        except SecretsError:
            continue
        return candidate


def _write_private_file(path: Path, text: str, *, exclusive: bool) -> None:
    # os.open with 0o600 means the secret is never on disk with wider permissions, even briefly.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def generate_secrets_file(config_dir: Path) -> tuple[Path, bool]:
    """Write manager.env with two fresh secrets. Returns (path, created); never overwrites."""
    config_dir = Path(config_dir)
    if not config_dir.exists():
        config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(config_dir, 0o700)  # mkdir's mode is masked by the umask
    path = config_dir / SECRETS_FILE_NAME
    jwt_hex = _new_strong_hex(set())
    master_hex = _new_strong_hex({jwt_hex})
    text = (
        "# bilbycast-manager process secrets. Keep this file private (mode 0600).\n"
        f"# {JWT_SECRET_VAR} signs sessions; changing it signs everyone out.\n"
        f"# {MASTER_KEY_VAR} protects every stored secret; change it only with `rotate-master-key`.\n"
        f"{JWT_SECRET_VAR}={jwt_hex}\n"
        f"{MASTER_KEY_VAR}={master_hex}\n"
    )
    try:
        _write_private_file(path, text, exclusive=True)
    except FileExistsError:
        return path, False
    return path, True


def read_new_master_key(environ: Mapping[str, str], new_key_file: Path | None) -> bytes:
    """The new key for `rotate-master-key`: `--new-key-file` if given, else BILBYCAST_NEW_MASTER_KEY."""
    if new_key_file is not None:
        try:
            text = Path(new_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretsError(f"cannot read the new master key file {new_key_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SecretsError(f"the new master key file {new_key_file} is not text") from None
        return validate_secret(f"the new master key in {new_key_file}", text)
    return validate_secret(NEW_MASTER_KEY_VAR, environ.get(NEW_MASTER_KEY_VAR))


def update_secrets_file_master_key(config_dir: Path, new_hex: str) -> Path:
    """Replace only the BILBYCAST_MASTER_KEY line of manager.env, atomically, keeping mode 0600."""
    validate_secret(NEW_MASTER_KEY_VAR, new_hex)
    path = Path(config_dir) / SECRETS_FILE_NAME
    try:
        text = _read_private_file(path)
    except FileNotFoundError:
        raise SecretsError(f"{path} does not exist, so there is no master key line to update") from None
    new_line = f"{MASTER_KEY_VAR}={new_hex.strip().lower()}"
    lines = text.splitlines()
    replaced = False
    for index, line in enumerate(lines):
        match = _ENV_LINE.fullmatch(line.strip())
        if match and match.group(1) == MASTER_KEY_VAR:
            prefix = "export " if line.strip().startswith("export") else ""
            lines[index] = prefix + new_line
            replaced = True
    if not replaced:
        lines.append(new_line)
    temp = path.with_name(f".{SECRETS_FILE_NAME}.{secrets.token_hex(6)}.tmp")
    try:
        _write_private_file(temp, "\n".join(lines) + "\n", exclusive=True)
        os.replace(temp, path)  # readers see the old file or the new one, never half of either
    finally:
        temp.unlink(missing_ok=True)
    return path
