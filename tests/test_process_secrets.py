"""The two process secrets (product.md §9.1) and the master-key rotation helpers (§9.5)."""

import os
import secrets
import stat

import pytest

from bilbycast.services.process_secrets import (
    EXAMPLE_JWT_SECRET,
    EXAMPLE_MASTER_KEY,
    EXAMPLE_SECRETS,
    SecretsError,
    generate_secrets_file,
    load_process_secrets,
    read_new_master_key,
    update_secrets_file_master_key,
    validate_secret,
)

JWT = "BILBYCAST_JWT_SECRET"
MASTER = "BILBYCAST_MASTER_KEY"


def strong() -> str:
    return secrets.token_hex(32)


def write_env(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)


WEAK_VALUES = {
    "all one char": "a" * 64,
    "counting": "0123456789abcdef" * 4,
    "counting from the middle": ("3456789abcdef012" * 4),
    "counting down": "fedcba9876543210" * 4,
    "counting bytes": bytes(range(32)).hex(),
    "counting by two": "02468ace" * 8,
    "repeated word": "deadbeef" * 8,
    "repeated 8-digit unit": "1f2e3d4c" * 8,
    "repeated 16-digit unit": "9f3a7c1e5b2d8046" * 4,
    "repeated odd unit": ("0a1b2c3d4e5f6" * 5)[:64],
    "few digits": ("0123456" * 10)[:60] + "6543",
    "63 chars": strong()[:63],
    "65 chars": strong() + "a",
    "non-hex": strong()[:63] + "g",
    "example jwt": EXAMPLE_JWT_SECRET,
    "example master": EXAMPLE_MASTER_KEY,
    "example upper case": EXAMPLE_MASTER_KEY.upper(),
}


@pytest.mark.parametrize("label", WEAK_VALUES)
def test_weak_secrets_are_refused_without_echoing_them(label):
    value = WEAK_VALUES[label]
    with pytest.raises(SecretsError) as caught:
        validate_secret(MASTER, value)
    message = str(caught.value)
    assert MASTER in message
    assert "generate-secrets" in message and "openssl rand -hex 32" in message
    assert value not in message and value[:16] not in message


def test_missing_and_empty_are_refused():
    for value in (None, "", "   "):
        with pytest.raises(SecretsError, match=JWT):
            validate_secret(JWT, value)


def test_examples_are_otherwise_strong_looking():
    # The example check must be what refuses them, so they are documented as "do not use".
    assert len(EXAMPLE_SECRETS) == 2
    for example in EXAMPLE_SECRETS:
        assert len(example) == 64 and len(set(example)) >= 8


def test_good_secret_decodes_to_32_bytes():
    value = strong()
    assert validate_secret(JWT, value) == bytes.fromhex(value)
    assert validate_secret(JWT, value.upper() + "\n") == bytes.fromhex(value)


def test_environment_secrets_are_used(tmp_path):
    jwt, master = strong(), strong()
    loaded = load_process_secrets({JWT: jwt, MASTER: master}, tmp_path)
    assert loaded.jwt_secret == bytes.fromhex(jwt)
    assert loaded.master_key == bytes.fromhex(master)
    assert loaded.source == "environment"
    assert jwt not in repr(loaded) and master not in repr(loaded)


def test_equal_pair_is_refused(tmp_path):
    value = strong()
    with pytest.raises(SecretsError) as caught:
        load_process_secrets({JWT: value, MASTER: value.upper()}, tmp_path)
    assert JWT in str(caught.value) and MASTER in str(caught.value)
    assert value not in str(caught.value)


def test_missing_everywhere_names_the_variables(tmp_path):
    with pytest.raises(SecretsError) as caught:
        load_process_secrets({}, tmp_path)
    assert JWT in str(caught.value) and MASTER in str(caught.value)
    assert "generate-secrets" in str(caught.value)


