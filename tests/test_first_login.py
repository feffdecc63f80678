"""A generated first-run password must be replaced before the account can do anything else."""

from __future__ import annotations

import re

from browser import BrowserSession


def _generated_password(manager) -> str:
    result = manager.cli("setup", input_text="")
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"password \(shown once[^)]*\): (\S+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def test_api_refuses_everything_but_a_password_change_until_it_is_changed(unstarted_manager):
    password = _generated_password(unstarted_manager)
    manager = unstarted_manager.start()
    browser = manager.login("admin", password)
    assert browser.user["must_change_password"] is True
    refused = browser.get("/api/v1/nodes")
    assert refused.status_code == 403 and "password" in refused.json()["error"].lower()
    assert browser.get("/api/v1/auth/me").status_code == 200
    changed = browser.post("/api/v1/auth/password",
                           json={"current_password": password, "new_password": "my own long passphrase"})
    assert changed.status_code == 200, changed.text
    assert browser.get("/api/v1/nodes").status_code == 200
    assert browser.get("/api/v1/auth/me").json()["user"]["must_change_password"] is False


def test_the_dashboard_sends_a_first_login_to_the_account_page(unstarted_manager, chromium):
    password = _generated_password(unstarted_manager)
    manager = unstarted_manager.start()
    session = BrowserSession(chromium, manager.base_url)
    try:
        page = session.login("admin", password, next_path="/dashboard")
        page.wait_for_url(re.compile(r"/account"))
        page.wait_for_selector("#must-change-password")
        session.screenshot("first-login-account")
    finally:
        session.close()
