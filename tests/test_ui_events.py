"""Events & Alarms in Chromium against the demo fleet: the list, filters, acknowledging (the header
bell drops), live arrival of a new event without a reload, and what a viewer may (not) do."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from hub_helpers import api_client, new_registered, run, wait_event
from manager_process import ADMIN_PASSWORD, USER_PASSWORD

ALARM_TEXT = "ui-test: SRT input lost on the truck uplink"


def sign_in(session, username="admin", password=ADMIN_PASSWORD, path="/events"):
    return session.login(username, password, path)


@pytest.fixture(scope="module")
def alarm(demo_manager, admin_token):
    """A node of our own that raises a warning with an error code (an unacknowledged alarm)."""
    async def scenario():
        async with api_client(demo_manager, admin_token) as api:
            node, peer = await new_registered(demo_manager, api, name="ui-alarm-edge")
            await peer.send_event(severity="warning", category="srt", message=ALARM_TEXT,
                                  details={"error_code": "srt_peer_timeout", "peer": "192.0.2.77:6001"})
            event = await wait_event(api, node["id"], lambda e: e["message"] == ALARM_TEXT)
            await peer.close()
            return node, event
    # Playwright's sync API owns this thread's event loop, so the node runs in a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run, scenario()).result()


def node_id(demo_manager, token, name):
    with demo_manager.api(token) as api:
        return next(n["id"] for n in api.get("/api/v1/nodes").json() if n["name"] == name)


def bell_count(page) -> int:
    badge = page.locator("#alarm-count")
    if badge.is_hidden():
        return 0
    text = badge.inner_text().strip()
    return 99 if text == "99+" else int(text or 0)


def test_events_filter_and_acknowledge_drops_the_bell(browser_session, demo_manager, admin_token, alarm):
    page = sign_in(browser_session)
    expect(page.get_by_role("heading", name="Events & Alarms")).to_be_visible()
    expect(page.locator("tr.event-row").first).to_be_visible()
    expect(page.locator(".page-subtitle")).to_contain_text("events")

    # Filter to warnings: every listed row is a warning, and our alarm with its error-code chip is there.
    page.get_by_label("Severity").select_option("warning")
    row = page.locator("tr.event-row", has_text=ALARM_TEXT)
    expect(row).to_be_visible()
    expect(row.locator(".chip-code")).to_have_text("srt_peer_timeout")
    severities = page.locator("tr.event-row").evaluate_all("rows => rows.map(r => r.dataset.severity)")
    assert severities and set(severities) == {"warning"}
    assert "severity=warning" in page.url

    # The details expand as JSON when the message is clicked.
    row.locator(".event-message").click()
    expect(page.locator("tr.event-details:visible pre")).to_contain_text("192.0.2.77:6001")
    browser_session.screenshot("events")

    # Acknowledge it: the row says who acked, and the header bell drops by one.
    expect(page.locator("#alarm-count")).to_be_visible()
    started = datetime.now(timezone.utc).isoformat()
    before = bell_count(page)
    assert before >= 1
    row.get_by_role("button", name="Acknowledge").click()
    expect(row).to_contain_text("Acked by admin")

    def fresh_alarms():
        # Demo nodes may raise an alarm of their own meanwhile; those are counted in.
        with demo_manager.api(admin_token) as api:
            return api.get("/api/v1/events", params={"severity": "warning,critical", "acknowledged": "false",
                                                     "from": started, "per_page": 1}).json()["total"]

    deadline = time.monotonic() + 10
    while True:
        now, fresh = bell_count(page), fresh_alarms()
        if now == before - 1 + fresh or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    assert now == before - 1 + fresh, f"bell shows {now}, expected {before} - 1 + {fresh} new"
    with demo_manager.api(admin_token) as api:
        event = api.get("/api/v1/events", params={"search": ALARM_TEXT}).json()["items"][0]
    assert event["acknowledged"] is True and event["acknowledged_by_name"] == "admin"
    browser_session.assert_clean()


def test_a_new_event_arrives_live_without_a_reload(browser_session, demo_manager, admin_token):
    page = sign_in(browser_session)
    expect(page.locator("tr.event-row").first).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    edge = node_id(demo_manager, admin_token, "demo-edge-02")
    stopped = page.locator("tr.event-row", has_text="Flow 'Main Program' stopped").filter(has_text="demo-edge-02")
    already = stopped.count()
    with demo_manager.api(admin_token) as api:
        response = api.post(f"/api/v1/nodes/{edge}/flows/flow-1/stop")
        assert response.status_code == 200, response.text
    try:
        expect(stopped).to_have_count(already + 1, timeout=10000)
        # It arrived through the socket: the page was not reloaded.
        assert page.evaluate("window.__sameDocument === true")
        # Newest first; the demo fleet keeps emitting, so another event may already sit above it.
        newest = " ".join(page.locator("tr.event-row").nth(i).inner_text() for i in range(5))
        assert "Flow 'Main Program' stopped" in newest
        browser_session.screenshot("events-live")
    finally:
        with demo_manager.api(admin_token) as api:
            api.post(f"/api/v1/nodes/{edge}/flows/flow-1/start")
    browser_session.assert_clean()


def test_viewer_sees_no_acknowledge_and_is_not_permitted_on_users(browser_session, demo_manager, admin_token, alarm):
    demo_manager.create_user(admin_token, "nightviewer", "viewer")
    page = sign_in(browser_session, "nightviewer", USER_PASSWORD)
    expect(page.locator("tr.event-row", has_text=ALARM_TEXT)).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Acknowledge all matching")).to_have_count(0)
    expect(page.locator("tr.event-row input[type=checkbox]")).to_have_count(0)
    # The bell panel offers no Acknowledge either.
    page.click("#alarm-bell")
    expect(page.locator("#alarm-panel")).to_be_visible()
    expect(page.locator("#alarm-list li").first).to_be_visible()  # the peer's disconnect alarm at least
    expect(page.locator("#alarm-panel").get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)
    browser_session.screenshot("events-viewer")
    browser_session.assert_clean()

    response = page.goto("/admin/users")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not permitted")).to_be_visible()
    browser_session.screenshot("admin-users-viewer-not-permitted")
    # The 403 document itself is what this step expects; anything else must still be clean.
    browser_session.problems = [p for p in browser_session.problems if "status of 403" not in p]
    browser_session.assert_clean()
