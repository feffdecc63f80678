"""Encrypted backup export and import (api.md §13, product.md §10 and §13), against real managers.

The file format is checked with a decryptor written here from the spec (Argon2id, AAD = canonical
JSON of every field but the ciphertext, AES-256-GCM, gzip'd JSON), not with the manager's code.
The round trip goes into a second manager with its own master key: users sign in with their old
passwords and a node authenticates over a raw WebSocket with its old secret.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import json
import os
import re
import ssl
import time
import uuid

import httpx
import pytest
import tornado.httpclient
import tornado.websocket
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from bilbycast.services import backup as backup_service
from bilbycast.services.crypto import Vault
from bilbycast.services.errors import ApiError
from manager_process import ADMIN_PASSWORD, REPO, USER_PASSWORD, ManagerProcess

PASSPHRASE = "staple battery horse correct"
EXAMPLES = REPO.parent / "shared" / "spec" / "examples"
AI_KEY = "sk-ant-backup-test-" + uuid.uuid4().hex
FILE_FIELDS = {"format", "format_version", "created_at", "manager_version", "kdf", "cipher", "ciphertext"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# -- the spec's recipe, written independently of the manager --------------------------------------

def spec_key(passphrase: str, kdf: dict) -> bytes:
    return Argon2id(salt=base64.b64decode(kdf["salt"]), length=32, iterations=kdf["iterations"],
                    lanes=kdf["parallelism"], memory_cost=kdf["memory_kib"]).derive(passphrase.encode("utf-8"))


def spec_aad(document: dict) -> bytes:
    header = {k: v for k, v in document.items() if k != "ciphertext"}
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def spec_decrypt(document: dict, passphrase: str = PASSPHRASE) -> dict:
    key = spec_key(passphrase, document["kdf"])
    plain = AESGCM(key).decrypt(base64.b64decode(document["cipher"]["nonce"]),
                                base64.b64decode(document["ciphertext"]), spec_aad(document))
    return json.loads(gzip.decompress(plain))


def spec_encrypt(document: dict, payload: dict, passphrase: str = PASSPHRASE) -> dict:
    """Re-encrypt a payload under the header of `document` (fresh nonce), as another writer would."""
    out = copy.deepcopy(document)
    out["cipher"]["nonce"] = base64.b64encode(os.urandom(12)).decode()
    del out["ciphertext"]
    ciphertext = AESGCM(spec_key(passphrase, out["kdf"])).encrypt(
        base64.b64decode(out["cipher"]["nonce"]), gzip.compress(json.dumps(payload).encode()), spec_aad(out))
    out["ciphertext"] = base64.b64encode(ciphertext).decode()
    return out


# -- a raw node over /ws/node ---------------------------------------------------------------------

def insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def node_connect(manager: ManagerProcess, auth_payload: dict):
    request = tornado.httpclient.HTTPRequest(f"{manager.ws_url}/ws/node", ssl_options=insecure_context())
    ws = await tornado.websocket.websocket_connect(request)
    await ws.write_message(json.dumps({"type": "auth", "payload": auth_payload}))
    reply = await asyncio.wait_for(ws.read_message(), 10)
    return ws, json.loads(reply)


def node_auth(manager: ManagerProcess, auth_payload: dict) -> dict:
    async def scenario():
        ws, reply = await node_connect(manager, auth_payload)
        ws.close()
        return reply
    return asyncio.run(asyncio.wait_for(scenario(), 30))


def example_config() -> dict:
    return json.loads((EXAMPLES / "edge-config-response.json").read_text())["payload"]


def register_and_cache_config(manager: ManagerProcess, token: str, registration_token: str, node_id: str) -> str:
    """Enrol like an edge, answer the manager's get_config with the spec's example; returns the secret."""
    async def scenario():
        ws, reply = await node_connect(manager, {"registration_token": registration_token,
                                                 "software_version": "0.106.0", "protocol_version": 4})
        assert reply["type"] == "register_ack", reply
        assert reply["payload"]["node_id"] == node_id

        async def answer_commands():
            while True:
                message = await ws.read_message()
                if message is None:
                    return
                frame = json.loads(message)
                if frame.get("type") == "command" and frame["payload"]["action"]["type"] == "get_config":
                    await ws.write_message(json.dumps({"type": "config_response", "timestamp": "2026-05-01T10:02:00+00:00",
                                                       "payload": example_config()}))

        answering = asyncio.ensure_future(answer_commands())
        async with httpx.AsyncClient(base_url=manager.base_url, verify=False, timeout=30,
                                     headers={"Authorization": f"Bearer {token}"}) as api:
            response = await api.get(f"/api/v1/nodes/{node_id}/config", params={"refresh": "true"})
            assert response.status_code == 200, response.text
        answering.cancel()
        ws.close()
        return reply["payload"]["node_secret"]

    secret = asyncio.run(asyncio.wait_for(scenario(), 60))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the cached copy is written behind the response
        with manager.sqlite() as conn:
            if conn.execute("SELECT 1 FROM node_configs WHERE node_id = ?", (node_id,)).fetchone():
                return secret
        time.sleep(0.1)
    raise AssertionError("the node's config was never cached")


# -- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def source(manager) -> dict:
    """The module's manager, filled with one of everything a backup carries."""
    root = manager.token()
    manager.relax_login_limits(root)
    manager.put_settings(root, events_retention_days=120, node_offline_threshold_secs=60)
    operator = manager.create_user(root, "backup-operator", "operator")
    manager.create_user(root, "backup-admin", "admin")
    with manager.api(root) as api:
        registered = api.post("/api/v1/nodes", json={"name": "Edge Registered", "device_type": "edge"}).json()
        pending = api.post("/api/v1/nodes", json={"name": "Edge Pending", "device_type": "edge"}).json()
    secret = register_and_cache_config(manager, root, registered["registration_token"], registered["id"])
    with manager.api(root) as api:
        assert api.put("/api/v1/preferences/topology_view", json={"value": "flow"}).status_code == 204
        assert api.put("/api/v1/preferences/events_per_page", json={"value": 25}).status_code == 204
        response = api.put("/api/v1/topology/positions",
                           json={"view": "graph", "positions": {registered["id"]: {"x": 12.5, "y": -40.0},
                                                                "ext:srt:192.168.50.9:6001": {"x": 1.0, "y": 2.0}}})
        assert response.status_code == 204, response.text
        me = api.get("/api/v1/auth/me").json()["user"]
    # An AI key, sealed exactly where the manager keeps them (domain ai-key, bound to its row).
    vault = Vault(bytes.fromhex(manager.master_key))
    sealed = vault.seal_text("ai-key", AI_KEY, table="ai_keys", column="key_enc", row_id=f"{me['id']}:anthropic")
    with manager.sqlite() as conn:
        conn.execute("INSERT INTO ai_keys (user_id, provider, key_enc, model_preference, updated_at) "
                     "VALUES (?, 'anthropic', ?, 'claude-sonnet-4-5', '2026-05-17T08:00:00.000Z')", (me["id"], sealed))
    return {"root": root, "root_user": me, "operator": operator, "registered": registered, "pending": pending,
            "secret": secret}


