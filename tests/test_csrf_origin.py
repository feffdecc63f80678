"""CSRF double-submit and the Origin / Sec-Fetch-Site checks (api.md §2.2), on a real manager.

Every refused write is followed by a look at the database's view (through the API) to prove the
action really did not happen.
"""

from __future__ import annotations

import uuid

import pytest

from manager_process import ADMIN_PASSWORD, USER_PASSWORD

LOGIN = "/api/v1/auth/login"


@pytest.fixture(scope="module")
def admin_token(manager) -> str:
    token = manager.token()
    manager.relax_login_limits(token)
    return token


@pytest.fixture(scope="module")
def browser(manager, admin_token):
    """A signed-in browser: session cookie + csrf_token cookie + the token from the login body."""
    signed_in = manager.login()
    yield signed_in
    signed_in.client.close()


def new_user_body() -> dict:
    return {"username": f"csrf-{uuid.uuid4().hex[:8]}", "password": USER_PASSWORD,
            "display_name": "CSRF probe", "role": "viewer"}


def user_exists(manager, admin_token, username: str) -> bool:
    with manager.api(admin_token) as api:
        return any(u["username"] == username for u in api.get("/api/v1/users").json())


def assert_refused(response, code: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == code, response.text


# -- the double-submit token -------------------------------------------------------------------

def test_cookie_post_without_csrf_header_is_refused_and_does_nothing(manager, admin_token, browser):
    body = new_user_body()
    response = browser.client.post("/api/v1/users", json=body)  # the raw client sends no X-CSRF-Token
    assert_refused(response, "csrf_failed")
    assert not user_exists(manager, admin_token, body["username"])


@pytest.mark.parametrize("method,path", [("PUT", "/api/v1/settings"), ("DELETE", "/api/v1/users/{self}"),
                                         ("POST", "/api/v1/auth/logout")])
def test_every_mutating_method_needs_the_csrf_header(browser, method, path):
    path = path.replace("{self}", browser.user["id"])
    response = browser.client.request(method, path, json={"settings": {}} if method == "PUT" else None)
    assert_refused(response, "csrf_failed")
    assert browser.get("/api/v1/auth/me").status_code == 200, "the refused logout must not end the session"


def test_csrf_header_that_differs_from_the_cookie_is_refused(manager, admin_token, browser):
    body = new_user_body()
    wrong = "0" * 31 + "1"
    response = browser.post("/api/v1/users", json=body, headers={"X-CSRF-Token": wrong})
    assert_refused(response, "csrf_failed")
    assert not user_exists(manager, admin_token, body["username"])


def test_matching_header_and_cookie_that_are_not_the_sessions_token_are_refused(manager, admin_token, browser):
    # An attacker who can plant a cookie picks both values; the token stored with the session decides.
    planted = "ab" * 16
    session = browser.client.cookies.get("session")
    with manager.client() as client:
        response = client.post("/api/v1/users", json=new_user_body(),
                               headers={"Cookie": f"session={session}; csrf_token={planted}",
                                        "X-CSRF-Token": planted})
    assert_refused(response, "csrf_failed")


def test_csrf_header_without_the_csrf_cookie_is_refused(manager, browser):
    session = browser.client.cookies.get("session")
    with manager.client() as client:
        response = client.post("/api/v1/users", json=new_user_body(),
                               headers={"Cookie": f"session={session}", "X-CSRF-Token": browser.csrf})
    assert_refused(response, "csrf_failed")


def test_cookie_write_with_the_right_token_and_no_origin_headers_succeeds(manager, admin_token, browser):
    body = new_user_body()
    response = browser.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.text
    assert user_exists(manager, admin_token, body["username"])


def test_safe_methods_need_no_csrf_token(browser):
    assert browser.client.get("/api/v1/auth/me").status_code == 200


# -- cross-site requests -----------------------------------------------------------------------

@pytest.mark.parametrize("origin", ["https://evil.example", "https://127.0.0.1:1", "http://127.0.0.1:{port}",
                                    "null", "https://127.0.0.1.evil.example:{port}"])
def test_foreign_origin_is_refused_even_with_a_valid_csrf_token(manager, admin_token, browser, origin):
    body = new_user_body()
    response = browser.post("/api/v1/users", json=body, headers={"Origin": origin.format(port=manager.port)})
    assert_refused(response, "cross_site_request")
    assert not user_exists(manager, admin_token, body["username"])


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_sec_fetch_site_cross_or_same_site_is_refused(manager, admin_token, browser, site):
    body = new_user_body()
    response = browser.post("/api/v1/users", json=body, headers={"Sec-Fetch-Site": site})
    assert_refused(response, "cross_site_request")
    assert not user_exists(manager, admin_token, body["username"])


def test_same_origin_headers_pass(manager, browser):
    headers = {"Origin": manager.base_url, "Sec-Fetch-Site": "same-origin"}
    response = browser.post("/api/v1/users", json=new_user_body(), headers=headers)
    assert response.status_code == 201, response.text


# -- bearer tokens and login ---------------------------------------------------------------------

def test_bearer_requests_need_no_csrf_and_skip_the_origin_check(manager, admin_token):
    body = new_user_body()
    with manager.api(admin_token) as api:
        response = api.post("/api/v1/users", json=body,
                            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 201, response.text


def test_with_an_authorization_header_cookies_are_ignored(manager, browser):
    # A bad bearer token must not fall back to the (valid) session cookie.
    session = browser.client.cookies.get("session")
    with manager.client() as client:
        response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token",
                                                           "Cookie": f"session={session}"})
    assert response.status_code == 401


def test_login_from_a_foreign_origin_is_refused_and_sets_no_cookie(manager, admin_token):
    with manager.client() as client:
        response = client.post(LOGIN, json={"username": "admin", "password": ADMIN_PASSWORD},
                               headers={"Origin": "https://evil.example"})
        assert_refused(response, "cross_site_request")
        assert "set-cookie" not in response.headers
        response = client.post(LOGIN, json={"username": "admin", "password": ADMIN_PASSWORD},
                               headers={"Sec-Fetch-Site": "cross-site"})
        assert_refused(response, "cross_site_request")
        response = client.post(LOGIN, json={"username": "admin", "password": ADMIN_PASSWORD},
                               headers={"Origin": manager.base_url})
        assert response.status_code == 200, response.text
