"""The CLI commands that touch the installation: setup, serve, user, rotate-master-key, export, import."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import secrets
import sys
from argparse import Namespace

from .config import Config, default_config_toml
from .db.database import Database
from .db.models import User
from .logsetup import configure as configure_logging
from .services import audit, keyrotation, users as user_service
from .services.audit import Actor
from .services.auth import revoke_user_sessions
from .services.errors import ApiError
from .services.lockfile import DataDirLock, DatabaseLocked
from .services.passwords import PasswordHasher, password_policy_errors
from .services.process_secrets import (SecretsError, generate_secrets_file, load_process_secrets,
                                       read_new_master_key, update_secrets_file_master_key)
from .services import tls as tls_service
from .services import backup as backup_service
from .services.crypto import Vault
from .timeutil import now_iso

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED, EXIT_LOCKED = 0, 1, 2, 3, 4


def _say(text: str = "") -> None:
    print(text, flush=True)


def _read_password(args: Namespace, username: str, *, allow_generate: bool) -> tuple[str, bool] | None:
    """Password from stdin, env (scripts), a prompt (twice), or generated. Returns (pw, generated)."""
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    elif os.environ.get("BILBYCAST_ADMIN_PASSWORD") and allow_generate:
        password = os.environ["BILBYCAST_ADMIN_PASSWORD"]
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            _say("passwords do not match")
            return None
    elif allow_generate:
        return secrets.token_urlsafe(12), True
    else:
        _say("no password given: use --password-stdin or run in a terminal")
        return None
    problems = password_policy_errors(password, username)
    if problems:
        _say("password refused: " + "; ".join(problems))
        return None
    return password, False


def _open_db(config: Config) -> Database:
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = Database(config.db_path)
    db.open_sync()
    return db


def setup(config: Config, args: Namespace) -> int:
    config.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not config.config_file.exists():
        config.config_file.write_text(default_config_toml(), encoding="utf-8")
        _say(f"wrote default configuration: {config.config_file}")
    else:
        _say(f"configuration: {config.config_file} (kept)")
    if args.generate_secrets:
        path, created = generate_secrets_file(config.config_dir)
        _say(f"{'wrote' if created else 'kept existing'} secrets file (0600): {path}")
    db = _open_db(config)
    _say(f"database ready: {config.db_path}")
    if config.tls_mode == "self_signed":
        info, regenerated = tls_service.ensure_self_signed(config.tls_dir, config.tls_self_signed_names)
        _say(f"{'generated' if regenerated else 'kept'} self-signed certificate: {info.cert_path}")
        _say(f"  SHA-256 fingerprint: {info.fingerprint_sha256}")
    try:
        if User.select().exists():
            _say("users already exist: no first super_admin created (use `user add` or `user reset-password`)")
            return EXIT_OK
        username = args.username or os.environ.get("BILBYCAST_ADMIN_USERNAME")
        if not username:
            if not sys.stdin.isatty():
                username = "admin"
            else:
                username = input("Username for the first super_admin [admin]: ").strip() or "admin"
        got = _read_password(args, username, allow_generate=True)
        if got is None:
            return EXIT_REFUSED
        password, generated = got
        values = user_service.validate_fields({
            "username": username, "password": password,
            "display_name": args.display_name or "Administrator", "role": "super_admin",
            **({"email": args.email} if args.email else {}),
        }, creating=True)
        hashed = PasswordHasher().hash(password)
        db.write_sync(user_service.create_row, values, hashed, Actor.cli(), must_change_password=generated)
        _say(f"created first super_admin: {username}")
        if generated:
            _say(f"  password (shown once; you must change it at first sign-in): {password}")
        return EXIT_OK
    except ApiError as exc:
        _say(f"refused: {exc.message}")
        return EXIT_REFUSED
    finally:
        db.close()


def serve(config: Config, args: Namespace) -> int:
    from .serve import ServeOptions, run

    log_file = configure_logging(config.log_level, config.log_format, config.log_dir)
    # peewee logs every statement with its parameters at debug level: password hashes, CSRF
    # tokens and sealed secrets would reach the log (product.md §9.8), so it never goes below info.
    logging.getLogger("peewee").setLevel(max(logging.INFO, logging.getLogger().level))
    log = logging.getLogger("bilbycast.serve")
    try:
        process_secrets = load_process_secrets(os.environ, config.config_dir)
    except SecretsError as exc:
        log.error("%s", exc)
        return EXIT_REFUSED
    log.info("secrets from %s; data in %s%s", process_secrets.source, config.data_dir,
             f"; log file {log_file}" if log_file else "")
    options = ServeOptions(demo=max(0, args.demo or 0), open_browser=args.open_browser)
    try:
        return asyncio.run(run(config, process_secrets, options))
    except DatabaseLocked:
        log.error("another manager is already running on %s", config.data_dir)
        return EXIT_LOCKED
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_ERROR


def user(config: Config, args: Namespace) -> int:
    db = _open_db(config)
    try:
        if args.user_command == "list":
            for row in User.select().order_by(User.username_lower):
                status = "active" if row.is_active else "disabled"
                _say(f"{row.username:24} {row.role:12} {status:9} last login {row.last_login_at or 'never'}")
            return EXIT_OK
        if args.user_command == "add":
            got = _read_password(args, args.username, allow_generate=False)
            if got is None:
                return EXIT_REFUSED
            values = user_service.validate_fields({
                "username": args.username, "password": got[0], "role": args.role,
                "display_name": args.display_name or args.username,
                **({"email": args.email} if args.email else {}),
            }, creating=True)
            db.write_sync(user_service.create_row, values, PasswordHasher().hash(got[0]), Actor.cli())
            _say(f"created {args.role} {args.username}")
            return EXIT_OK
        if args.user_command == "reset-password":
            target = User.get_or_none(User.username_lower == args.username.lower())
            if target is None:
                _say(f"no such user: {args.username}")
                return EXIT_ERROR
            got = _read_password(args, target.username, allow_generate=False)
            if got is None:
                return EXIT_REFUSED
            hashed = PasswordHasher().hash(got[0])
            db.write_sync(_reset_password, target, hashed)
            _say(f"password reset for {target.username}; lockout cleared; sessions revoked")
            return EXIT_OK
    except ApiError as exc:
        _say(f"refused: {exc.message}")
        return EXIT_REFUSED
    finally:
        db.close()
    return EXIT_USAGE


def _reset_password(target: User, hashed: str) -> None:
    from .db.models import LoginFailure

    User.update(password_hash=hashed, must_change_password=False, updated_at=now_iso()).where(
        User.id == target.id).execute()
    LoginFailure.delete().where(LoginFailure.name_lower == target.username_lower).execute()
    revoked = revoke_user_sessions(target.id)
    audit.record(Actor.cli(), "user.password_reset", target_type="user", target_id=target.id,
                 details={"username": target.username, "sessions_revoked": revoked})


def rotate_master_key(config: Config, args: Namespace) -> int:
    try:
        current = load_process_secrets(os.environ, config.config_dir)
        new_key = read_new_master_key(os.environ, args.new_key_file)
    except SecretsError as exc:
        _say(str(exc))
        return EXIT_REFUSED
    if new_key == current.master_key:
        _say("the new master key equals the current one: nothing to rotate")
        return EXIT_REFUSED
    try:
        lock = DataDirLock(config.lock_path).acquire()
    except DatabaseLocked:
        _say("the server is running: stop it before rotating the master key")
        return EXIT_LOCKED
    try:
        db = _open_db(config)
        try:
            report = db.write_sync(keyrotation.rotate, current.master_key, new_key)
        except keyrotation.RotationFailed as exc:
            _say(f"rotation aborted, nothing changed: {exc}")
            return EXIT_ERROR
        finally:
            db.close()
        _say(f"re-wrapped {report.rewrapped} secrets under the new master key")
        for node_id, name in report.invalidated_tokens:
            _say(f"  pending registration token invalidated: {name} ({node_id}); regenerate it")
        if args.update_secrets_file:
            path = update_secrets_file_master_key(config.config_dir, new_key.hex())
            _say(f"updated {path}")
        else:
            _say("now set BILBYCAST_MASTER_KEY to the new key before starting the server")
        return EXIT_OK
    finally:
        lock.release()


def _read_passphrase(args: Namespace, *, confirm: bool) -> str | None:
    """The backup passphrase from --passphrase-file (its first line ending dropped) or a hidden prompt."""
    if args.passphrase_file:
        try:
            text = args.passphrase_file.read_text(encoding="utf-8")
            mode = args.passphrase_file.stat().st_mode
        except (OSError, UnicodeDecodeError) as exc:
            _say(f"cannot read the passphrase file: {exc}")
            return None
        if os.name == "posix" and mode & 0o077:
            _say(f"warning: {args.passphrase_file} is readable by other users; chmod 600 it")
        passphrase = text.rstrip("\r\n")
    elif sys.stdin.isatty():
        passphrase = getpass.getpass("Backup passphrase: ")
        if confirm and getpass.getpass("Backup passphrase again: ") != passphrase:
            _say("passphrases do not match")
            return None
    else:
        _say("no passphrase given: use --passphrase-file or run in a terminal")
        return None
    try:
        return backup_service.check_passphrase(passphrase)
    except ApiError as exc:
        _say(f"refused: {exc.message}")
        return None


def _write_private(path, content: bytes) -> None:
    """Write the file 0600, whole or not at all."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def export_backup(config: Config, args: Namespace) -> int:
    try:
        current = load_process_secrets(os.environ, config.config_dir)
    except SecretsError as exc:
        _say(str(exc))
        return EXIT_REFUSED
    passphrase = _read_passphrase(args, confirm=True)
    if passphrase is None:
        return EXIT_REFUSED
    db = _open_db(config)  # reads only (plus its audit row): fine beside a running server
    try:
        try:
            backup_file, stats = backup_service.build_export(
                Vault(current.master_key), passphrase, exported_by="cli",
                include_events=args.include_events, include_audit=args.include_audit)
        except ApiError as exc:
            _say(f"refused: {exc.message}")
            return EXIT_REFUSED
        try:
            _write_private(args.output, backup_file.content)
        except OSError as exc:
            _say(f"cannot write {args.output}: {exc}")
            return EXIT_ERROR
        db.write_sync(audit.record, Actor.cli(), "backup.export", target_type="backup", details={
            "include_events": args.include_events, "include_audit": args.include_audit, "counts": stats.counts,
            "file": backup_file.filename, "unreadable": stats.unreadable_secrets})
    finally:
        db.close()
    _say(f"wrote encrypted backup {args.output} ({len(backup_file.content)} bytes): "
         + ", ".join(f"{count} {name}" for name, count in stats.counts.items()))
    for where in stats.unreadable_secrets:
        _say(f"  warning: {where} does not decrypt with this master key and was left out")
    return EXIT_OK


