"""Secrets at rest and the process secrets (product.md §9.1, §9.2, §9.5, §9.8).

One manager of this module's own goes through a scenario that handles every kind of secret the
foundation stores: passwords (set, failed, changed, reset), session JWTs, registration tokens, a
node secret handed out by a real /ws/node registration, and a cached node config holding an SRT
passphrase. Then the raw bytes of the database, its WAL and every log are searched for them, and
the master key is rotated with the CLI and proven by the node logging in again.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import secrets
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bilbycast.services import process_secrets
from bilbycast.services.crypto import SecretDecryptError, Vault
from manager_process import ADMIN_PASSWORD, ManagerProcess, free_port
from node_peer import NodePeer, example

PASSPHRASE = "srt-passphrase-" + uuid.uuid4().hex


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Plant:
    """The module's manager plus every plaintext secret the scenario handed to it."""

    def __init__(self, proc: ManagerProcess):
        self.proc = proc
        self.secrets: dict[str, str] = {}
        self.log_only: dict[str, str] = {}  # stored on purpose, but never to be logged
        self.nodes: dict[str, dict] = {}  # name -> {"id", "secret", "token"}

    def remember(self, label: str, value: str) -> str:
        self.secrets[label] = value
        return value


def edge_config() -> dict:
    config = copy.deepcopy(example("edge-config-response")["payload"])
    config["inputs"][0]["passphrase"] = PASSPHRASE
    return config


async def register_node(plant: Plant, api_token: str, name: str, *, with_config: bool) -> None:
    proc = plant.proc
    with proc.api(api_token) as api:
        created = api.post("/api/v1/nodes", json={"name": name})
        assert created.status_code == 201, created.text
        node = created.json()
        first_token = plant.remember(f"{name} first registration token", node["registration_token"])
        regenerated = api.post(f"/api/v1/nodes/{node['id']}/token")
        assert regenerated.status_code == 200, regenerated.text
        token = plant.remember(f"{name} registration token", regenerated.json()["registration_token"])
        assert token != first_token
    peer = NodePeer(proc.ws_url)
    reply = await peer.auth_register(token)
    assert reply["type"] == "register_ack", reply
    plant.remember(f"{name} node secret", peer.node_secret)
    plant.nodes[name] = {"id": node["id"], "secret": peer.node_secret}
    if with_config:
        peer.auto_answer_config(edge_config())
        async with httpx.AsyncClient(base_url=proc.base_url, verify=False, timeout=30,
                                                   headers={"Authorization": f"Bearer {api_token}"}) as api:
            response = await api.get(f"/api/v1/nodes/{node['id']}/config")
            assert response.status_code == 200, response.text
            assert PASSPHRASE not in response.text, "secrets are masked unless reveal_secrets is asked for"
            revealed = await api.get(f"/api/v1/nodes/{node['id']}/config", params={"reveal_secrets": "true"})
            assert revealed.status_code == 200 and PASSPHRASE in revealed.text, revealed.text
    await peer.close()


async def node_login(proc: ManagerProcess, node_id: str, secret: str) -> dict:
    peer = NodePeer(proc.ws_url)
    try:
        return await peer.auth_credentials(node_id, secret)
    finally:
        await peer.close()


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Plant:
    # At debug level, so that the most talkative logging is the one searched.
    proc = ManagerProcess(tmp_path_factory.mktemp("secrets"), extra_env={"BILBYCAST_LOG_LEVEL": "debug"})
    proc.setup()
    proc.start()
    plant = Plant(proc)
    plant.remember("admin password", ADMIN_PASSWORD)
    plant.remember("JWT secret", proc.jwt_secret)
    plant.remember("master key", proc.master_key)
    try:
        with proc.client() as client:
            login = client.post("/api/v1/auth/login",
                                json={"username": "admin", "password": ADMIN_PASSWORD, "return_token": True})
            token = plant.remember("admin session JWT", login.json()["token"])
            plant.log_only["admin CSRF token"] = login.json()["csrf_token"]
            plant.remember("admin session cookie", client.cookies["session"])
            wrong = plant.remember("a mistyped password", "mistyped-" + uuid.uuid4().hex)
            assert client.post("/api/v1/auth/login", json={"username": "admin", "password": wrong}).status_code == 401
        proc.relax_login_limits(token)
        first = plant.remember("operator password", "operator-" + uuid.uuid4().hex)
        user = proc.create_user(token, "operator1", "operator", password=first)
        operator_jwt = plant.remember("operator session JWT", proc.token("operator1", first))
        changed = plant.remember("operator changed password", "changed-" + uuid.uuid4().hex)
        with proc.api(operator_jwt) as api:
            assert api.post("/api/v1/auth/password",
                            json={"current_password": first, "new_password": changed}).status_code == 200
        reset = plant.remember("operator reset password", "reset-" + uuid.uuid4().hex)
        with proc.api(token) as api:
            assert api.put(f"/api/v1/users/{user['id']}", json={"password": reset}).status_code == 200
            # A token pushed through a query string and a header into the access and error logs.
            api.get("/api/v1/nope", params={"token": plant.remember("query token", "qtok-" + uuid.uuid4().hex)})
        run(register_node(plant, token, "edge-a", with_config=True))
        run(register_node(plant, token, "edge-b", with_config=False))
        with proc.api(token) as api:
            pending = api.post("/api/v1/nodes", json={"name": "edge-pending"}).json()
        plant.remember("pending registration token", pending["registration_token"])
        plant.nodes["edge-pending"] = {"id": pending["id"], "token": pending["registration_token"]}
        yield plant
    finally:
        proc.stop()


