"""Node detail page (/nodes/{id}) in Chromium against the simulated demo fleet: an edge's flows
with live bitrates and history charts, the relay and appear_x variants, stopping and starting a
flow, and a viewer who gets no mutating controls."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from manager_process import ADMIN_PASSWORD, USER_PASSWORD


@pytest.fixture(scope="module")
def fleet(demo_manager):
    token = demo_manager.token()
    demo_manager.relax_login_limits(token)
    demo_manager.create_user(token, "otto", "operator")
    demo_manager.create_user(token, "vic", "viewer")
    with demo_manager.api(token) as api:
        deadline = time.monotonic() + 30
        while True:
            nodes = {n["name"]: n for n in api.get("/api/v1/nodes").json()}
            stats_ok = "demo-edge-01" in nodes and (api.get(f"/api/v1/nodes/{nodes['demo-edge-01']['id']}/stats").json().get("stats") or {}).get("flows")
            if len(nodes) >= 5 and all(n["status"] == "online" for n in nodes.values()) and stats_ok:
                break
            assert time.monotonic() < deadline, "demo fleet did not come online"
            time.sleep(0.5)
    return {"token": token, "nodes": nodes}


def test_edge_detail_shows_flows_with_live_bitrates_and_a_chart(browser_session, fleet):
    edge = fleet["nodes"]["demo-edge-01"]
    page = browser_session.login("admin", ADMIN_PASSWORD, f"/nodes/{edge['id']}")
    expect(page.get_by_role("heading", name="demo-edge-01", exact=True)).to_be_visible()
    cards = page.locator("article[data-flow-id]")
    expect(cards).to_have_count(2)
    first = cards.first
    expect(first.locator(".tag", has_text=re.compile("^Running$", re.I))).to_be_visible()
    bitrate = first.locator('[data-stat="input-bitrate"]')
    expect(bitrate).to_have_text(re.compile(r"^\d+\.\d\d [kMG]?bps$"), timeout=5000)
    before = bitrate.inner_text()
    expect(bitrate).not_to_have_text(before, timeout=3000)  # live, from node_stats at 1 Hz
    # Fan-out wires carry the live per-leg bitrates too.
    expect(first.locator("svg.nd-fanout text.nd-t-rate").first).to_have_text(re.compile(r"bps$"))
    # History chart: uPlot draws on a canvas with a real size.
    canvas = first.locator(".nd-chart canvas").first
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100
    # Stat cards, resources and interfaces from the health report.
    for label in ("Status", "Version", "Uptime", "Active flows", "API address", "Monitor address"):
        expect(page.locator(".nd-kv dt", has_text=re.compile(f"^{label}$", re.I)).first).to_be_visible()
    expect(page.get_by_role("heading", name="Resources")).to_be_visible()
    expect(page.get_by_role("heading", name="Network interfaces")).to_be_visible()
    expect(page.get_by_role("heading", name="Recent events")).to_be_visible()
    # Thumbnails arrive (the simulated edge pushes a JPEG per flow).
    expect(first.locator(".nd-thumb img")).to_be_visible(timeout=10000)
    first.locator(".nd-range button", has_text="1h").click()
    expect(first.locator(".nd-range button", has_text="1h")).to_have_attribute("aria-pressed", "true")
    expect(first.locator(".nd-chart canvas").first).to_be_visible()
    browser_session.screenshot("node-detail-edge")
    browser_session.assert_clean()


def test_relay_detail_renders_its_variant(browser_session, fleet):
    relay = fleet["nodes"]["demo-relay-01"]
    page = browser_session.login("admin", ADMIN_PASSWORD, f"/nodes/{relay['id']}")
    expect(page.get_by_role("heading", name="Relay overview")).to_be_visible()
    expect(page.get_by_role("heading", name="Tunnels")).to_be_visible()
    expect(page.get_by_role("heading", name="Connected edges")).to_be_visible()
    expect(page.locator(".nd-kv dt", has_text=re.compile("^Tunnels$", re.I)).first).to_be_visible()
    expect(page.locator(".nd-kv dt", has_text=re.compile("^QUIC address$", re.I))).to_be_visible()
    expect(page.get_by_text("demo-relay-01.sim.invalid:4433")).to_be_visible()
    expect(page.locator(".tag", has_text="relay").first).to_be_visible()
    assert page.locator("article[data-flow-id]").count() == 0
    expect(page.locator(".nd-chart canvas").first).to_be_visible()
    browser_session.screenshot("node-detail-relay")
    browser_session.assert_clean()


def test_appear_x_detail_renders_the_gateway_module(browser_session, fleet):
    gateway = fleet["nodes"]["demo-appear-x-01"]
    page = browser_session.login("admin", ADMIN_PASSWORD, f"/nodes/{gateway['id']}")
    module = page.locator("section", has=page.get_by_role("heading", name="Gateway module"))
    expect(module).to_be_visible()
    expect(module).to_contain_text("Sidecar")
    expect(module).to_contain_text("Online")
    expect(module).to_contain_text(re.compile(r"Target\s*● (Reachable|Unreachable|Unknown)"))
    expect(module).to_contain_text("10.60.0.5")
    chassis = page.locator("section", has=page.get_by_role("heading", name="Chassis", exact=True))
    expect(chassis).to_contain_text(re.compile(r"X\d+_\dRU"), timeout=15000)
    expect(page.get_by_role("heading", name="Active chassis alarms")).to_be_visible()
    expect(page.get_by_role("heading", name="IP inputs and outputs")).to_be_visible()
    assert page.locator("article[data-flow-id]").count() == 0
    # A read command answers in a side panel.
    page.locator('button[data-command="get_alarms"]').click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("get_alarms", timeout=40000)
    browser_session.screenshot("node-detail-appear-x-command")
    dialog.get_by_role("button", name="Close", exact=True).click()
    browser_session.screenshot("node-detail-appear-x")
    browser_session.assert_clean()


def test_stop_and_start_a_flow_changes_its_state(browser_session, fleet):
    edge = fleet["nodes"]["demo-edge-02"]
    page = browser_session.login("otto", USER_PASSWORD, f"/nodes/{edge['id']}")
    card = page.locator('article[data-flow-id="flow-2"]')
    state = card.locator("header .tag").first
    expect(state).to_have_text(re.compile("^Running$", re.I))
    card.locator('button[data-action="stop"]').click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Stop flow")
    expect(dialog).to_contain_text("Backup Feed")
    dialog.get_by_role("button", name="Stop flow").click()
    expect(state).to_have_text(re.compile("^Idle$", re.I), timeout=10000)
    expect(card.locator(".nd-thumb-empty")).to_have_text(re.compile("Stopped", re.I))
    expect(card.locator('button[data-action="start"]')).to_be_visible()
    browser_session.screenshot("node-detail-flow-stopped")
    card.locator('button[data-action="start"]').click()
    expect(state).to_have_text(re.compile("^Running$", re.I), timeout=10000)
    expect(card.locator('button[data-action="stop"]')).to_be_visible()
    browser_session.assert_clean()


def test_viewer_sees_no_mutating_controls(browser_session, fleet):
    edge = fleet["nodes"]["demo-edge-01"]
    page = browser_session.login("vic", USER_PASSWORD, f"/nodes/{edge['id']}")
    cards = page.locator("article[data-flow-id]")
    expect(cards).to_have_count(2)
    expect(cards.first.locator('[data-stat="input-bitrate"]')).to_have_text(re.compile("bps$"))
    expect(page.get_by_role("link", name="View configuration")).to_be_visible()
    assert page.get_by_role("link", name="Configure").count() == 0
    assert page.get_by_role("button", name="More node actions").count() == 0
    for action in ("start", "stop", "restart"):
        assert page.locator(f'button[data-action="{action}"]:visible').count() == 0
    assert page.locator(".nd-chip-click").count() == 0  # no "Make active" on input chips
    browser_session.screenshot("node-detail-viewer")
    relay = fleet["nodes"]["demo-relay-01"]
    page.goto(f"/nodes/{relay['id']}")
    expect(page.get_by_role("heading", name="Relay overview")).to_be_visible()
    assert page.get_by_role("button", name=re.compile("Close tunnel|Disconnect")).count() == 0
    gateway = fleet["nodes"]["demo-appear-x-01"]
    page.goto(f"/nodes/{gateway['id']}")
    expect(page.get_by_role("heading", name="Gateway module")).to_be_visible()
    assert page.locator("button[data-command]").count() == 0
    browser_session.assert_clean()


def test_offline_node_shows_last_known_data_greyed(browser_session, demo_manager, fleet):
    # Restart the manager without the simulated fleet: every node is now offline, and the page
    # must keep showing what it last knew (runs last in this module).
    demo_manager.stop()
    demo_manager.start()
    edge = fleet["nodes"]["demo-edge-01"]
    page = browser_session.login("otto", USER_PASSWORD, f"/nodes/{edge['id']}")
    expect(page.locator(".nd-banner-offline")).to_contain_text(re.compile(r"Offline since \d\d:\d\d — showing last known data"))
    expect(page.locator(".nd-offline")).to_have_count(1)
    cards = page.locator("article[data-flow-id]")
    expect(cards).to_have_count(2)  # from the last known config
    expect(cards.first.locator("header .tag").first).to_have_text(re.compile("^Idle$", re.I))
    expect(cards.first.locator(".nd-chart canvas").first).to_be_visible()  # history survives
    start = cards.first.locator('button[data-action="start"]')
    expect(start).to_be_disabled()
    assert "offline" in (start.get_attribute("title") or "")
    expect(page.get_by_role("heading", name="Network interfaces")).to_be_visible()  # last health report
    browser_session.screenshot("node-detail-offline")
    browser_session.assert_clean()