def import_backup(config: Config, args: Namespace) -> int:
    try:
        current = load_process_secrets(os.environ, config.config_dir)
    except SecretsError as exc:
        _say(str(exc))
        return EXIT_REFUSED
    try:
        lock = DataDirLock(config.lock_path).acquire()
    except DatabaseLocked:
        _say("the server is running: stop it before importing a backup")
        return EXIT_LOCKED
    try:
        try:
            if args.input.stat().st_size > backup_service.MAX_FILE_BYTES:
                _say(f"{args.input} is over {backup_service.MAX_FILE_BYTES // (1024 * 1024)} MiB: not a backup")
                return EXIT_ERROR
            raw = args.input.read_bytes()
        except OSError as exc:
            _say(f"cannot read {args.input}: {exc}")
            return EXIT_ERROR
        passphrase = _read_passphrase(args, confirm=False)
        if passphrase is None:
            return EXIT_REFUSED
        db = _open_db(config)
        try:
            try:
                opened = backup_service.open_backup(raw, passphrase)
                prepared = backup_service.prepare_import(opened, Vault(current.master_key))
                report = db.write_sync(backup_service.apply_import, prepared, Actor.cli(), force=args.force)
            except ApiError as exc:
                db.write_sync(audit.record, Actor.cli(), "backup.import", result="failure", target_type="backup",
                              error_code=exc.code)
                if exc.code == "import_target_not_empty":
                    _say("refused: this manager already holds nodes or more than one user; "
                         "add --force to replace all of its data")
                    return EXIT_REFUSED
                _say(f"import failed, nothing changed: {exc.message}")
                return EXIT_ERROR
        finally:
            db.close()
        _say("imported: " + ", ".join(f"{count} {name}" for name, count in report.counts.items()))
        names = {node["id"]: node["name"] for node in prepared.rows["nodes"]}
        for node_id in report.nodes_needing_token:
            _say(f"  node {names.get(node_id, '?')} ({node_id}) is pending: regenerate its registration token")
        _say("every session was revoked: users sign in again with their passwords")
        return EXIT_OK
    finally:
        lock.release()
