"""Admin pages in Chromium: the audit log shows a sign-in and an action, the users page creates an
operator limited to one node, and a settings change saves and is still there after a reload."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect

from manager_process import ADMIN_PASSWORD, USER_PASSWORD


def sign_in(session, path, username="admin", password=ADMIN_PASSWORD):
    return session.login(username, password, path)


def nodes_by_name(demo_manager, token):
    with demo_manager.api(token) as api:
        return {n["name"]: n for n in api.get("/api/v1/nodes").json()}


def test_audit_log_shows_the_sign_in_and_the_action(browser_session, demo_manager, admin_token):
    page = sign_in(browser_session, "/admin/audit-log")
    expect(page.get_by_role("heading", name="Audit Log")).to_be_visible()
    table = page.get_by_role("table", name="Audit log")
    expect(table.locator("tr[data-action='auth.login']").first).to_be_visible()
    expect(table.locator("tr[data-action='auth.login']").first).to_contain_text("admin")

    # An action: acknowledge an event through the API, then filter the log by its action prefix.
    with demo_manager.api(admin_token) as api:
        event = api.get("/api/v1/events", params={"per_page": 1}).json()["items"][0]
        assert api.post(f"/api/v1/events/{event['id']}/ack").status_code == 200
    page.get_by_label("Action prefix").fill("event.")
    page.get_by_role("button", name="Apply").click()
    row = table.locator("tr[data-action='event.ack']").first
    expect(row).to_be_visible()
    expect(row).to_contain_text("admin")
    expect(row).to_contain_text("✓")
    assert table.locator("tbody tr[data-action]").evaluate_all("rows => rows.every(r => r.dataset.action.startsWith('event.'))")
    assert "action=event." in page.url

    # Reset brings back everything; details expand on click.
    page.get_by_role("button", name="Reset").click()
    login_row = table.locator("tr[data-action='auth.login']").first
    expect(login_row).to_be_visible()
    login_row.locator(".audit-details").click()
    expect(page.locator("tr.event-details:visible pre")).to_contain_text("session_id")
    expect(page.locator("th").first).to_contain_text("Time")
    browser_session.screenshot("admin-audit-log")
    browser_session.assert_clean()


def test_users_page_creates_an_operator_with_an_allowlist(browser_session, demo_manager, admin_token):
    nodes = nodes_by_name(demo_manager, admin_token)
    page = sign_in(browser_session, "/admin/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    expect(page.locator("tr[data-username='admin']")).to_contain_text("Super admin")

    page.get_by_role("button", name="+ Add User").click()
    dialog = page.get_by_role("dialog", name="Add user")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Username").fill("fieldeng")
    dialog.get_by_label("Display name").fill("Field Engineer")
    dialog.get_by_label("Email").fill("fe@example.com")
    dialog.get_by_label("Role").select_option("operator")
    dialog.get_by_label("All nodes").uncheck()
    dialog.get_by_label("Search nodes").fill("edge-02")
    dialog.locator("label", has_text="demo-edge-02").locator("input").check()
    dialog.get_by_label("Password").fill(USER_PASSWORD)
    expect(dialog).to_contain_text("1 node selected")
    browser_session.screenshot("admin-users-form")
    dialog.get_by_role("button", name="Create user").click()
    expect(dialog).to_be_hidden()

    row = page.locator("tr[data-username='fieldeng']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Field Engineer")
    expect(row).to_contain_text("Operator")
    expect(row).to_contain_text("1 node")
    expect(row).to_contain_text("Active")
    with demo_manager.api(admin_token) as api:
        created = next(u for u in api.get("/api/v1/users").json() if u["username"] == "fieldeng")
    assert created["role"] == "operator"
    assert created["allowed_node_ids"] == [nodes["demo-edge-02"]["id"]]
    browser_session.screenshot("admin-users")
    browser_session.assert_clean()


def test_admin_cannot_manage_super_admins(browser_session, demo_manager, admin_token):
    demo_manager.create_user(admin_token, "shiftlead", "admin")
    page = sign_in(browser_session, "/admin/users", "shiftlead", USER_PASSWORD)
    super_row = page.locator("tr[data-username='admin']")
    expect(super_row).to_contain_text("Super admins only")
    expect(super_row.get_by_role("button")).to_have_count(0)
    page.get_by_role("button", name="+ Add User").click()
    role = page.get_by_role("dialog", name="Add user").get_by_label("Role")
    options = role.locator("option").evaluate_all("opts => opts.map(o => o.value)")
    assert options == ["viewer", "operator", "admin"]
    browser_session.assert_clean()


def test_settings_change_saves_and_shows_after_a_reload(browser_session, demo_manager, admin_token):
    page = sign_in(browser_session, "/admin/settings")
    card = page.locator("#settings-retention")
    field = card.get_by_label("Events")
    expect(field).to_have_value("90")
    expect(card).to_contain_text("Range 1–3,650 days")
    field.fill("120")
    card.get_by_role("button", name="Save").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("120 days")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator(".toast", has_text="Data retention settings saved")).to_be_visible()
    with demo_manager.api(admin_token) as api:
        assert api.get("/api/v1/settings").json()["settings"]["events_retention_days"] == 120

    # Out of range: the field says so and nothing is sent.
    field.fill("5000")
    card.get_by_role("button", name="Save").click()
    expect(card.locator(".field-error:visible")).to_contain_text("At most 3,650")
    expect(page.get_by_role("dialog")).to_have_count(0)

    page.reload()
    expect(page.locator("#settings-retention").get_by_label("Events")).to_have_value("120")
    tls = page.locator("#tls")
    expect(tls).to_contain_text("Self-signed")
    with demo_manager.api(admin_token) as api:
        fingerprint = api.get("/api/v1/settings/tls").json()["fingerprint_sha256"]
    expect(tls.locator("#tls-fingerprint")).to_have_text(fingerprint)
    browser_session.screenshot("admin-settings")
    browser_session.assert_clean()
