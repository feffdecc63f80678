"""Topology in Chromium against the demo fleet: the graph draws every node and link, the flow view
lists the local flows, and a dragged card is pinned (saved per user) and stays pinned after a
reload."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from manager_process import ADMIN_PASSWORD

DEMO_NODES = ["demo-edge-01", "demo-edge-02", "demo-edge-03", "demo-relay-01", "demo-appear-x-01"]


def sign_in(session, path="/topology"):
    return session.login("admin", ADMIN_PASSWORD, path)


@pytest.fixture(scope="module")
def topology(demo_manager, admin_token):
    """The topology as the API reports it once the demo edges have sent their configs."""
    deadline = time.monotonic() + 20
    with demo_manager.api(admin_token) as api:
        while True:
            doc = api.get("/api/v1/topology").json()
            flows = sum(len(n.get("flows", [])) for n in doc["nodes"])
            if doc["counts"]["online"] == 5 and flows == 6 and doc["counts"]["links"] > 0:
                return doc
            assert time.monotonic() < deadline, doc["counts"]
            time.sleep(0.3)


def show_graph(page):
    tab = page.get_by_role("tab", name="Graph")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    return page.locator("#topo-graph .topo-canvas")


def test_graph_draws_every_node_and_link(browser_session, topology):
    page = sign_in(browser_session)
    expect(page.get_by_role("heading", name="Network Topology")).to_be_visible()
    canvas = show_graph(page)
    counts = topology["counts"]
    expect(canvas).to_have_attribute("data-node-count", str(len(DEMO_NODES)))
    expect(canvas).to_have_attribute("data-external-count", str(counts["external"]))
    expect(canvas).to_have_attribute("data-link-count", str(counts["links"]))
    cards = page.locator("#topo-graph li[data-kind=node]")
    names = sorted(cards.evaluate_all("items => items.map(i => i.dataset.name)"))
    assert names == sorted(DEMO_NODES)
    # The counter pills say the same as the API.
    expect(page.locator(".count-pill", has_text="online")).to_contain_text(str(counts["online"]))
    expect(page.locator(".count-pill", has_text="nodes")).to_contain_text(f"{counts['nodes']} + {counts['external']} ext")
    expect(page.locator(".count-pill", has_text="links")).to_contain_text(str(counts["links"]))
    expect(page.locator(".topo-legend")).to_contain_text("Tunnel")

    # Filtering fades what does not match and leaves the rest.
    page.get_by_label("Filter the map").fill("demo-edge-02")
    page.wait_for_timeout(700)
    browser_session.screenshot("topology-graph-filtered")
    page.get_by_label("Filter the map").fill("")
    page.wait_for_timeout(700)  # the fade back takes 400 ms
    browser_session.screenshot("topology-graph")
    browser_session.assert_clean()


def test_flow_view_lists_the_local_flows(browser_session, demo_manager, admin_token, topology):
    page = sign_in(browser_session)
    tab = page.get_by_role("tab", name="Flow")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    table = page.get_by_role("table", name="Local flows")
    expect(table.locator("tbody tr")).to_have_count(6)
    expect(page.locator("#local-flows-title + .count-badge")).to_have_text("6")
    for name in ("demo-edge-01", "demo-edge-02", "demo-edge-03"):
        expect(table.locator("tbody tr", has_text=name).filter(has_text="Main Program")).to_have_count(1)
        expect(table.locator("tbody tr", has_text=name).filter(has_text="Backup Feed")).to_have_count(1)
    expect(table.locator("tbody tr").first).to_contain_text("Mbps")
    with demo_manager.api(admin_token) as api:
        vertices = len(api.get("/api/v1/topology").json()["flow_layout"]["vertices"])
    expect(page.locator("#topo-flow .topo-canvas")).to_have_attribute("data-vertex-count", str(vertices))
    expect(page.get_by_role("heading", name="Unmatched tunnels")).to_be_visible()
    page.wait_for_timeout(800)  # let the first previews load
    browser_session.screenshot("topology-flow")

    # The view tab is remembered for this user.
    page.reload()
    expect(page.get_by_role("tab", name="Flow")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("table", name="Local flows").locator("tbody tr")).to_have_count(6)
    show_graph(page)  # leave the graph as the remembered view
    page.wait_for_timeout(300)
    browser_session.assert_clean()


def card_centre(page, name):
    canvas = page.locator("#topo-graph .topo-canvas")
    box = canvas.bounding_box()
    item = page.locator(f'#topo-graph li[data-kind=node][data-name="{name}"]')
    x, y = float(item.get_attribute("data-x")), float(item.get_attribute("data-y"))
    return box["x"] + x, box["y"] + y


def test_dragging_a_card_pins_it_across_a_reload(browser_session, demo_manager, admin_token, topology):
    page = sign_in(browser_session)
    canvas = show_graph(page)
    expect(canvas).to_have_attribute("data-node-count", "5")
    edge = next(n for n in topology["nodes"] if n["name"] == "demo-edge-02")
    card = page.locator('#topo-graph li[data-name="demo-edge-02"]')
    expect(card).to_have_attribute("data-pinned", "0")

    # Grab the card by its header row and drag it.
    x, y = card_centre(page, "demo-edge-02")
    grab_y = y - 30
    page.mouse.move(x, grab_y)
    page.mouse.down()
    page.mouse.move(x + 40, grab_y + 30, steps=5)
    page.mouse.move(x + 120, grab_y + 90, steps=10)
    page.mouse.up()
    expect(card).to_have_attribute("data-pinned", "1")

    def saved():
        with demo_manager.api(admin_token) as api:
            return api.get("/api/v1/topology/positions", params={"view": "graph"}).json()["positions"]

    deadline = time.monotonic() + 5
    while edge["id"] not in saved():
        assert time.monotonic() < deadline, "the position was not saved"
        time.sleep(0.2)
    position = saved()[edge["id"]]
    browser_session.screenshot("topology-graph-pinned")

    page.reload()
    canvas = page.locator("#topo-graph .topo-canvas")
    expect(canvas).to_have_attribute("data-node-count", "5")
    card = page.locator('#topo-graph li[data-name="demo-edge-02"]')
    expect(card).to_have_attribute("data-pinned", "1")
    assert saved()[edge["id"]] == position

    # Double-click unpins it again.
    x, y = card_centre(page, "demo-edge-02")
    page.mouse.dblclick(x, y - 30)
    expect(card).to_have_attribute("data-pinned", "0")
    deadline = time.monotonic() + 5
    while edge["id"] in saved():
        assert time.monotonic() < deadline, "the pin was not removed"
        time.sleep(0.2)
    assert page.url.endswith("/topology")
    browser_session.assert_clean()
