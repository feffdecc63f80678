"""Sign-in, sessions and their revocation against a real manager (api.md §2, §4; product.md §9.4).

Most tests share one module manager whose per-IP login limit is raised once, because every
sign-in from 127.0.0.1 counts against it. The rate-limit and lockout tests get managers of their
own so they see the spec's defaults and leave nothing behind.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from manager_process import ADMIN_PASSWORD, USER_PASSWORD, ManagerProcess

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def login(manager: ManagerProcess, username: str, password: str, **extra) -> httpx.Response:
    with manager.client() as client:
        return client.post(LOGIN, json={"username": username, "password": password, **extra})


def cookie_attributes(response: httpx.Response, name: str) -> tuple[str, dict[str, str]]:
    """(value, {attribute-lowercase: value}) of one Set-Cookie header."""
    for header in response.headers.get_list("set-cookie"):
        first, *attrs = [part.strip() for part in header.split(";")]
        key, _, value = first.partition("=")
        if key == name:
            parsed = {}
            for attr in attrs:
                k, _, v = attr.partition("=")
                parsed[k.lower()] = v
            return value, parsed
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def audit_rows(manager: ManagerProcess, token: str, **filters) -> list[dict]:
    with manager.api(token) as api:
        response = api.get("/api/v1/audit-log", params={"per_page": 500, **filters})
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture(scope="module")
def admin_token(manager: ManagerProcess) -> str:
    token = manager.token()
    manager.relax_login_limits(token)
    return token


# -- signing in ------------------------------------------------------------------------------

def test_login_sets_httponly_secure_lax_session_cookie_and_csrf_cookie(manager, admin_token):
    first = login(manager, "admin", ADMIN_PASSWORD)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["user"]["username"] == "admin" and body["user"]["role"] == "super_admin"
    assert "password_hash" not in body["user"]
    assert "token" not in body, "the JWT is returned in the body only with return_token"

    session, attrs = cookie_attributes(first, "session")
    assert session.count(".") == 2, "the session cookie holds the JWT"
    assert "httponly" in attrs and "secure" in attrs
    assert attrs["samesite"].lower() == "lax" and attrs["path"] == "/" and attrs["max-age"] == "86400"

    csrf, csrf_attrs = cookie_attributes(first, "csrf_token")
    assert re.fullmatch(r"[0-9a-f]{32}", csrf) and csrf == body["csrf_token"]
    assert "httponly" not in csrf_attrs, "the dashboard script must be able to read the CSRF cookie"
    assert "secure" in csrf_attrs and csrf_attrs["samesite"].lower() == "lax" and csrf_attrs["max-age"] == "86400"

    second = login(manager, "admin", ADMIN_PASSWORD, return_token=True)
    assert second.status_code == 200
    assert second.json()["token"].count(".") == 2
    assert second.json()["csrf_token"] != body["csrf_token"], "every login opens a new session"


def test_wrong_password_and_unknown_user_fail_alike_and_both_run_a_hash(manager, admin_token):
    timings, bodies = [], []
    for username in ("admin", unique("nobody")):
        started = time.monotonic()
        response = login(manager, username, "not the right passphrase")
        timings.append(time.monotonic() - started)
        assert response.status_code == 401, response.text
        bodies.append(response.json())
    assert [b["code"] for b in bodies] == ["invalid_credentials", "invalid_credentials"]
    assert bodies[0]["error"] == bodies[1]["error"], "the message must not reveal whether the user exists"
    assert min(timings) > 0.05, f"both failures must run an Argon2 verification: {timings}"


def test_overlong_username_or_password_is_refused_without_counting_toward_lockout(manager, admin_token):
    long_name = "a" * 65
    for _ in range(7):  # more than login_account_max_failures (5)
        response = login(manager, long_name, "whatever passphrase")
        assert response.status_code == 401 and response.json()["code"] == "invalid_credentials", response.text
    with manager.sqlite() as db:
        assert db.execute("SELECT COUNT(*) FROM login_failures WHERE name_lower = ?", (long_name,)).fetchone()[0] == 0

    name = unique("longpw")
    manager.create_user(admin_token, name, "viewer")
    for _ in range(7):
        response = login(manager, name, "p" * 129)
        assert response.status_code == 401 and response.json()["code"] == "invalid_credentials", response.text
    assert login(manager, name, USER_PASSWORD).status_code == 200, "over-long passwords must not lock the account"


@pytest.mark.parametrize("body", [{"username": "admin"}, {"password": ADMIN_PASSWORD},
                                  {"username": 7, "password": ADMIN_PASSWORD},
                                  {"username": "admin", "password": None}])
def test_login_with_a_missing_or_non_string_field_is_422(manager, admin_token, body):
    with manager.client() as client:
        response = client.post(LOGIN, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


# -- sessions end --------------------------------------------------------------------------

def test_logout_revokes_the_session_for_its_cookie_and_its_bearer_token(manager, admin_token):
    name = unique("leaver")
    manager.create_user(admin_token, name, "viewer")
    with manager.client() as client:
        response = client.post(LOGIN, json={"username": name, "password": USER_PASSWORD, "return_token": True})
        assert response.status_code == 200
        token, csrf = response.json()["token"], response.json()["csrf_token"]
        assert client.get(ME).json()["session"]["auth"] == "cookie"
        with manager.api(token) as api:
            assert api.get(ME).json()["session"]["auth"] == "bearer"

        out = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 200 and out.json() == {"success": True}
        for cookie in ("session", "csrf_token"):
            value, attrs = cookie_attributes(out, cookie)
            assert value in ("", '""') and attrs["max-age"] == "0"

        # Replay the old cookie explicitly: the browser would have dropped it, an attacker would not.
        stale = client.get(ME, headers={"Cookie": f"session={token}"})
        assert stale.status_code == 401 and stale.json()["code"] == "unauthenticated"
    with manager.api(token) as api:
        response = api.get(ME)
        assert response.status_code == 401 and response.json()["code"] == "unauthenticated"
    assert any(r["username"] == name for r in audit_rows(manager, admin_token, action="auth.logout"))


def test_a_session_revoked_on_the_server_is_refused_at_once(manager, admin_token):
    name = unique("revoked")
    manager.create_user(admin_token, name, "viewer")
    token = manager.token(name, USER_PASSWORD)
    with manager.api(token) as api:
        session_id = api.get(ME).json()["session"]["id"]
        with manager.sqlite() as db:
            db.execute("UPDATE sessions SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?",
                       (session_id,))
        response = api.get(ME)
    assert response.status_code == 401 and response.json()["code"] == "unauthenticated"


def test_a_forged_or_tampered_token_is_refused(manager, admin_token):
    with manager.api(admin_token[:-2] + ("AA" if not admin_token.endswith("AA") else "BB")) as api:
        assert api.get(ME).status_code == 401
    with manager.api("not-a-jwt") as api:
        assert api.get(ME).status_code == 401
    with manager.client(headers={"Authorization": f"Basic {admin_token}"}) as client:
        assert client.get(ME).status_code == 401


def test_password_change_revokes_other_sessions_and_keeps_the_current_one(manager, admin_token):
    name = unique("changer")
    manager.create_user(admin_token, name, "operator")
    browser = manager.login(name, USER_PASSWORD)
    other = manager.token(name, USER_PASSWORD)

    wrong = browser.post("/api/v1/auth/password", json={"current_password": "not my passphrase",
                                                         "new_password": "a brand new passphrase"})
    assert wrong.status_code == 422 and wrong.json()["code"] == "current_password_incorrect"
    same = browser.post("/api/v1/auth/password", json={"current_password": USER_PASSWORD,
                                                        "new_password": USER_PASSWORD})
    assert same.status_code == 422 and same.json()["code"] == "validation_failed"
    short = browser.post("/api/v1/auth/password", json={"current_password": USER_PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and short.json()["code"] == "validation_failed"
    with manager.api(other) as api:
        assert api.get(ME).status_code == 200, "a refused change must not revoke anything"

    ok = browser.post("/api/v1/auth/password", json={"current_password": USER_PASSWORD,
                                                      "new_password": "a brand new passphrase"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"success": True, "sessions_revoked": 1}
    assert browser.get(ME).status_code == 200, "the session that changed the password stays"
    with manager.api(other) as api:
        assert api.get(ME).status_code == 401
    assert login(manager, name, USER_PASSWORD).status_code == 401
    assert login(manager, name, "a brand new passphrase").status_code == 200
    assert any(r["username"] == name for r in audit_rows(manager, admin_token, action="auth.password_change"))
    browser.client.close()


# -- the database decides, on every request ---------------------------------------------------

def test_deactivated_user_is_refused_on_the_next_request_and_at_login(manager, admin_token):
    name = unique("deactivated")
    user = manager.create_user(admin_token, name, "operator")
    token = manager.token(name, USER_PASSWORD)
    with manager.api(token) as api, manager.api(admin_token) as admin:
        assert api.get(ME).status_code == 200
        assert admin.put(f"/api/v1/users/{user['id']}", json={"is_active": False}).status_code == 200
        response = api.get(ME)
        assert response.status_code == 401 and response.json()["code"] == "unauthenticated"

        refused = login(manager, name, USER_PASSWORD)
        assert refused.status_code == 403 and refused.json()["code"] == "account_disabled"
        assert login(manager, name, "wrong passphrase here").json()["code"] == "invalid_credentials", \
            "a wrong password must not reveal that the account is disabled"

        assert admin.put(f"/api/v1/users/{user['id']}", json={"is_active": True}).status_code == 200
        assert api.get(ME).status_code == 401, "reactivation does not bring revoked sessions back"
        assert login(manager, name, USER_PASSWORD).status_code == 200


def test_demotion_takes_effect_on_the_very_next_request(manager, admin_token):
    admin_name, operator_name = unique("demoted-admin"), unique("demoted-op")
    admin_user = manager.create_user(admin_token, admin_name, "admin")
    operator_user = manager.create_user(admin_token, operator_name, "operator")
    admin_session = manager.token(admin_name, USER_PASSWORD)
    operator_session = manager.token(operator_name, USER_PASSWORD)
    with manager.api(admin_token) as root, manager.api(admin_session) as demoted, \
            manager.api(operator_session) as operator:
        assert demoted.get("/api/v1/users").status_code == 200
        assert operator.get(ME).json()["user"]["role"] == "operator"

        assert root.put(f"/api/v1/users/{admin_user['id']}", json={"role": "viewer"}).status_code == 200
        assert root.put(f"/api/v1/users/{operator_user['id']}", json={"role": "viewer"}).status_code == 200

        response = demoted.get("/api/v1/users")
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        assert operator.get(ME).json()["user"]["role"] == "viewer"
        assert demoted.get(f"/api/v1/users/{admin_user['id']}").status_code == 200, "the session itself lives on"


def test_demotion_from_operator_bites_on_an_operator_route_at_once(manager, admin_token):
    # Acknowledging an event needs operator (api.md §3.4); the event id does not exist, so an
    # operator gets 404 and anyone below gets 403 before the lookup (§1.4).
    ack = "/api/v1/events/987654321/ack"
    name = unique("op")
    user = manager.create_user(admin_token, name, "operator")
    with manager.api(manager.token(name, USER_PASSWORD)) as operator, manager.api(admin_token) as root:
        assert operator.post(ack).status_code == 404
        assert root.put(f"/api/v1/users/{user['id']}", json={"role": "viewer"}).status_code == 200
        response = operator.post(ack)
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        assert root.put(f"/api/v1/users/{user['id']}", json={"role": "operator"}).status_code == 200
        assert operator.post(ack).status_code == 404, "promotion also takes effect at once"


def test_expired_account_cannot_sign_in_and_loses_its_sessions(manager, admin_token):
    name = unique("expired")
    user = manager.create_user(admin_token, name, "viewer")
    token = manager.token(name, USER_PASSWORD)
    # The API refuses past dates on create, so the clock is moved in the database instead.
    with manager.sqlite() as db:
        db.execute("UPDATE users SET expires_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (user["id"],))
    with manager.api(token) as api:
        assert api.get(ME).status_code == 401
    response = login(manager, name, USER_PASSWORD)
    assert response.status_code == 403 and response.json()["code"] == "account_expired"
    assert login(manager, name, "wrong passphrase here").json()["code"] == "invalid_credentials"


def test_admin_setting_a_past_expiry_revokes_the_sessions(manager, admin_token):
    name = unique("expiring")
    user = manager.create_user(admin_token, name, "viewer")
    token = manager.token(name, USER_PASSWORD)
    with manager.api(admin_token) as root:
        past = root.post("/api/v1/users", json={"username": unique("past"), "password": USER_PASSWORD,
                                                "display_name": "Past", "role": "viewer",
                                                "expires_at": "2020-01-01T00:00:00Z"})
        assert past.status_code == 422, "a new account cannot start expired"
        response = root.put(f"/api/v1/users/{user['id']}", json={"expires_at": "2020-01-01T00:00:00Z"})
        assert response.status_code == 200 and response.json()["expires_at"] == "2020-01-01T00:00:00.000Z"
    with manager.sqlite() as db:
        assert db.execute("SELECT COUNT(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL",
                          (user["id"],)).fetchone() == (0,)
    with manager.api(token) as api:
        assert api.get(ME).status_code == 401
    assert login(manager, name, USER_PASSWORD).json()["code"] == "account_expired"


def test_session_lifetime_setting_applies_to_new_sessions(manager, admin_token):
    manager.put_settings(admin_token, session_lifetime_hours=2)
    try:
        response = login(manager, "admin", ADMIN_PASSWORD)
        assert response.status_code == 200
        _, attrs = cookie_attributes(response, "session")
        assert attrs["max-age"] == "7200"
        with manager.client() as client:
            client.cookies.set("session", cookie_attributes(response, "session")[0])
            session = client.get(ME).json()["session"]
        created = time.strptime(session["created_at"][:19], "%Y-%m-%dT%H:%M:%S")
        expires = time.strptime(session["expires_at"][:19], "%Y-%m-%dT%H:%M:%S")
        assert time.mktime(expires) - time.mktime(created) == 7200
    finally:
        manager.put_settings(admin_token, session_lifetime_hours=24)


# -- limits (each on a manager of its own) -----------------------------------------------------

def test_sixth_login_attempt_from_one_ip_within_a_minute_is_rate_limited(fresh_manager):
    for attempt in range(5):
        response = login(fresh_manager, f"nobody-{attempt}", "not the right passphrase")
        assert response.status_code == 401, response.text
    for username, password in ((unique("nobody"), "whatever passphrase"), ("admin", ADMIN_PASSWORD)):
        response = login(fresh_manager, username, password)
        assert response.status_code == 429, response.text
        body = response.json()
        assert body["code"] == "rate_limited"
        retry = int(response.headers["Retry-After"])
        assert 1 <= retry <= 60 and body["retry_after_secs"] == retry


def test_five_failures_lock_the_account_even_for_the_right_password(manager, admin_token):
    # The module manager's per-IP limit is raised (admin_token), so only the account lock can fire.
    victim, ghost = unique("victim"), unique("ghost")
    manager.create_user(admin_token, victim, "operator")

    for attempt in range(5):
        response = login(manager, victim, f"guess number {attempt}")
        assert response.status_code == 401, f"attempt {attempt + 1}: {response.text}"
    for password in (USER_PASSWORD, "another wrong guess"):
        response = login(manager, victim.upper(), password)  # names are locked case-insensitively
        assert response.status_code == 429, response.text
        assert response.json()["code"] == "account_locked"
        retry = int(response.headers["Retry-After"])
        assert 14 * 60 < retry <= 15 * 60 + 1 and response.json()["retry_after_secs"] == retry

    # Names that do not exist are counted the same way.
    for attempt in range(5):
        assert login(manager, ghost, f"guess {attempt}").status_code == 401
    assert login(manager, ghost, "guess again").json()["code"] == "account_locked"

    # Another account is not affected by the lock.
    assert login(manager, "admin", ADMIN_PASSWORD).status_code == 200

    failed = [r for r in audit_rows(manager, admin_token, action="auth.login_failed")
              if r["details"]["username"].lower() in (victim, ghost)]
    assert len(failed) == 10
    assert all(r["result"] == "failure" and r["ip_address"] == "127.0.0.1" for r in failed)
    lockouts = [r for r in audit_rows(manager, admin_token, action="auth.lockout")
                if r["details"]["username"] in (victim, ghost)]
    assert sorted(r["details"]["username"] for r in lockouts) == sorted([victim, ghost])
    blob = str(failed + lockouts)
    assert USER_PASSWORD not in blob and "guess number" not in blob, "attempted passwords are never audited"
