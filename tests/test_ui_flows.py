"""The Flows page in Chromium against the simulated fleet: every demo flow with its signal path,
bitrate, health and a thumbnail that loads lazily and is re-checked with its ETag."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from manager_process import ADMIN_PASSWORD

EDGES = ["demo-edge-01", "demo-edge-02", "demo-edge-03"]
BITRATE = re.compile(r"^\d+\.\d\d [kMG]?bps$")


def flow_rows(page):
    return page.locator("#flows-table tbody tr")


def test_flows_page_lists_demo_flows_with_paths_bitrates_and_thumbnails(browser_session, admin_token):
    thumb_requests = []
    browser_session.page.on("request", lambda r: thumb_requests.append(r) if "/thumbnail" in r.url else None)
    page = browser_session.login("admin", ADMIN_PASSWORD, "/flows")
    rows = flow_rows(page)
    expect(rows).to_have_count(6, timeout=15000)  # 3 edges x 2 flows
    expect(page.get_by_role("heading", name=re.compile("Local flows"))).to_contain_text("6")
    for edge in EDGES:
        edge_rows = rows.filter(has=page.get_by_role("link", name=edge, exact=True))
        expect(edge_rows).to_have_count(2)
        expect(edge_rows.filter(has_text="Main Program")).to_have_count(1)
        expect(edge_rows.filter(has_text="Backup Feed")).to_have_count(1)

    # Signal path chips: input protocol, address and role, the node, then the outputs.
    main = rows.filter(has_text="Main Program").first
    expect(main).to_contain_text("0.0.0.0:9000")
    expect(main).to_contain_text("(listener)")
    expect(main.locator(".proto-tag").first).to_have_text(re.compile("srt", re.I))

    # Running flows show a bitrate and a health word.
    running = rows.filter(has_text=re.compile("running", re.I))
    expect(running.first).to_be_visible()
    bitrates = [running.nth(i).locator("[data-col=bitrate]").inner_text() for i in range(running.count())]
    assert bitrates and all(BITRATE.match(b) for b in bitrates), bitrates
    expect(running.first).to_contain_text(re.compile("Healthy|Warning|Critical"))

    # A thumbnail image loads (and only through the API route).
    image = page.locator("#flows-table .thumb img:not([hidden])").first
    expect(image).to_be_visible(timeout=15000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    # Edges push a picture about every 5 s; within a couple of rounds every running flow has one.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#flows-table .thumb img:not([hidden])')].filter(i => i.naturalWidth > 0).length >= 6",
        timeout=20000)
    browser_session.screenshot("flows")

    # Re-checked every 5 s with the ETag it got.
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline and not any(r.headers.get("if-none-match") for r in thumb_requests):
        page.wait_for_timeout(250)
    assert any(r.headers.get("if-none-match") for r in thumb_requests), "no conditional re-check of a thumbnail"

    # The filter narrows the table; clearing it brings every flow back.
    page.get_by_label("Filter flows").fill("Backup")
    expect(page.locator("#flows-table tbody tr:visible")).to_have_count(3)
    page.get_by_label("Filter flows").fill("")
    expect(page.locator("#flows-table tbody tr:visible")).to_have_count(6)
    browser_session.assert_clean()

    # Clicking a node in a signal path opens its page.
    main.locator("[data-col=path]").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/nodes/[0-9a-f-]{36}$"))


def test_bitrates_update_without_a_reload(browser_session, admin_token):
    page = browser_session.login("admin", ADMIN_PASSWORD, "/flows")
    rows = flow_rows(page)
    expect(rows).to_have_count(6, timeout=15000)
    page.evaluate("window.__sameDocument = true")
    cells = page.locator("#flows-table [data-col=bitrate]")
    before = cells.all_inner_texts()
    page.wait_for_function(
        "before => [...document.querySelectorAll('#flows-table [data-col=bitrate]')].some((c, i) => c.textContent !== before[i])",
        arg=before, timeout=8000)
    assert page.evaluate("window.__sameDocument") is True
    browser_session.assert_clean()


def test_row_order_is_remembered(browser_session, demo_manager, admin_token):
    page = browser_session.login("admin", ADMIN_PASSWORD, "/flows")
    rows = flow_rows(page)
    expect(rows).to_have_count(6, timeout=15000)
    second = rows.nth(1).get_attribute("data-flow-key")
    rows.nth(1).get_by_role("button", name=re.compile("Reorder")).press("Alt+ArrowUp")
    expect(rows.first).to_have_attribute("data-flow-key", second)
    with demo_manager.api(admin_token) as api:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (api.get("/api/v1/preferences").json().get("flow_table_order") or [None])[0] != second:
            time.sleep(0.1)
        assert api.get("/api/v1/preferences").json()["flow_table_order"][0] == second
    page.reload()
    expect(flow_rows(page)).to_have_count(6, timeout=15000)
    expect(flow_rows(page).first).to_have_attribute("data-flow-key", second)
    browser_session.assert_clean()