def log_files(proc: ManagerProcess) -> list:
    return [p for p in [*proc.log_dir.glob("*"), proc.stdout_path] if p.is_file()]


def disk_files(proc: ManagerProcess) -> list:
    return [p for p in proc.data_dir.glob("*.db*") if p.is_file()] + log_files(proc)


def leaks(proc: ManagerProcess, plaintexts: dict[str, str], files: list | None = None) -> list[str]:
    found = []
    for path in disk_files(proc) if files is None else files:
        data = path.read_bytes()
        for label, value in plaintexts.items():
            needles = [value.encode()]
            if label in ("JWT secret", "master key", "new master key"):
                needles.append(bytes.fromhex(value))  # the raw key bytes, too
            if any(needle in data for needle in needles):
                found.append(f"{label} found in {path.name}")
    return found


def stored(proc: ManagerProcess, sql: str, *args):
    with proc.sqlite() as db:
        return db.execute(sql, args).fetchone()


# -- nothing in the clear ------------------------------------------------------------------------

def test_no_plaintext_secret_reaches_the_database_its_wal_or_the_logs(plant):
    proc = plant.proc
    names = {p.name for p in disk_files(proc)}
    assert {"manager.db", "manager.db-wal", "manager.log", "serve.out"} <= names, names
    secret_enc, = stored(proc, "SELECT secret_enc FROM nodes WHERE id = ?", plant.nodes["edge-a"]["id"])
    config_enc, = stored(proc, "SELECT config_enc FROM node_configs WHERE node_id = ?", plant.nodes["edge-a"]["id"])
    assert secret_enc.startswith("v1:") and config_enc.startswith("v1:"), "the scenario stored no secrets"
    assert leaks(proc, {"positive control": plant.nodes["edge-a"]["id"]}), "the search itself must work"
    assert not leaks(proc, plant.secrets), "\n".join(leaks(proc, plant.secrets))


def test_logs_hold_no_csrf_token_or_password_hash_even_at_debug_level(plant):
    proc = plant.proc
    with proc.sqlite() as db:
        hashes = {f"password hash of {name}": h for name, h in db.execute("SELECT username, password_hash FROM users")}
    found = leaks(proc, {**plant.log_only, **hashes}, log_files(proc))
    assert not found, "\n".join(found)


def test_stored_secrets_open_only_where_they_were_sealed(plant):
    proc = plant.proc
    vault = Vault(bytes.fromhex(proc.master_key))
    a, b = plant.nodes["edge-a"], plant.nodes["edge-b"]
    a_enc, = stored(proc, "SELECT secret_enc FROM nodes WHERE id = ?", a["id"])
    config_enc, = stored(proc, "SELECT config_enc FROM node_configs WHERE node_id = ?", a["id"])
    where = dict(table="nodes", column="secret_enc")
    assert vault.open_text("node-secret", a_enc, row_id=a["id"], **where) == a["secret"]
    assert PASSPHRASE in vault.open_text("node-config", config_enc, table="node_configs", column="config_enc",
                                         row_id=a["id"])
    with pytest.raises(SecretDecryptError):
        vault.open("node-secret", a_enc, row_id=b["id"], **where)  # another row
    with pytest.raises(SecretDecryptError):
        vault.open("node-secret", a_enc, table="nodes", column="previous_secret_enc", row_id=a["id"])
    with pytest.raises(SecretDecryptError):
        vault.open("node-config", a_enc, row_id=a["id"], **where)  # another domain
    with pytest.raises(SecretDecryptError):
        Vault(os.urandom(32)).open("node-secret", a_enc, row_id=a["id"], **where)