@pytest.fixture(scope="module")
def exported(manager, source) -> tuple[httpx.Response, dict]:
    with manager.api(source["root"]) as api:
        response = api.get("/api/v1/export", params={"include_events": "true", "include_audit": "true"},
                           headers={"X-Backup-Passphrase": PASSPHRASE})
    assert response.status_code == 200, response.text
    return response, response.json()


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A second, fresh manager: its own master key and JWT secret, one setup admin, no nodes."""
    proc = ManagerProcess(tmp_path_factory.mktemp("target"))
    proc.setup()
    proc.start()
    proc.relax_login_limits(proc.token())
    yield proc
    proc.stop()


def import_file(manager: ManagerProcess, token: str, document, passphrase: str | None = PASSPHRASE,
                force: bool = False) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if passphrase is not None:
        headers["X-Backup-Passphrase"] = passphrase
    body = document if isinstance(document, (bytes, str)) else json.dumps(document)
    with manager.client(headers=headers) as client:
        return client.post("/api/v1/import", params={"force": "true"} if force else {}, content=body,
                           headers={"Content-Type": "application/json"})


# -- export -----------------------------------------------------------------------------------------

def test_export_is_a_json_attachment_named_by_its_time(exported):
    response, document = exported
    assert response.headers["content-type"].split(";")[0] == "application/json"
    disposition = response.headers["content-disposition"]
    match = re.fullmatch(r'attachment; filename="bilbycast-manager-backup-(\d{8})-(\d{6})\.json"', disposition)
    assert match, disposition
    assert document["created_at"].replace("-", "").replace(":", "")[:15] == f"{match[1]}T{match[2]}"
    assert response.headers["cache-control"] == "no-store"


def test_export_file_has_exactly_the_specified_fields(exported):
    _, document = exported
    assert set(document) == FILE_FIELDS
    assert document["format"] == "bilbycast-manager-backup"
    assert document["format_version"] == 1
    assert TIMESTAMP.match(document["created_at"])
    assert document["manager_version"] == "1.0.0"
    kdf = document["kdf"]
    assert set(kdf) == {"name", "memory_kib", "iterations", "parallelism", "salt"}
    assert (kdf["name"], kdf["memory_kib"], kdf["iterations"], kdf["parallelism"]) == ("argon2id", 65536, 3, 1)
    assert len(base64.b64decode(kdf["salt"], validate=True)) == 16
    assert set(document["cipher"]) == {"name", "nonce"}
    assert document["cipher"]["name"] == "aes-256-gcm"
    assert len(base64.b64decode(document["cipher"]["nonce"], validate=True)) == 12
    assert len(base64.b64decode(document["ciphertext"], validate=True)) > 16


def test_payload_opens_with_the_spec_recipe_and_carries_everything(exported, source):
    _, document = exported
    payload = spec_decrypt(document)
    assert set(payload) == {"exported_at", "exported_by", "manager_version", "data"}
    assert payload["exported_by"] == "admin" and payload["manager_version"] == "1.0.0"
    data = payload["data"]
    assert set(data) == {"users", "nodes", "settings", "ai_keys", "topology_positions", "preferences", "events",
                         "audit_log"}
    users = {u["username"]: u for u in data["users"]}
    assert set(users) == {"admin", "backup-operator", "backup-admin"}
    assert users["backup-operator"]["password_hash"].startswith("$argon2id$")
    nodes = {n["id"]: n for n in data["nodes"]}
    registered, pending = nodes[source["registered"]["id"]], nodes[source["pending"]["id"]]
    assert registered["secret"] == source["secret"]
    assert json.loads(registered["last_config"]["config"]) == example_config()
    assert pending["secret"] is None and pending["last_config"] is None
    assert all("token_hash" not in n and "secret_enc" not in n for n in data["nodes"])
    assert [(k["provider"], k["key"]) for k in data["ai_keys"]] == [("anthropic", AI_KEY)]
    assert {s["key"]: s["value"] for s in data["settings"]}["events_retention_days"] == 120
    assert any(a["action"] == "node.create" for a in data["audit_log"])
    assert any(e["node_id"] == source["registered"]["id"] for e in data["events"])


def test_events_and_audit_are_carried_only_when_asked(manager, source):
    with manager.api(source["root"]) as api:
        response = api.get("/api/v1/export", headers={"X-Backup-Passphrase": PASSPHRASE})
    assert response.status_code == 200, response.text
    data = spec_decrypt(response.json())["data"]
    assert set(data) == {"users", "nodes", "settings", "ai_keys", "topology_positions", "preferences"}


def test_the_raw_file_holds_no_secret_and_not_the_passphrase(exported, source):
    response, _ = exported
    raw = response.content
    for secret in (source["secret"], AI_KEY, PASSPHRASE, source["pending"]["registration_token"],
                   source["registered"]["registration_token"]):
        assert secret.encode() not in raw
        assert base64.b64encode(secret.encode()) not in raw


def test_export_is_audited(manager, exported, source):
    with manager.api(source["root"]) as api:
        items = api.get("/api/v1/audit-log", params={"action": "backup.export"}).json()["items"]
    assert items and items[0]["username"] == "admin" and items[0]["result"] == "success"
    assert PASSPHRASE not in json.dumps(items)


@pytest.mark.parametrize("headers", [{}, {"X-Backup-Passphrase": "eleven char"}], ids=["missing", "short"])
def test_export_needs_a_passphrase_of_twelve_characters(manager, source, headers):
    with manager.api(source["root"]) as api:
        response = api.get("/api/v1/export", headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "validation_failed", response.text


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_only_a_super_admin_exports_or_imports(manager, source, exported, role):
    name = f"backup-{role}-{uuid.uuid4().hex[:6]}"
    manager.create_user(source["root"], name, role)
    token = manager.token(name, USER_PASSWORD)
    with manager.api(token) as api:
        response = api.get("/api/v1/export", headers={"X-Backup-Passphrase": PASSPHRASE})
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    response = import_file(manager, token, exported[1], force=True)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


# -- import refusals (the target is still fresh) -------------------------------------------------

def test_a_changed_header_field_fails_to_decrypt(target, exported):
    document = copy.deepcopy(exported[1])
    document["created_at"] = "2020-01-01T00:00:00.000Z"
    with pytest.raises(InvalidTag):
        spec_decrypt(document)
    response = import_file(target, target.token(), document)
    assert response.status_code == 422 and response.json()["code"] == "backup_decrypt_failed", response.text


def test_a_wrong_passphrase_fails_to_decrypt(target, exported):
    response = import_file(target, target.token(), exported[1], passphrase="not the right passphrase")
    assert response.status_code == 422 and response.json()["code"] == "backup_decrypt_failed", response.text


@pytest.mark.parametrize("passphrase", [None, "only eleven"], ids=["missing", "short"])
def test_import_needs_a_passphrase_of_twelve_characters(target, exported, passphrase):
    response = import_file(target, target.token(), exported[1], passphrase=passphrase)
    assert response.status_code == 422 and response.json()["code"] == "validation_failed", response.text


def test_a_file_of_another_format_or_version_is_invalid(target, exported):
    token = target.token()
    greedy_kdf = {**exported[1]["kdf"], "memory_kib": 64 * 1024 * 1024}  # refused before spending 64 GiB
    for change in ({"format_version": 2}, {"format": "something-else"}, {"kdf": {"name": "scrypt"}},
                   {"kdf": greedy_kdf}, {"cipher": {"name": "aes-128-cbc", "nonce": "AAAAAAAAAAAAAAAA"}}):
        response = import_file(target, token, {**exported[1], **change})
        assert response.status_code == 422 and response.json()["code"] == "backup_invalid", (change, response.text)
    response = import_file(target, token, b"this is not json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"


def test_a_backup_whose_records_do_not_fit_changes_nothing(target, exported):
    payload = spec_decrypt(exported[1])
    payload["data"]["events"].append({**payload["data"]["events"][0], "id": 999_999, "node_id": str(uuid.uuid4())})
    token = target.token()
    response = import_file(target, token, spec_encrypt(exported[1], payload))
    assert response.status_code == 422 and response.json()["code"] == "backup_invalid", response.text
    with target.api(token) as api:  # one transaction: nothing was replaced, the session still works
        assert api.get("/api/v1/auth/me").status_code == 200
        assert [u["username"] for u in api.get("/api/v1/users").json()] == ["admin"]
        assert api.get("/api/v1/nodes").json() == []


# -- the round trip ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def imported(target, exported) -> dict:
    token = target.token()
    with target.api(token) as api:
        before = api.get("/api/v1/auth/me").json()["user"]
    response = import_file(target, token, exported[1])
    assert response.status_code == 200, response.text
    return {"response": response.json(), "token": token, "before": before}


def test_import_reports_what_it_carried(imported, source, exported):
    body = imported["response"]
    counts = {k: len(v) for k, v in spec_decrypt(exported[1])["data"].items()}
    assert body["imported"] == counts
    assert body["imported"]["users"] == 3 and body["imported"]["nodes"] == 2
    assert body["nodes_needing_token"] == [source["pending"]["id"]]
    assert body["sessions_revoked"] is True


def test_the_callers_session_is_revoked(target, imported):
    with target.api(imported["token"]) as api:
        response = api.get("/api/v1/auth/me")
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_users_sign_in_with_their_old_passwords(target, imported, source):
    operator = target.login("backup-operator", USER_PASSWORD)
    try:
        assert operator.user["id"] == source["operator"]["id"] and operator.user["role"] == "operator"
    finally:
        operator.client.close()
    admin = target.login("admin", ADMIN_PASSWORD)
    try:
        assert admin.user["id"] == source["root_user"]["id"] != imported["before"]["id"]
    finally:
        admin.client.close()


def test_nodes_come_back_registered_or_pending(target, imported, source):
    with target.api(target.token()) as api:
        nodes = {n["id"]: n for n in api.get("/api/v1/nodes").json()}
    assert nodes[source["registered"]["id"]]["status"] == "offline"
    assert nodes[source["pending"]["id"]]["status"] == "pending"


def test_the_cached_config_decrypts_under_the_new_master_key(target, imported, source):
    node_id = source["registered"]["id"]
    with target.api(target.token()) as api:
        response = api.get(f"/api/v1/nodes/{node_id}/config")
    assert response.status_code == 200, response.text
    assert response.headers["x-config-source"] == "cache"
    assert response.json()["device_name"] == example_config()["device_name"]
    with target.sqlite() as conn:
        stored = conn.execute("SELECT config_enc FROM node_configs WHERE node_id = ?", (node_id,)).fetchone()[0]
    where = dict(table="node_configs", column="config_enc", row_id=node_id)
    assert json.loads(Vault(bytes.fromhex(target.master_key)).open_text("node-config", stored, **where)) == example_config()


def test_a_registered_node_authenticates_with_its_old_secret(target, imported, source):
    node_id = source["registered"]["id"]
    wrong = node_auth(target, {"node_id": node_id, "node_secret": "not-the-secret", "protocol_version": 4})
    assert wrong["type"] == "auth_error"
    reply = node_auth(target, {"node_id": node_id, "node_secret": source["secret"],
                               "software_version": "0.106.0", "protocol_version": 4})
    assert reply["type"] == "auth_ok", reply


def test_a_pending_nodes_old_token_is_not_carried(target, imported, source):
    reply = node_auth(target, {"registration_token": source["pending"]["registration_token"],
                               "software_version": "0.106.0", "protocol_version": 4})
    assert reply["type"] == "auth_error"


def test_settings_preferences_positions_and_ai_keys_are_carried(target, imported, source):
    with target.api(target.token()) as api:
        settings = api.get("/api/v1/settings").json()["settings"]
        assert settings["events_retention_days"] == 120 and settings["node_offline_threshold_secs"] == 60
        assert settings["login_ip_max_attempts"] == 100
        assert api.get("/api/v1/preferences").json() == {"topology_view": "flow", "events_per_page": 25}
        positions = api.get("/api/v1/topology/positions", params={"view": "graph"}).json()["positions"]
        assert positions == {source["registered"]["id"]: {"x": 12.5, "y": -40.0},
                             "ext:srt:192.168.50.9:6001": {"x": 1.0, "y": 2.0}}
    row_id = f"{source['root_user']['id']}:anthropic"
    with target.sqlite() as conn:
        stored = conn.execute("SELECT key_enc FROM ai_keys WHERE user_id = ? AND provider = 'anthropic'",
                              (source["root_user"]["id"],)).fetchone()[0]
    where = dict(table="ai_keys", column="key_enc", row_id=row_id)
    assert Vault(bytes.fromhex(target.master_key)).open_text("ai-key", stored, **where) == AI_KEY


def test_the_audit_log_keeps_the_source_rows_and_records_the_import(target, imported, source):
    with target.api(target.token()) as api:
        imports = api.get("/api/v1/audit-log", params={"action": "backup.import"}).json()["items"]
        carried = api.get("/api/v1/audit-log", params={"action": "node.create"}).json()["items"]
    success = [row for row in imports if row["result"] == "success"]
    assert len(success) == 1 and success[0]["username"] == "admin"
    assert success[0]["details"]["pending_nodes"] == [source["pending"]["id"]]
    assert {row["target_id"] for row in carried} >= {source["registered"]["id"], source["pending"]["id"]}
    assert {row["error_code"] for row in imports if row["result"] == "failure"} >= {"backup_decrypt_failed"}


def test_a_second_import_needs_force_and_closes_every_node_connection(target, imported, exported, source):
    token = target.token()
    response = import_file(target, token, exported[1])
    assert response.status_code == 409 and response.json()["code"] == "import_target_not_empty", response.text
    with target.api(token) as api:
        assert api.get("/api/v1/auth/me").status_code == 200

    async def scenario():
        ws, reply = await node_connect(target, {"node_id": source["registered"]["id"], "node_secret": source["secret"],
                                                "software_version": "0.106.0", "protocol_version": 4})
        assert reply["type"] == "auth_ok", reply
        response = await asyncio.get_running_loop().run_in_executor(
            None, lambda: import_file(target, token, exported[1], force=True))
        assert response.status_code == 200, response.text
        while await asyncio.wait_for(ws.read_message(), 10) is not None:
            pass  # frames sent before the close (a get_config, a ping)
        return ws.close_code

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == 1012
    with target.api(token) as api:
        assert api.get("/api/v1/auth/me").status_code == 401
    with target.api(target.token()) as api:  # the node's live view was rebuilt: offline, then back
        assert api.get(f"/api/v1/nodes/{source['registered']['id']}").json()["status"] == "offline"
    reply = node_auth(target, {"node_id": source["registered"]["id"], "node_secret": source["secret"],
                               "protocol_version": 4})
    assert reply["type"] == "auth_ok"


# -- the CLI ------------------------------------------------------------------------------------

@pytest.fixture
def passphrase_file(tmp_path):
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    path.chmod(0o600)
    return path


def test_cli_import_is_refused_while_the_server_runs(manager, source, exported, tmp_path, passphrase_file):
    backup = tmp_path / "backup.json"
    backup.write_bytes(exported[0].content)
    result = manager.cli("import", "--input", str(backup), "--force", "--passphrase-file", str(passphrase_file))
    assert result.returncode == 4, result.stdout + result.stderr
    assert "stop it" in result.stdout
    with manager.api(source["root"]) as api:  # nothing happened to the running server
        assert api.get("/api/v1/auth/me").status_code == 200


def test_cli_export_and_import_round_trip(manager, source, tmp_path, passphrase_file):
    backup = tmp_path / "cli-backup.json"
    result = manager.cli("export", "--output", str(backup), "--include-audit", "--passphrase-file",
                         str(passphrase_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    document = json.loads(backup.read_text())
    assert set(document) == FILE_FIELDS
    data = spec_decrypt(document)["data"]
    assert "audit_log" in data and "events" not in data
    assert spec_decrypt(document)["exported_by"] == "cli"

    restored = ManagerProcess(tmp_path / "restored")
    restored.setup()
    try:
        result = restored.cli("import", "--input", str(backup), "--passphrase-file", str(passphrase_file))
        assert result.returncode == 0, result.stdout + result.stderr
        assert source["pending"]["id"] in result.stdout
        again = restored.cli("import", "--input", str(backup), "--passphrase-file", str(passphrase_file))
        assert again.returncode == 3 and "--force" in again.stdout, again.stdout + again.stderr
        wrong_file = tmp_path / "wrong-passphrase"
        wrong_file.write_text("a different passphrase\n")
        wrong = restored.cli("import", "--input", str(backup), "--force", "--passphrase-file", str(wrong_file))
        assert wrong.returncode == 1 and "decrypt" in wrong.stdout, wrong.stdout + wrong.stderr

        restored.start()
        operator = restored.login("backup-operator", USER_PASSWORD)
        operator.client.close()
        assert node_auth(restored, {"node_id": source["registered"]["id"], "node_secret": source["secret"],
                                    "protocol_version": 4})["type"] == "auth_ok"
        with restored.api(restored.token()) as api:
            actions = [row["action"] for row in api.get("/api/v1/audit-log").json()["items"]]
        assert "backup.import" in actions and "node.create" in actions
    finally:
        restored.stop()


# -- the service on its own -----------------------------------------------------------------------

def minimal_payload(**data) -> dict:
    tables = {"users": [], "nodes": [], "settings": [], "ai_keys": [], "topology_positions": [], "preferences": []}
    return {"exported_at": "2026-05-18T00:36:15.000Z", "exported_by": "cli", "manager_version": "1.0.0",
            "data": {**tables, **data}}


def test_the_passphrase_means_the_same_however_its_accents_were_typed():
    sealed = backup_service.seal_payload(minimal_payload(), "caf\u00e9 au lait, merci")
    opened = backup_service.open_backup(sealed.content, "cafe\u0301 au lait, merci")
    assert opened.payload["data"]["users"] == []


def test_a_backup_over_the_import_limit_is_refused_at_export():
    blob = base64.b64encode(os.urandom(26 * 1024 * 1024)).decode()  # incompressible: about 35 MiB in the file
    with pytest.raises(ApiError) as caught:
        backup_service.seal_payload(minimal_payload(blob=blob), PASSPHRASE)
    assert caught.value.code == "validation_failed" and "32 MiB" in caught.value.message
