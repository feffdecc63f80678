"""The command line (product.md §10), the schema and its migrations (§12), the audit triggers
(§9.7) and runtime settings that really steer the server (api.md §11)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import pytest

from bilbycast.db import migrations
from manager_process import ADMIN_PASSWORD, REPO, USER_PASSWORD, ManagerProcess

COMMANDS = ("setup", "serve", "user", "rotate-master-key", "simulate", "version")


def login(proc, username: str, password: str, **extra):
    with proc.client() as client:
        return client.post("/api/v1/auth/login", json={"username": username, "password": password, **extra})


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> ManagerProcess:
    """`setup` run once and never served: for the tests that only read what setup made."""
    proc = ManagerProcess(tmp_path_factory.mktemp("installed"))
    proc.setup()
    return proc


def schema(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()


# -- the command line ----------------------------------------------------------------------------

def test_help_lists_every_command_and_no_command_is_a_usage_error(unstarted_manager):
    result = unstarted_manager.cli("--help")
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert re.search(rf"^\s+{re.escape(command)}\s", result.stdout, flags=re.M), command
    bare = subprocess.run([sys.executable, str(REPO / "manager.py")], capture_output=True, text=True,
                          cwd=REPO, env=unstarted_manager.env, timeout=60)
    assert bare.returncode == 2
    unknown = unstarted_manager.cli("frobnicate")
    assert unknown.returncode == 2


def test_version_prints_version_python_platform_and_frozen(unstarted_manager):
    result = unstarted_manager.cli("version")
    assert result.returncode == 0
    for word in ("bilbycast-manager", "python:", "platform:", "frozen: no"):
        assert word in result.stdout, result.stdout


def test_global_options_are_accepted_after_the_command(installed):
    proc = installed
    result = subprocess.run([sys.executable, str(REPO / "manager.py"), "user", "list",
                             "--config", str(proc.config_dir / "config.toml"), "--data-dir", str(proc.data_dir)],
                            capture_output=True, text=True, cwd=REPO, env=proc.env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^admin\s+super_admin\s+active", result.stdout, flags=re.M), result.stdout


def test_setup_is_idempotent_and_never_creates_a_second_first_admin(installed):
    proc = installed
    config_text = (proc.config_dir / "config.toml").read_text()
    cert = (proc.data_dir / "tls" / "cert.pem").read_bytes()
    again = proc.cli("setup", "--username", "intruder", "--password-stdin", input_text="another passphrase\n")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "users already exist" in again.stdout
    with proc.sqlite() as db:
        assert db.execute("SELECT username, role FROM users").fetchall() == [("admin", "super_admin")]
    assert (proc.config_dir / "config.toml").read_text() == config_text, "config.toml is kept"
    assert (proc.data_dir / "tls" / "cert.pem").read_bytes() == cert, "the certificate is kept"
    assert "kept" in again.stdout


def test_setup_without_a_password_or_a_terminal_prints_a_generated_one_once(unstarted_manager):
    proc = unstarted_manager
    result = proc.cli("setup", input_text="")  # stdin is a pipe: no terminal to prompt on
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"password \(shown once[^)]*\): (\S+)", result.stdout)
    assert match, result.stdout
    password = match.group(1)
    assert result.stdout.count(password) == 1
    assert proc.cli("setup", input_text="").stdout.count(password) == 0
    with proc.sqlite() as db:
        stored, = db.execute("SELECT password_hash FROM users WHERE username = 'admin'").fetchone()
    assert password not in stored and stored.startswith("$argon2id$")

    proc.start()
    response = login(proc, "admin", password, return_token=True)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["must_change_password"] is True
    with proc.api(response.json()["token"]) as api:
        changed = api.post("/api/v1/auth/password", json={"current_password": password,
                                                          "new_password": ADMIN_PASSWORD})
        assert changed.status_code == 200, changed.text
        assert api.get("/api/v1/auth/me").json()["user"]["must_change_password"] is False


def test_user_add_reset_password_and_list_work_beside_a_running_server(unstarted_manager):
    proc = unstarted_manager
    proc.setup()
    proc.start()
    admin = proc.token()
    proc.put_settings(admin, login_ip_max_attempts=100, login_account_max_failures=2)

    added = proc.cli("user", "add", "--username", "carol", "--role", "operator", "--display-name", "Carol",
                     "--password-stdin", input_text=USER_PASSWORD + "\n")
    assert added.returncode == 0, added.stdout + added.stderr
    assert USER_PASSWORD not in added.stdout + added.stderr
    carol_token = login(proc, "carol", USER_PASSWORD, return_token=True).json()["token"]
    duplicate = proc.cli("user", "add", "--username", "CAROL", "--role", "viewer", "--password-stdin",
                         input_text=USER_PASSWORD + "\n")
    assert duplicate.returncode == 3, duplicate.stdout
    weak = proc.cli("user", "add", "--username", "dave", "--role", "viewer", "--password-stdin", input_text="short\n")
    assert weak.returncode == 3, weak.stdout

    for attempt in range(2):
        assert login(proc, "carol", f"wrong guess {attempt}").status_code == 401
    assert login(proc, "carol", USER_PASSWORD).json()["code"] == "account_locked"

    reset = proc.cli("user", "reset-password", "--username", "carol", "--password-stdin",
                     input_text="carols new passphrase\n")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    with proc.api(carol_token) as api:
        assert api.get("/api/v1/auth/me").status_code == 401, "the reset revokes every session"
    assert login(proc, "carol", "carols new passphrase").status_code == 200, "the reset clears the lockout"
    assert login(proc, "carol", USER_PASSWORD).status_code == 401
    missing = proc.cli("user", "reset-password", "--username", "nobody", "--password-stdin",
                       input_text="whatever passphrase\n")
    assert missing.returncode == 1

    listed = proc.cli("user", "list")
    assert listed.returncode == 0
    assert re.search(r"^admin\s+super_admin\s+active", listed.stdout, flags=re.M), listed.stdout
    assert re.search(r"^carol\s+operator\s+active\s+last login \d{4}-", listed.stdout, flags=re.M), listed.stdout

    with proc.api(admin) as api:
        rows = api.get("/api/v1/audit-log", params={"user": "cli"}).json()["items"]
    for action in ("user.create", "user.password_reset"):
        row = next(r for r in rows if r["action"] == action and r["details"]["username"] == "carol")
        assert row["username"] == "cli" and row["user_id"] is None, row


# -- the schema ----------------------------------------------------------------------------------

def test_a_fresh_and_a_step_by_step_migrated_database_have_the_same_schema(tmp_path):
    fresh, stepped = tmp_path / "fresh.db", tmp_path / "stepped.db"
    assert migrations.migrate(fresh) == [m[0] for m in migrations.MIGRATIONS]
    assert migrations.migrate(stepped, up_to=1) == [1]
    with sqlite3.connect(stepped) as db:  # data written by version 1 survives the upgrade
        db.execute("INSERT INTO settings (key, value, updated_at) VALUES ('events_retention_days', '120', 'x')")
    assert migrations.migrate(stepped) == [m[0] for m in migrations.MIGRATIONS[1:]]
    assert schema(fresh) == schema(stepped)
    assert (tmp_path / "stepped.db.bak-v1").exists(), "an upgrade keeps a copy of the old database"
    with sqlite3.connect(stepped) as db:
        assert db.execute("SELECT value FROM settings").fetchall() == [("120",)]
        versions = [v for v, in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m[0] for m in migrations.MIGRATIONS]
    assert migrations.migrate(stepped) == [] and schema(fresh) == schema(stepped), "migrating again is a no-op"


def test_the_servers_database_has_the_migrated_schema(tmp_path, installed):
    migrations.migrate(tmp_path / "reference.db")
    assert schema(installed.db_path) == schema(tmp_path / "reference.db")


def test_audit_rows_cannot_be_updated_or_deleted_while_young(installed):
    proc = installed  # setup wrote user.create by cli
    with proc.sqlite() as db:
        row_id, username = db.execute("SELECT id, username FROM audit_log WHERE action = 'user.create'").fetchone()
        assert username == "cli"
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit_log SET action = 'user.nothing' WHERE id = ?", (row_id,))
        with pytest.raises(sqlite3.DatabaseError, match="30 days"):
            db.execute("DELETE FROM audit_log WHERE id = ?", (row_id,))
        # Only the maintenance task's pruning of old rows is possible.
        db.execute("INSERT INTO audit_log (created_at, action, result) VALUES ('2020-01-01T00:00:00.000Z', 'old', 'success')")
        assert db.execute("DELETE FROM audit_log WHERE action = 'old'").rowcount == 1
        assert db.execute("SELECT COUNT(*) FROM audit_log WHERE id = ?", (row_id,)).fetchone() == (1,)


# -- settings are really used ------------------------------------------------------------------------

def test_a_settings_change_through_the_api_steers_the_running_server(fresh_manager):
    proc = fresh_manager
    token = login(proc, "admin", ADMIN_PASSWORD, return_token=True).json()["token"]  # attempt 1 in this window
    with proc.api(token) as api:
        response = api.put("/api/v1/settings", json={"settings": {"login_ip_max_attempts": 2}})
        assert response.status_code == 200 and response.json()["settings"]["login_ip_max_attempts"] == 2
        assert response.json()["updated_by"] == api.get("/api/v1/auth/me").json()["user"]["id"]

    assert login(proc, "admin", "a wrong passphrase").status_code == 401            # attempt 2
    third = login(proc, "admin", ADMIN_PASSWORD)                                     # attempt 3
    assert third.status_code == 429 and third.json()["code"] == "rate_limited", third.text

    with proc.api(token) as api:
        rows = api.get("/api/v1/audit-log", params={"action": "settings.update"}).json()["items"]
    assert rows[0]["details"]["changes"] == {"login_ip_max_attempts": {"old": 5, "new": 2}}

    proc.stop()
    proc.start()
    with proc.api(token) as api:
        assert api.get("/api/v1/settings").json()["settings"]["login_ip_max_attempts"] == 2, "kept in the database"