def test_a_node_secret_ciphertext_copied_to_another_node_opens_for_neither(plant):
    proc = plant.proc
    a, b = plant.nodes["edge-a"], plant.nodes["edge-b"]
    b_original, = stored(proc, "SELECT secret_enc FROM nodes WHERE id = ?", b["id"])
    a_enc, = stored(proc, "SELECT secret_enc FROM nodes WHERE id = ?", a["id"])
    with proc.sqlite() as db:
        db.execute("UPDATE nodes SET secret_enc = ? WHERE id = ?", (a_enc, b["id"]))
    try:
        assert run(node_login(proc, b["id"], a["secret"]))["type"] == "auth_error"
        assert run(node_login(proc, b["id"], b["secret"]))["type"] == "auth_error"
        assert run(node_login(proc, a["id"], a["secret"]))["type"] == "auth_ok"
    finally:
        with proc.sqlite() as db:
            db.execute("UPDATE nodes SET secret_enc = ? WHERE id = ?", (b_original, b["id"]))
    assert run(node_login(proc, b["id"], b["secret"]))["type"] == "auth_ok"


# -- master-key rotation ------------------------------------------------------------------------

def encrypted_columns(proc: ManagerProcess) -> dict[str, str]:
    with proc.sqlite() as db:
        rows = {f"nodes.secret_enc/{i}": v for i, v in db.execute("SELECT id, secret_enc FROM nodes "
                                                                  "WHERE secret_enc IS NOT NULL")}
        rows.update({f"node_configs/{i}": v for i, v in db.execute("SELECT node_id, config_enc FROM node_configs")})
    return rows


def test_rotate_master_key_refuses_while_the_server_runs(plant):
    before = encrypted_columns(plant.proc)
    result = plant.proc.cli("rotate-master-key", env={"BILBYCAST_NEW_MASTER_KEY": secrets.token_hex(32)})
    assert result.returncode == 4, result.stdout + result.stderr
    assert "running" in (result.stdout + result.stderr)
    assert encrypted_columns(plant.proc) == before


