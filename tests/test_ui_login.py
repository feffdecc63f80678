"""A person signs in through the real login page in Chromium and reaches the dashboard."""

from __future__ import annotations

from manager_process import ADMIN_PASSWORD


def test_sign_in_reaches_the_dashboard_with_name_and_role(browser_session):
    page = browser_session.login("admin", ADMIN_PASSWORD)
    page.wait_for_selector("text=Administrator")  # the user chip: display name and role
    body = page.inner_text("body")
    assert "Dashboard" in body
    assert "super admin" in body.lower().replace("_", " ")
    browser_session.screenshot("dashboard-after-login")
    browser_session.assert_clean()


def test_wrong_password_shows_the_inline_error(browser_session):
    page = browser_session.goto("/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "Invalid username or password" in page.inner_text("#login-error")
    browser_session.screenshot("login-wrong-password")
