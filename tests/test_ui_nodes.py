"""The Managed Nodes page in Chromium: add a node through the UI, read the one-time token from
the enrol dialog, enrol a real simulated node with it and watch the row turn ONLINE without a
reload; delete only after typing the name; viewers get no mutating controls."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from manager_process import ADMIN_PASSWORD, REPO, USER_PASSWORD


def row(page, name):
    return page.locator("#nodes-table tbody tr", has=page.get_by_role("link", name=name, exact=True))


def test_add_node_enrol_with_the_simulator_and_see_it_go_online_live(browser_session, demo_manager, admin_token, tmp_path):
    page = browser_session.login("admin", ADMIN_PASSWORD, "/admin/nodes?add=1")
    expect(row(page, "demo-edge-01")).to_be_visible(timeout=15000)

    # ?add=1 opens the Add dialog.
    dialog = page.get_by_role("dialog", name="Add node")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Device type")).to_have_value("edge")
    dialog.get_by_label("Name", exact=True).fill("Field Edge 7")
    dialog.get_by_label("Description").fill("Truck 7 encoder rack")
    dialog.get_by_role("button", name="Add node").click()

    enrol = page.get_by_role("dialog", name="Enrol node")
    expect(enrol).to_be_visible()
    expect(enrol).to_contain_text("The registration token is shown only once")
    token = enrol.locator("[data-testid=registration-token]").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token
    url = enrol.locator("[data-testid=manager-url]").first.inner_text().strip()
    assert url == f"{demo_manager.ws_url}/ws/node", url
    # Self-signed manager: fingerprint and the node-side settings for an edge.
    expect(enrol).to_contain_text(re.compile(r"([0-9a-f]{2}:){31}[0-9a-f]{2}"))
    expect(enrol).to_contain_text('"accept_self_signed_cert": true')
    expect(enrol).to_contain_text("BILBYCAST_ALLOW_INSECURE=1")
    expect(enrol).to_contain_text(f"python manager.py simulate --token {token} --url {url} --insecure")
    browser_session.screenshot("nodes-enrol-dialog")
    # Escape does not close it: only "I have copied the token" does.
    page.keyboard.press("Escape")
    expect(enrol).to_be_visible()
    enrol.get_by_role("button", name="I have copied the token").click()
    expect(enrol).to_be_hidden()

    new_row = row(page, "Field Edge 7")
    expect(new_row).to_contain_text("Pending")
    page.evaluate("window.__sameDocument = true")

    env = {k: v for k, v in os.environ.items() if not k.startswith("BILBYCAST_")}
    env["BILBYCAST_ALLOW_INSECURE"] = "1"
    sim = subprocess.Popen(
        [sys.executable, str(REPO / "manager.py"), "simulate", "--token", token, "--url", url, "--insecure",
         "--state-file", str(tmp_path / "sim-state.json")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        expect(new_row).to_contain_text("Online", timeout=20000)
        expect(new_row).to_contain_text("0.106.0")
        expect(page.get_by_text(re.compile(r"Field Edge 7 (registered and )?is online"))).to_be_visible()
        assert page.evaluate("window.__sameDocument") is True  # no reload
        browser_session.screenshot("nodes-roster")
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
    # The node's socket closed: the row turns OFFLINE live too.
    expect(new_row).to_contain_text("Offline", timeout=15000)
    browser_session.assert_clean()


def test_rotate_secret_only_for_drivers_that_support_it(browser_session, admin_token):
    page = browser_session.login("admin", ADMIN_PASSWORD, "/admin/nodes")
    expect(row(page, "demo-edge-01")).to_be_visible(timeout=15000)
    expect(row(page, "demo-edge-01").get_by_role("button", name="Rotate secret")).to_be_enabled()
    expect(row(page, "demo-relay-01").get_by_role("button", name="Rotate secret")).to_be_visible()
    expect(row(page, "demo-appear-x-01").get_by_role("button", name="Rotate secret")).to_have_count(0)
    expect(row(page, "demo-appear-x-01").get_by_role("button", name="Token")).to_be_visible()

    # Filters narrow the table.
    page.get_by_label("Type").select_option("relay")
    expect(page.locator("#nodes-table tbody tr:visible")).to_have_count(1)
    expect(row(page, "demo-relay-01")).to_be_visible()
    page.get_by_label("Type").select_option("")
    page.get_by_label("Search nodes", exact=True).fill("edge-0")
    expect(page.locator("#nodes-table tbody tr:visible")).to_have_count(3)
    browser_session.assert_clean()


def test_regenerate_token_confirms_then_shows_a_new_token(browser_session, demo_manager, admin_token):
    with demo_manager.api(admin_token) as api:
        created = api.post("/api/v1/nodes", json={"name": "Relay spare", "device_type": "relay"})
        assert created.status_code == 201, created.text
        first_token = created.json()["registration_token"]
    page = browser_session.login("admin", ADMIN_PASSWORD, "/admin/nodes")
    target = row(page, "Relay spare")
    expect(target).to_contain_text("Pending", timeout=15000)
    target.get_by_role("button", name="Token").click()
    confirm = page.get_by_role("dialog", name="Regenerate registration token")
    expect(confirm).to_contain_text("Relay spare")
    expect(confirm).to_contain_text("current credentials stop working and it will be disconnected")
    confirm.get_by_role("button", name="Regenerate token").click()
    enrol = page.get_by_role("dialog", name="Enrol node")
    expect(enrol).to_be_visible()
    token = enrol.locator("[data-testid=registration-token]").inner_text().strip()
    assert token and token != first_token
    expect(enrol).to_contain_text("--device-type relay")
    enrol.get_by_role("button", name="I have copied the token").click()

    # Edit: the device type is fixed; a new description shows in the row.
    target.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit Relay spare")
    expect(edit.get_by_label("Device type")).to_be_disabled()
    edit.get_by_label("Description").fill("Spare relay in rack B")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit).to_be_hidden()
    expect(target).to_contain_text("Spare relay in rack B")
    browser_session.assert_clean()


def test_delete_needs_the_typed_name(browser_session, demo_manager, admin_token):
    with demo_manager.api(admin_token) as api:
        created = api.post("/api/v1/nodes", json={"name": "Scratch node", "device_type": "edge"})
        assert created.status_code == 201, created.text
        node_id = created.json()["id"]
    page = browser_session.login("admin", ADMIN_PASSWORD, "/admin/nodes")
    target = row(page, "Scratch node")
    expect(target).to_be_visible(timeout=15000)
    target.get_by_role("button", name="Delete").click()

    dialog = page.get_by_role("dialog", name="Delete node")
    expect(dialog).to_contain_text("Scratch node")
    confirm = dialog.get_by_role("button", name="Delete")
    expect(confirm).to_be_disabled()
    dialog.get_by_role("textbox").fill("Scratch")
    expect(confirm).to_be_disabled()
    dialog.get_by_role("textbox").fill("Scratch node")
    expect(confirm).to_be_enabled()
    browser_session.screenshot("nodes-delete-confirm")
    confirm.click()
    expect(target).to_have_count(0)
    expect(page.get_by_text("Deleted Scratch node")).to_be_visible()
    with demo_manager.api(admin_token) as api:
        assert api.get(f"/api/v1/nodes/{node_id}").status_code == 404
    browser_session.assert_clean()


def test_viewer_sees_the_roster_without_mutating_controls(browser_session, demo_manager, admin_token):
    demo_manager.create_user(admin_token, "roster-viewer", "viewer")
    page = browser_session.login("roster-viewer", USER_PASSWORD, "/admin/nodes")
    expect(row(page, "demo-edge-01")).to_be_visible(timeout=15000)
    expect(row(page, "demo-edge-01")).to_contain_text("Online")
    for name in ("Add Node", "Edit", "Token", "Rotate secret", "Delete"):
        expect(page.get_by_role("button", name=re.compile(name, re.I))).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Actions")).to_have_count(0)
    browser_session.screenshot("nodes-viewer")

    # The dashboard has no delete control for a viewer either.
    page.goto("/dashboard")
    expect(page.locator("article.device-card").first).to_be_visible(timeout=15000)
    expect(page.get_by_role("button", name=re.compile("Delete", re.I))).to_have_count(0)
    browser_session.assert_clean()
