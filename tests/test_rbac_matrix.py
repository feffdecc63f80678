"""Every route and method of the route table, called by every role (api.md §3.4, §4).

The route table is imported here only to enumerate what to call; every answer comes from a real
manager over HTTPS with Bearer tokens, so a route added later is covered without editing this
file. Path parameters get random ids: a caller allowed past the role check may then see 404, 405
or 422, but never 401 or 403.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from bilbycast.routes import build_routes
from bilbycast.services.rbac import OWN, PUBLIC, ROLE_LEVEL, ROLES
from manager_process import ADMIN_PASSWORD, USER_PASSWORD

ROUTES = build_routes()
OPERATIONS = [(route, method) for route in ROUTES for method in sorted(route.rules)]
CALLERS = (None, *ROLES)  # None = anonymous

# Plausible values for path parameters that are not ids; everything else gets a random UUID.
PARAM_VALUES = {"flow_id": "flow-1", "input_id": "input-1", "output_id": "output-1", "provider": "openai",
                "key": "theme"}


def concrete_path(template: str) -> str:
    path = template
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        name = path[start + 1:end]
        path = path[:start] + PARAM_VALUES.get(name, str(uuid.uuid4())) + path[end + 1:]
    return path


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


CREDENTIALS = {"viewer": ("matrix-viewer", USER_PASSWORD), "operator": ("matrix-operator", USER_PASSWORD),
               "admin": ("matrix-admin", USER_PASSWORD), "super_admin": ("admin", ADMIN_PASSWORD)}


@pytest.fixture(scope="module")
def tokens(manager) -> dict[str, str]:
    root = manager.token()
    manager.relax_login_limits(root)
    out = {"super_admin": root}
    for role in ("viewer", "operator", "admin"):
        manager.create_user(root, CREDENTIALS[role][0], role)
        out[role] = manager.token(*CREDENTIALS[role])
    return out


def call(manager, token: str | None, route, method: str):
    path = concrete_path(route.template)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    with manager.client(headers=headers) as client:
        return client.request(method, path, follow_redirects=False, **body), path


def expectation_failures(manager, caller: str | None, token: str | None) -> list[str]:
    """Call every operation as `caller`; return one line per answer that breaks the rule."""
    failures = []
    for route, method in OPERATIONS:
        if route.kind == "ws":
            continue  # WebSocket upgrades are checked by the dashboard WebSocket tests
        if route.template == "/api/v1/auth/logout" and caller:
            # Logout ends the session it is called with: spend a session of its own on it.
            failures += check_one(manager, caller, manager.token(*CREDENTIALS[caller]), route, method)
            continue
        failures += check_one(manager, caller, token, route, method)
    return failures


def check_one(manager, caller, token, route, method) -> list[str]:
    rule = route.rules[method]
    response, path = call(manager, token, route, method)
    status = response.status_code
    where = f"{caller or 'anonymous'} {method} {path} -> {status} {response.text[:120]!r}"
    if rule.min_role == PUBLIC:
        allowed = True
    elif caller is None:
        allowed = False
    elif rule.min_role == OWN:
        allowed = True
    else:
        allowed = ROLE_LEVEL[caller] >= ROLE_LEVEL[rule.min_role]

    if allowed:
        return [f"expected access: {where}"] if status in (401, 403) else []
    if route.kind == "page":
        if caller is None:
            location = response.headers.get("location", "")
            parts = urlsplit(location)
            if status != 307 or parts.path != "/login" or parse_qs(parts.query).get("next") != [path]:
                return [f"expected 307 to /login?next=…: {where} location={location!r}"]
            return []
        if status != 403 or not response.headers.get("content-type", "").startswith("text/html"):
            return [f"expected a 403 HTML page: {where}"]
        return []
    expected = (401, "unauthenticated") if caller is None else (403, "forbidden")
    try:
        code = response.json().get("code")
    except ValueError:
        code = None
    return [] if (status, code) == expected else [f"expected {expected}: {where}"]


def test_the_route_table_is_not_empty_and_has_the_core_routes():
    found = {(route.template, method) for route, method in OPERATIONS}
    for needed in [("/api/v1/auth/login", "POST"), ("/api/v1/users", "POST"), ("/api/v1/users/{id}", "DELETE"),
                   ("/api/v1/settings", "PUT"), ("/api/v1/audit-log", "GET"), ("/admin/users", "GET")]:
        assert needed in found


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c or "anonymous")
def test_every_route_answers_each_role_as_the_permission_table_says(manager, tokens, caller):
    failures = expectation_failures(manager, caller, tokens.get(caller) if caller else None)
    assert not failures, "\n".join(failures)


# -- the rules behind footnote 1 and §4 -------------------------------------------------------

@pytest.fixture(scope="module")
def admin_api(manager, tokens):
    with manager.api(tokens["admin"]) as api:
        yield api


@pytest.fixture(scope="module")
def root_api(manager, tokens):
    with manager.api(tokens["super_admin"]) as api:
        yield api


def user_body(role: str, **extra) -> dict:
    return {"username": unique(role), "password": USER_PASSWORD, "display_name": "Probe", "role": role, **extra}


def test_viewer_page_for_admins_only_is_a_403_html_page(manager, tokens):
    browser = manager.login("matrix-viewer", USER_PASSWORD)
    try:
        response = browser.get("/admin/users", follow_redirects=False)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert browser.get("/dashboard").status_code == 200
    finally:
        browser.client.close()


def test_admin_cannot_create_a_super_admin(manager, root_api, admin_api):
    body = user_body("super_admin")
    response = admin_api.post("/api/v1/users", json=body)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert body["username"] not in [u["username"] for u in root_api.get("/api/v1/users").json()]


def test_admin_cannot_promote_to_or_touch_a_super_admin(manager, root_api, admin_api):
    plain = root_api.post("/api/v1/users", json=user_body("operator")).json()
    response = admin_api.put(f"/api/v1/users/{plain['id']}", json={"role": "super_admin"})
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert root_api.get(f"/api/v1/users/{plain['id']}").json()["role"] == "operator"

    other_root = root_api.post("/api/v1/users", json=user_body("super_admin")).json()
    for method, kwargs in (("PUT", {"json": {"display_name": "Renamed"}}), ("DELETE", {})):
        response = admin_api.request(method, f"/api/v1/users/{other_root['id']}", **kwargs)
        assert response.status_code == 403 and response.json()["code"] == "forbidden", response.text
    assert root_api.get(f"/api/v1/users/{other_root['id']}").json()["display_name"] == "Probe"
    assert root_api.delete(f"/api/v1/users/{other_root['id']}").status_code == 204


def test_nobody_changes_their_own_role_or_deletes_themselves(manager, tokens, admin_api):
    me = admin_api.get("/api/v1/auth/me").json()["user"]
    response = admin_api.delete(f"/api/v1/users/{me['id']}")
    assert response.status_code == 422 and response.json()["code"] == "self_modification"
    for change in ({"role": "viewer"}, {"is_active": False}, {"allowed_node_ids": []}):
        response = admin_api.put(f"/api/v1/users/{me['id']}", json=change)
        assert response.status_code == 422 and response.json()["code"] == "self_modification", change
    assert admin_api.get("/api/v1/auth/me").json()["user"]["role"] == "admin"
    assert admin_api.put(f"/api/v1/users/{me['id']}", json={"display_name": "Still Admin"}).status_code == 200


def test_the_last_super_admin_cannot_be_demoted_deactivated_or_deleted(manager, root_api):
    me = root_api.get("/api/v1/auth/me").json()["user"]
    supers = [u for u in root_api.get("/api/v1/users").json() if u["role"] == "super_admin" and u["is_active"]]
    assert [u["id"] for u in supers] == [me["id"]], "this test needs the setup admin to be the only super_admin"
    for method, kwargs in (("PUT", {"json": {"role": "admin"}}), ("PUT", {"json": {"is_active": False}}),
                           ("DELETE", {})):
        response = root_api.request(method, f"/api/v1/users/{me['id']}", **kwargs)
        assert response.status_code == 409 and response.json()["code"] == "last_super_admin", response.text
    assert root_api.get("/api/v1/auth/me").json()["user"]["role"] == "super_admin"

    # With a second super_admin, one may demote the other; then the survivor is the last again.
    second = root_api.post("/api/v1/users", json=user_body("super_admin")).json()
    response = root_api.put(f"/api/v1/users/{second['id']}", json={"role": "admin"})
    assert response.status_code == 200 and response.json()["role"] == "admin"
    response = root_api.put(f"/api/v1/users/{me['id']}", json={"role": "admin"})
    assert response.status_code == 409 and response.json()["code"] == "last_super_admin"


def test_viewer_reads_their_own_user_but_not_anothers(manager, tokens):
    with manager.api(tokens["viewer"]) as viewer, manager.api(tokens["operator"]) as operator:
        me = viewer.get("/api/v1/auth/me").json()["user"]
        other = operator.get("/api/v1/auth/me").json()["user"]
        response = viewer.get(f"/api/v1/users/{me['id']}")
        assert response.status_code == 200 and response.json()["username"] == "matrix-viewer"
        response = viewer.get(f"/api/v1/users/{other['id']}")
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
        assert viewer.get("/api/v1/users").status_code == 403


def test_deleting_a_user_keeps_their_audit_rows_readable(manager, root_api):
    doomed = user_body("operator")
    created = root_api.post("/api/v1/users", json=doomed).json()
    manager.token(doomed["username"], USER_PASSWORD)  # writes auth.login as that user
    assert root_api.delete(f"/api/v1/users/{created['id']}").status_code == 204
    assert root_api.get(f"/api/v1/users/{created['id']}").status_code == 404

    rows = root_api.get("/api/v1/audit-log", params={"user": doomed["username"]}).json()["items"]
    logins = [r for r in rows if r["action"] == "auth.login"]
    assert logins and logins[0]["username"] == doomed["username"] and logins[0]["user_id"] == created["id"]
    deletes = root_api.get("/api/v1/audit-log", params={"action": "user.delete", "target_id": created["id"]}).json()
    assert deletes["total"] == 1 and deletes["items"][0]["details"]["username"] == doomed["username"]
