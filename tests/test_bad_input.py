"""Malformed, oversized and unexpected requests (api.md §1.2-§1.5), sent to a real manager.

Every error answer is also checked for the common shape: a JSON body with `error`, `code` and a
`request_id` equal to the X-Request-Id header.
"""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest

from bilbycast.routes import build_routes
from manager_process import USER_PASSWORD

KIB = 1024
UUID_V4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


@pytest.fixture(scope="module")
def token(manager) -> str:
    root = manager.token()
    manager.relax_login_limits(root)
    return root


@pytest.fixture(scope="module")
def api(manager, token):
    with manager.api(token) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert body["code"] == code, body
    request_id = response.headers["X-Request-Id"]
    assert re.match(UUID_V4, request_id) and body["request_id"] == request_id
    return body


def user_count(manager) -> int:
    with manager.sqlite() as db:
        return db.execute("SELECT COUNT(*) FROM users").fetchone()[0]


def new_user(**extra) -> dict:
    return {"username": f"bad-{uuid.uuid4().hex[:8]}", "password": USER_PASSWORD, "display_name": "Bad Input",
            "role": "viewer", **extra}


# -- bodies that are not JSON objects ------------------------------------------------------------

@pytest.mark.parametrize("raw", [b"{bad json", b"", b"   ", b"\xff\xfe{}", b'{"a": 1} trailing'])
def test_malformed_json_is_400_invalid_json(api, raw):
    response = api.post("/api/v1/users", content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("value", [[1, 2], "a string", 42, None])
def test_json_that_is_not_an_object_is_400(api, value):
    response = api.post("/api/v1/users", content=json.dumps(value).encode(),
                        headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_body_without_application_json_is_415(api, ctype):
    response = api.post("/api/v1/users", content=json.dumps(new_user()).encode(), headers={"Content-Type": ctype})
    assert_error(response, 415, "unsupported_media_type")


def test_body_without_a_content_type_is_415(api):
    response = api.post("/api/v1/users", content=json.dumps(new_user()).encode(), headers={"Content-Type": ""})
    assert_error(response, 415, "unsupported_media_type")


def test_json_with_a_charset_is_accepted(api):
    response = api.post("/api/v1/users", content=json.dumps(new_user()).encode(),
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201, response.text


def test_empty_bodied_routes_take_no_body_or_an_empty_object(manager, token):
    for kwargs in ({}, {"json": {}}):
        with manager.api(manager.token()) as session:
            response = session.post("/api/v1/auth/logout", **kwargs)
            assert response.status_code == 200, response.text
            assert session.get("/api/v1/auth/me").status_code == 401


# -- size limits ---------------------------------------------------------------------------------

def padded_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    skeleton = b'{"username":"' + b'"}'
    return b'{"username":"' + b"a" * (size - len(skeleton)) + b'"}'


def test_body_over_64_kib_is_413_and_the_server_keeps_serving(manager, api):
    before = user_count(manager)
    response = api.post("/api/v1/users", content=padded_body(64 * KIB + 1), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    # The same keep-alive client, a fresh client, and a much larger body still get proper answers.
    assert api.get("/api/v1/auth/me").status_code == 200
    with manager.client() as client:
        assert client.get("/health").status_code == 200
    response = api.post("/api/v1/users", content=padded_body(4 * 1024 * KIB), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert api.get("/api/v1/auth/me").status_code == 200
    assert user_count(manager) == before


def test_a_body_of_exactly_64_kib_is_read(api):
    response = api.post("/api/v1/users", content=padded_body(64 * KIB), headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text  # parsed and validated, not refused for size


def test_chunked_body_over_the_limit_is_413_not_a_dropped_connection(api):
    def chunks():
        yield b'{"username":"'
        for _ in range(80):
            yield b"a" * KIB
        yield b'"}'

    response = api.post("/api/v1/users", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert api.get("/api/v1/auth/me").status_code == 200


def test_login_body_over_64_kib_is_413_before_any_hashing(manager):
    with manager.client() as client:
        response = client.post("/api/v1/auth/login", content=padded_body(64 * KIB + 10),
                               headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_routes_with_their_own_body_limit_enforce_it(api):
    checked = 0
    for route in build_routes():
        for method, limit in route.body_limit.items():
            if method not in route.rules:
                continue
            path = route.template
            while "{" in path:
                start, end = path.index("{"), path.index("}")
                path = path[:start] + "x" + uuid.uuid4().hex[:8] + path[end + 1:]
            over = api.request(method, path, content=padded_body(limit + 1), headers={"Content-Type": "application/json"})
            assert_error(over, 413, "payload_too_large")
            if limit > 64 * KIB:
                under = api.request(method, path, content=padded_body(64 * KIB + 100),
                                    headers={"Content-Type": "application/json"})
                assert under.status_code != 413, f"{method} {route.template} allows {limit} bytes"
            checked += 1
    if checked == 0:
        pytest.skip("no route declares its own body limit yet")


# -- validation ----------------------------------------------------------------------------------

def test_unknown_field_on_create_user_is_422_and_creates_nothing(manager, api):
    before = user_count(manager)
    body = assert_error(api.post("/api/v1/users", json=new_user(is_admin=True)), 422, "unknown_field")
    assert body["fields"] == [{"path": "/is_admin", "message": body["fields"][0]["message"]}]
    assert user_count(manager) == before


def test_unknown_setting_is_422_unknown_field(api):
    body = assert_error(api.put("/api/v1/settings", json={"settings": {"debug_mode": True}}), 422, "unknown_field")
    assert body["fields"][0]["path"] == "/settings/debug_mode"
    assert_error(api.put("/api/v1/settings", json={"settings": {}, "extra": 1}), 422, "unknown_field")


@pytest.mark.parametrize("key,value", [("login_ip_max_attempts", 101), ("login_ip_max_attempts", 0),
                                       ("session_lifetime_hours", "24"), ("events_retention_days", True),
                                       ("node_offline_threshold_secs", 1.5), ("ollama_url", "ftp://x.example"),
                                       ("ai_default_provider", "skynet")])
def test_bad_setting_value_is_422_validation_failed_with_fields(api, key, value):
    body = assert_error(api.put("/api/v1/settings", json={"settings": {key: value}}), 422, "validation_failed")
    assert [f["path"] for f in body["fields"]] == [f"/settings/{key}"]
    assert all(f["message"] for f in body["fields"])


def test_a_partly_bad_settings_change_changes_nothing(api):
    before = api.get("/api/v1/settings").json()["settings"]
    response = api.put("/api/v1/settings", json={"settings": {"events_retention_days": 120,
                                                              "login_ip_window_secs": 5}})
    assert_error(response, 422, "validation_failed")
    assert api.get("/api/v1/settings").json()["settings"] == before


def test_failed_creates_leave_no_user_row_and_no_audit_row(manager, api):
    taken = new_user()
    assert api.post("/api/v1/users", json=taken).status_code == 201
    before = user_count(manager)
    duplicate = new_user(username=taken["username"].upper())
    assert_error(api.post("/api/v1/users", json=duplicate), 409, "username_taken")
    assert_error(api.post("/api/v1/users", json=new_user(allowed_node_ids=[str(uuid.uuid4())])), 422,
                 "validation_failed")
    assert_error(api.post("/api/v1/users", json=new_user(password="short")), 422, "validation_failed")
    assert_error(api.post("/api/v1/users", json=new_user(role="root")), 422, "validation_failed")
    assert_error(api.post("/api/v1/users", json=new_user(is_temporary=True)), 422, "validation_failed")
    assert user_count(manager) == before
    creates = api.get("/api/v1/audit-log", params={"action": "user.create"}).json()["items"]
    assert [r["details"]["username"] for r in creates].count(taken["username"]) == 1


@pytest.mark.parametrize("query", ["per_page=501", "per_page=0", "page=0", "page=10001", "per_page=ten",
                                   "result=maybe", "from=yesterday"])
def test_bad_query_parameters_are_400_invalid_query(api, query):
    assert_error(api.get(f"/api/v1/audit-log?{query}"), 400, "invalid_query")


# -- unknown routes and methods ------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v2/users", "/nope", "/api/v1/users/a/b"])
def test_unknown_route_is_404_json(manager, path):
    with manager.client() as client:
        assert_error(client.get(path), 404, "not_found")
        assert_error(client.post(path, json={}), 404, "not_found")


def test_wrong_method_is_405_with_an_allow_header_from_the_route_table(manager, token):
    with manager.api(token) as client:
        for route in build_routes():
            if route.kind != "api":
                continue
            wrong = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in route.rules)
            path = route.template.replace("{id}", str(uuid.uuid4()))
            while "{" in path:
                start, end = path.index("{"), path.index("}")
                path = path[:start] + "x1" + path[end + 1:]
            response = client.request(wrong, path)
            assert_error(response, 405, "method_not_allowed")
            allowed = {m.strip() for m in response.headers["Allow"].split(",")}
            assert allowed == set(route.rules), route.template


def test_405_comes_before_authentication(manager):
    with manager.client() as client:
        assert_error(client.delete("/api/v1/auth/me"), 405, "method_not_allowed")


def test_successful_responses_carry_a_request_id_too(api):
    response = api.get("/api/v1/auth/me")
    assert response.status_code == 200 and re.match(UUID_V4, response.headers["X-Request-Id"])
    assert api.get("/api/v1/auth/me").headers["X-Request-Id"] != response.headers["X-Request-Id"]