def test_rotate_master_key_with_the_wrong_current_key_changes_nothing(plant):
    proc = plant.proc
    assert proc.stop() == 0
    before = encrypted_columns(proc)
    result = proc.cli("rotate-master-key", env={"BILBYCAST_MASTER_KEY": secrets.token_hex(32),
                                                "BILBYCAST_NEW_MASTER_KEY": secrets.token_hex(32)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nothing changed" in result.stdout
    assert encrypted_columns(proc) == before
    same = proc.cli("rotate-master-key", env={"BILBYCAST_NEW_MASTER_KEY": proc.master_key})
    assert same.returncode == 3, same.stdout + same.stderr
    weak = proc.cli("rotate-master-key", env={"BILBYCAST_NEW_MASTER_KEY": "ab" * 32})
    assert weak.returncode == 3 and "BILBYCAST_NEW_MASTER_KEY" in weak.stdout


def test_rotate_master_key_round_trip_keeps_every_secret_usable(plant):
    proc = plant.proc
    assert proc.proc is None, "the previous test stopped the server"
    old_key, new_key = proc.master_key, secrets.token_hex(32)
    before = encrypted_columns(proc)
    result = proc.cli("rotate-master-key", env={"BILBYCAST_NEW_MASTER_KEY": new_key})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"re-wrapped {len(before)} secrets" in result.stdout, result.stdout
    assert plant.nodes["edge-pending"]["id"] in result.stdout, "pending registration tokens are listed"

    after = encrypted_columns(proc)
    old_vault, new_vault = Vault(bytes.fromhex(old_key)), Vault(bytes.fromhex(new_key))
    for name, value in after.items():
        assert value != before[name]
        old_blob, new_blob = (base64.b64decode(v[3:]) for v in (before[name], value))
        assert old_blob[60:] == new_blob[60:], f"{name}: the data ciphertext must be carried over unchanged"
    a = plant.nodes["edge-a"]
    where = dict(table="nodes", column="secret_enc", row_id=a["id"])
    assert new_vault.open_text("node-secret", after[f"nodes.secret_enc/{a['id']}"], **where) == a["secret"]
    with pytest.raises(SecretDecryptError):
        old_vault.open("node-secret", after[f"nodes.secret_enc/{a['id']}"], **where)
    assert stored(proc, "SELECT token_hash FROM nodes WHERE id = ?", plant.nodes["edge-pending"]["id"]) == (None,)

    proc.env["BILBYCAST_MASTER_KEY"] = new_key
    proc.master_key = new_key
    plant.remember("new master key", new_key)
    proc.start()
    assert run(node_login(proc, a["id"], a["secret"]))["type"] == "auth_ok"
    assert run(node_login(proc, plant.nodes["edge-b"]["id"], plant.nodes["edge-b"]["secret"]))["type"] == "auth_ok"
    peer = NodePeer(proc.ws_url)
    refused = run(peer.auth_register(plant.nodes["edge-pending"]["token"]))
    run(peer.close())
    assert refused["type"] == "auth_error", "a token hashed under the old key cannot be used"
    token = proc.token()
    with proc.api(token) as api:
        rows = api.get("/api/v1/audit-log", params={"action": "master_key.rotate"}).json()["items"]
    assert len(rows) == 1 and rows[0]["username"] == "cli" and rows[0]["user_id"] is None
    assert not leaks(proc, plant.secrets), "\n".join(leaks(proc, plant.secrets))


# -- the process secrets ---------------------------------------------------------------------------

WEAK = [
    ("one repeated character", {"BILBYCAST_JWT_SECRET": "a" * 64}, ["BILBYCAST_JWT_SECRET"]),
    ("the example JWT secret", {"BILBYCAST_JWT_SECRET": process_secrets.EXAMPLE_JWT_SECRET}, ["BILBYCAST_JWT_SECRET"]),
    ("the example master key", {"BILBYCAST_MASTER_KEY": process_secrets.EXAMPLE_MASTER_KEY}, ["BILBYCAST_MASTER_KEY"]),
    ("a counting pattern", {"BILBYCAST_MASTER_KEY": "0123456789abcdef" * 4}, ["BILBYCAST_MASTER_KEY"]),
    ("a repeated block", {"BILBYCAST_JWT_SECRET": "deadbeef" * 8}, ["BILBYCAST_JWT_SECRET"]),
    ("too short", {"BILBYCAST_MASTER_KEY": secrets.token_hex(16)}, ["BILBYCAST_MASTER_KEY"]),
    ("not hex", {"BILBYCAST_JWT_SECRET": "z" + secrets.token_hex(32)[1:]}, ["BILBYCAST_JWT_SECRET"]),
    ("unset", {"BILBYCAST_MASTER_KEY": ""}, ["BILBYCAST_MASTER_KEY"]),
    ("an equal pair", "equal", ["BILBYCAST_JWT_SECRET", "BILBYCAST_MASTER_KEY"]),
]


def test_weak_process_secrets_are_refused_at_serve_with_exit_3_naming_the_variable(unstarted_manager):
    proc = unstarted_manager  # the secrets are checked before anything else, so no setup is needed

    def attempt(case):
        label, env, names = case
        if env == "equal":
            env = {"BILBYCAST_MASTER_KEY": proc.jwt_secret}
        result = proc.cli("serve", "--port", str(free_port()), env=env, timeout=30)
        output = result.stdout + result.stderr
        problems = []
        if result.returncode != 3:
            problems.append(f"{label}: exit {result.returncode}, expected 3\n{output[-600:]}")
        problems += [f"{label}: message does not name {n}" for n in names if n not in output]
        if "setup --generate-secrets" not in output and "openssl rand -hex 32" not in output:
            problems.append(f"{label}: the message does not say how to make good secrets")
        problems += [f"{label}: the refused value was printed" for v in env.values() if v and v in output]
        return problems

    with ThreadPoolExecutor(len(WEAK)) as pool:
        problems = [p for found in pool.map(attempt, WEAK) for p in found]
    assert not problems, "\n".join(problems)


def test_serve_reads_manager_env_when_the_environment_has_none_and_refuses_a_readable_file(unstarted_manager):
    proc = unstarted_manager
    result = proc.cli("setup", "--generate-secrets", "--username", "admin", "--password-stdin",
                      input_text=ADMIN_PASSWORD + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    env_file = proc.config_dir / "manager.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    text = env_file.read_text()
    file_values = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert set(file_values) == {"BILBYCAST_JWT_SECRET", "BILBYCAST_MASTER_KEY"}
    for value in file_values.values():
        process_secrets.validate_secret("generated", value)

    del proc.env["BILBYCAST_JWT_SECRET"], proc.env["BILBYCAST_MASTER_KEY"]
    proc.start()
    assert proc.token(), "the server runs on the secrets from manager.env"
    assert proc.stop() == 0
    assert str(env_file) in proc.log_text(), "the log says where the secrets came from"

    again = proc.cli("setup", "--generate-secrets")
    assert again.returncode == 0 and env_file.read_text() == text, "setup never overwrites manager.env"

    env_file.chmod(0o644)
    result = proc.cli("serve", "--port", str(free_port()), timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "0600" in output and str(env_file) in output
    assert not any(value in output for value in file_values.values())