def test_file_is_read_for_unset_variables_and_env_wins(tmp_path):
    file_jwt, file_master, env_jwt = strong(), strong(), strong()
    write_env(
        tmp_path / "manager.env",
        f"# comment line\n\nexport {JWT}=\"{file_jwt}\"\n{MASTER} = '{file_master}'\nOTHER=1\n",
    )
    from_file = load_process_secrets({}, tmp_path)
    assert from_file.jwt_secret == bytes.fromhex(file_jwt)
    assert from_file.master_key == bytes.fromhex(file_master)
    assert from_file.source == str(tmp_path / "manager.env")

    mixed = load_process_secrets({JWT: env_jwt, MASTER: ""}, tmp_path)
    assert mixed.jwt_secret == bytes.fromhex(env_jwt)
    assert mixed.master_key == bytes.fromhex(file_master)
    assert "environment" in mixed.source and str(tmp_path / "manager.env") in mixed.source


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_readable_secrets_file_is_refused(tmp_path, mode):
    write_env(tmp_path / "manager.env", f"{JWT}={strong()}\n{MASTER}={strong()}\n", mode)
    with pytest.raises(SecretsError) as caught:
        load_process_secrets({}, tmp_path)
    assert "0600" in str(caught.value) and "chmod 600" in str(caught.value)


def test_weak_value_in_file_is_refused(tmp_path):
    write_env(tmp_path / "manager.env", f"{JWT}={strong()}\n{MASTER}={'deadbeef' * 8}\n")
    with pytest.raises(SecretsError, match=MASTER):
        load_process_secrets({}, tmp_path)


def test_generated_file_is_private_strong_and_never_overwritten(tmp_path):
    config_dir = tmp_path / "config" / "bilbycast-manager"
    path, created = generate_secrets_file(config_dir)
    assert created and path == config_dir / "manager.env"
    if hasattr(os, "geteuid"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    first_text = path.read_text()
    loaded = load_process_secrets({}, config_dir)  # passes every check, including "not equal"
    assert len(loaded.jwt_secret) == 32 and len(loaded.master_key) == 32

    again, created_again = generate_secrets_file(config_dir)
    assert again == path and not created_again
    assert path.read_text() == first_text

    other, _ = generate_secrets_file(tmp_path / "elsewhere")
    assert load_process_secrets({}, tmp_path / "elsewhere").master_key != loaded.master_key
    assert other != path


def test_read_new_master_key_from_env_or_file(tmp_path):
    value = strong()
    assert read_new_master_key({"BILBYCAST_NEW_MASTER_KEY": value}, None) == bytes.fromhex(value)
    key_file = tmp_path / "new.key"
    other = strong()
    key_file.write_text(other + "\n")
    # An explicit --new-key-file beats the environment, like every command-line option.
    assert read_new_master_key({"BILBYCAST_NEW_MASTER_KEY": value}, key_file) == bytes.fromhex(other)
    with pytest.raises(SecretsError, match="BILBYCAST_NEW_MASTER_KEY"):
        read_new_master_key({}, None)
    key_file.write_text("0123456789abcdef" * 4)
    with pytest.raises(SecretsError, match="generate-secrets"):
        read_new_master_key({}, key_file)
    with pytest.raises(SecretsError):
        read_new_master_key({}, tmp_path / "missing.key")


def test_update_secrets_file_replaces_only_the_master_key(tmp_path):
    path, _ = generate_secrets_file(tmp_path)
    before = load_process_secrets({}, tmp_path)
    original_lines = path.read_text().splitlines()
    new_hex = strong()
    update_secrets_file_master_key(tmp_path, new_hex)
    after = load_process_secrets({}, tmp_path)
    assert after.master_key == bytes.fromhex(new_hex)
    assert after.jwt_secret == before.jwt_secret
    new_lines = path.read_text().splitlines()
    assert [l for l in new_lines if not l.startswith(MASTER)] == [
        l for l in original_lines if not l.startswith(MASTER)
    ]
    if hasattr(os, "geteuid"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manager.env"]  # no temp file left
    with pytest.raises(SecretsError, match="generate-secrets"):
        update_secrets_file_master_key(tmp_path, "a" * 64)
    with pytest.raises(SecretsError):
        update_secrets_file_master_key(tmp_path / "nowhere", strong())
