"""The dashboard in Chromium against a live simulated fleet (`serve --demo 5`): stat tiles, one
driver-aware card per node, values that change without a reload, and "Hide offline nodes"
remembered across reloads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from manager_process import ADMIN_PASSWORD

DEMO_NODES = ["demo-edge-01", "demo-edge-02", "demo-edge-03", "demo-relay-01", "demo-appear-x-01"]


def card(page, name):
    return page.locator("article.device-card", has=page.get_by_role("link", name=name, exact=True))


def test_cards_show_every_node_and_values_change_live(browser_session, admin_token):
    page = browser_session.login("admin", ADMIN_PASSWORD, "/dashboard")
    for name in DEMO_NODES:
        expect(card(page, name)).to_be_visible(timeout=15000)
    expect(page.locator("article.device-card")).to_have_count(len(DEMO_NODES))

    summary = page.get_by_role("region", name="Summary")
    expect(summary).to_contain_text("TOTAL NODES5", ignore_case=True, timeout=10000)
    expect(summary).to_contain_text("ONLINE5", ignore_case=True)

    # Driver-aware metrics: edges show flows, bitrate and CPU/RAM; the relay tunnels and edges;
    # the gateway its SIDECAR and TARGET statuses.
    edge = card(page, "demo-edge-01")
    expect(edge).to_contain_text("Flows")
    expect(edge).to_contain_text(re.compile(r"\d+\.\d\d [kMG]?bps"))
    expect(edge).to_contain_text("CPU")
    expect(edge).to_contain_text("RAM")
    expect(edge).to_contain_text("Online")
    relay = card(page, "demo-relay-01")
    expect(relay).to_contain_text("Tunnels")
    expect(relay).to_contain_text(re.compile(r"\d+ edges?"))
    expect(relay).to_contain_text("Throughput")
    gateway = card(page, "demo-appear-x-01")
    expect(gateway).to_contain_text("Sidecar")
    expect(gateway).to_contain_text("Target")
    expect(gateway).to_contain_text(re.compile(r"Reachable|Unreachable|Unknown"))

    # Live: the busiest edge's bitrate text changes within 3 s, without a reload.
    busiest = max(("demo-edge-01", "demo-edge-02", "demo-edge-03"),
                  key=lambda n: _mbps(card(page, n).locator("[data-metric=bitrate]").inner_text()))
    bitrate = card(page, busiest).locator("[data-metric=bitrate]")
    before = bitrate.inner_text()
    page.evaluate("window.__sameDocument = true")
    expect(bitrate).not_to_have_text(before, timeout=3000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened

    browser_session.screenshot("dashboard")
    browser_session.assert_clean()

    # A card opens the node's page (checked before leaving: that page is tested on its own).
    card(page, "demo-edge-01").click()
    page.wait_for_url(re.compile(r"/nodes/[0-9a-f-]{36}$"))


def test_hide_offline_hides_pending_and_offline_nodes_and_is_remembered(browser_session, demo_manager, admin_token):
    with demo_manager.api(admin_token) as api:
        created = api.post("/api/v1/nodes", json={"name": "Spare encoder", "device_type": "edge"})
        assert created.status_code == 201, created.text
        node_id = created.json()["id"]
    try:
        page = browser_session.login("admin", ADMIN_PASSWORD, "/dashboard")
        spare = card(page, "Spare encoder")
        expect(spare).to_be_visible(timeout=15000)
        expect(spare).to_contain_text("Waiting for first connection")
        expect(page.get_by_role("region", name="Summary")).to_contain_text("+1 pending")

        toggle = page.get_by_label("Hide offline nodes")
        expect(toggle).not_to_be_checked()
        toggle.check()
        expect(spare).to_be_hidden()
        expect(page.get_by_text("1 offline or pending node hidden")).to_be_visible()
        expect(card(page, "demo-edge-01")).to_be_visible()
        browser_session.screenshot("dashboard-hide-offline")

        with demo_manager.api(admin_token) as api:
            _wait_for(lambda: api.get("/api/v1/preferences").json().get("dashboard_hide_offline") is True)

        page.reload()
        expect(card(page, "demo-edge-01")).to_be_visible(timeout=15000)
        expect(page.get_by_label("Hide offline nodes")).to_be_checked()
        expect(card(page, "Spare encoder")).to_be_hidden()

        page.get_by_label("Hide offline nodes").uncheck()
        expect(card(page, "Spare encoder")).to_be_visible()
        with demo_manager.api(admin_token) as api:
            _wait_for(lambda: api.get("/api/v1/preferences").json().get("dashboard_hide_offline") is False)
        browser_session.assert_clean()
    finally:
        with demo_manager.api(admin_token) as api:
            api.delete(f"/api/v1/nodes/{node_id}")


def test_active_alarms_tile_links_to_unacknowledged_events(browser_session, admin_token):
    page = browser_session.login("admin", ADMIN_PASSWORD, "/dashboard")
    tile = page.get_by_role("link", name=re.compile("Active alarms"))
    expect(tile).to_be_visible(timeout=15000)
    expect(tile).to_contain_text(re.compile(r"\d+"))
    expect(tile).to_have_attribute("href", "/events?acknowledged=false")
    browser_session.assert_clean()


def _mbps(text: str) -> float:
    match = re.match(r"([\d.]+) ([kMG]?)bps", text.strip())
    if not match:
        return -1.0
    return float(match.group(1)) * {"": 1e-6, "k": 1e-3, "M": 1.0, "G": 1e3}[match.group(2)]


def _wait_for(condition, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
