"""Node configuration page (/nodes/{id}/config) in Chromium against the simulated demo fleet:
an operator builds an SRT listener input, an RTP output and a flow through the forms and the
simulated edge really applies them; a port conflict shows the refusal with its code; the raw
JSON view diffs before it applies; viewers get no mutating control."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from manager_process import ADMIN_PASSWORD, USER_PASSWORD


@pytest.fixture(scope="module")
def fleet(demo_manager):
    """Admin token, relaxed login limits, an operator and a viewer, and the demo nodes by name."""
    token = demo_manager.token()
    demo_manager.relax_login_limits(token)
    demo_manager.create_user(token, "opal", "operator")
    demo_manager.create_user(token, "vera", "viewer")
    with demo_manager.api(token) as api:
        deadline = time.monotonic() + 30
        while True:
            nodes = {n["name"]: n for n in api.get("/api/v1/nodes").json()}
            edges = [n for n in nodes.values() if n["device_type"] == "edge"]
            if len(edges) >= 3 and all(n["status"] == "online" for n in nodes.values()):
                # Wait until the first edge's config has been cached (the manager fetches it after connect).
                if api.get(f"/api/v1/nodes/{nodes['demo-edge-01']['id']}/config").status_code == 200:
                    break
            assert time.monotonic() < deadline, "demo fleet did not come online"
            time.sleep(0.5)
    return {"token": token, "nodes": nodes}


def config_of(demo_manager, token, node_id):
    with demo_manager.api(token) as api:
        response = api.get(f"/api/v1/nodes/{node_id}/config", params={"refresh": "true"})
        assert response.status_code == 200, response.text
        return response.json()


def open_config(session, node_id, user="opal", password=USER_PASSWORD, tab=""):
    page = session.login(user, password, f"/nodes/{node_id}/config")
    if tab:
        page.click(f"#nc-tab-{tab}")
    expect(page.locator("[role=tabpanel]:not([hidden]) .nc-card").first).to_be_visible()
    return page


def test_operator_builds_input_output_and_flow_through_the_forms(browser_session, demo_manager, fleet):
    edge = fleet["nodes"]["demo-edge-01"]
    page = open_config(browser_session, edge["id"], tab="inputs")

    # New SRT listener input.
    page.click("#nc-new-input")
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("heading", name="New Input")).to_be_visible()
    dialog.get_by_label("Input name").fill("Stadium SRT")
    expect(dialog.get_by_label("Input ID")).to_have_value("stadium-srt")
    dialog.get_by_label("Input ID").fill("ui-srt-in")
    expect(dialog.get_by_label("Input type")).to_have_value("srt")
    expect(dialog.locator("select[name=mode]")).to_have_value("listener")
    # Client-side validation: a bad address is flagged inline before anything is sent.
    dialog.get_by_label("Local address").fill("0.0.0.0:99999")
    expect(dialog.get_by_text("port must be 1–65535")).to_be_visible()
    dialog.get_by_label("Local address").fill("0.0.0.0:9310")
    dialog.get_by_label("Latency (ms)", exact=True).fill("200")
    dialog.get_by_label("Passphrase", exact=True).fill("short")
    expect(dialog.get_by_text("must be 10–79 characters")).to_be_visible()
    dialog.get_by_label("Passphrase", exact=True).fill("correct horse battery")
    browser_session.screenshot("node-config-new-input-form")
    page.click("#nc-input-submit")
    expect(page.locator("dialog[open]")).to_have_count(0)
    card = page.locator('[data-input-id="ui-srt-in"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("Encrypted")
    expect(card).to_contain_text("0.0.0.0:9310")

    # New RTP output.
    page.click("#nc-tab-outputs")
    page.click("#nc-new-output")
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Output type").select_option("rtp")
    dialog.get_by_label("Output ID").fill("ui-rtp-out")
    dialog.get_by_label("Output name").fill("Truck RTP")
    dialog.get_by_label("Destination address").fill("198.51.100.77:5004")
    browser_session.screenshot("node-config-new-output-form")
    page.click("#nc-output-submit")
    expect(page.locator('[data-output-id="ui-rtp-out"]')).to_be_visible()

    # New flow from the two.
    page.click("#nc-tab-flows")
    page.click("#nc-new-flow")
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Flow name").fill("UI Stadium Feed")
    expect(dialog.get_by_label("Flow ID")).to_have_value("ui-stadium-feed")
    dialog.locator('input[data-pick="input"][data-id="ui-srt-in"]').check()
    dialog.locator('input[data-pick="output"][data-id="ui-rtp-out"]').check()
    expect(dialog.locator("pre.nc-preview")).to_contain_text('"ui-srt-in"')
    browser_session.screenshot("node-config-new-flow-form")
    page.click("#nc-flow-submit")
    flow_card = page.locator('[data-flow-id="ui-stadium-feed"]')
    expect(flow_card).to_be_visible()
    expect(flow_card).to_contain_text("Stadium SRT")
    expect(flow_card).to_contain_text("Truck RTP")
    expect(flow_card.locator(".tag").first).to_contain_text(re.compile("Running", re.I), timeout=10000)
    browser_session.screenshot("node-config-flows")

    # The simulated edge really applied it: its config and the topology show the flow.
    config = config_of(demo_manager, fleet["token"], edge["id"])
    flow = next(f for f in config["flows"] if f["id"] == "ui-stadium-feed")
    assert flow["input_ids"] == ["ui-srt-in"] and flow["output_ids"] == ["ui-rtp-out"]
    assert next(i for i in config["inputs"] if i["id"] == "ui-srt-in")["passphrase"] == "{{secret}}"
    with demo_manager.api(fleet["token"]) as api:
        deadline = time.monotonic() + 10
        while True:
            topo = api.get("/api/v1/topology").json()
            node = next(n for n in topo["nodes"] if n["id"] == edge["id"])
            flow_ports = {p["entity_id"] for p in node["ports"] if p.get("flow_id") == "ui-stadium-feed"}
            if {"ui-srt-in", "ui-rtp-out"} <= flow_ports:
                break
            assert time.monotonic() < deadline, f"flow not in topology: {node['ports']}"
            time.sleep(0.5)
    browser_session.assert_clean()


def test_port_conflict_shows_the_refusal_with_its_code(browser_session, fleet):
    edge = fleet["nodes"]["demo-edge-02"]
    page = open_config(browser_session, edge["id"], tab="inputs")
    page.click("#nc-new-input")
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Input ID").fill("clash-in")
    dialog.get_by_label("Input name").fill("Clashing listener")
    dialog.get_by_label("Local address").fill("0.0.0.0:9000")  # the demo edge's SRT input already binds it
    page.click("#nc-input-submit")
    toast = page.locator(".toast-error")
    expect(toast).to_contain_text("Port conflict")
    expect(toast.locator(".chip-code")).to_have_text("port_conflict")
    # The same refusal is shown in the form, attached to the field, and nothing was created.
    expect(dialog.locator(".form-error .chip-code")).to_have_text("port_conflict")
    expect(dialog.locator('[data-field="local_addr"] .field-error')).to_contain_text("Port conflict")
    browser_session.screenshot("node-config-port-conflict")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator('[data-input-id="clash-in"]')).to_have_count(0)
    browser_session.assert_clean()


def test_edit_keeps_a_masked_secret_unchanged(browser_session, demo_manager, fleet):
    edge = fleet["nodes"]["demo-edge-02"]
    page = open_config(browser_session, edge["id"], tab="inputs")
    page.locator('[data-input-id="srt-in-1"] button[data-action="edit"]').click()
    dialog = page.locator("dialog[open]")
    passphrase = dialog.get_by_label("Passphrase", exact=True)
    expect(passphrase).to_have_value("{{secret}}")  # masked: "unchanged on the node"
    expect(passphrase).to_have_attribute("type", "password")
    dialog.get_by_role("button", name="Show Passphrase").click()
    expect(passphrase).to_have_attribute("type", "text")
    expect(dialog.get_by_label("Input ID")).to_be_disabled()
    dialog.get_by_label("Latency (ms)", exact=True).fill("250")
    browser_session.screenshot("node-config-edit-input-form")
    page.click("#nc-input-submit")
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator('[data-input-id="srt-in-1"]')).to_contain_text("250 ms")
    with demo_manager.api(fleet["token"]) as api:
        revealed = api.get(f"/api/v1/nodes/{edge['id']}/config", params={"reveal_secrets": "true", "refresh": "true"}).json()
    srt = next(i for i in revealed["inputs"] if i["id"] == "srt-in-1")
    assert srt["latency_ms"] == 250
    assert srt["passphrase"] not in ("", "{{secret}}")  # the node kept its real passphrase
    browser_session.assert_clean()


def test_raw_json_review_shows_the_diff_then_applies(browser_session, demo_manager, fleet):
    edge = fleet["nodes"]["demo-edge-03"]
    page = browser_session.login("admin", ADMIN_PASSWORD, f"/nodes/{edge['id']}/config")
    page.click("#nc-tab-raw")
    editor = page.locator("#nc-raw")
    expect(editor).to_have_value(re.compile(r'"flows"'))
    text = editor.input_value()
    original = config_of(demo_manager, fleet["token"], edge["id"])
    first = original["flows"][0]
    editor.fill(text.replace(f'"name": "{first["name"]}"', '"name": "Renamed by raw JSON"', 1))
    expect(page.locator("#nc-raw-status")).to_contain_text("Valid JSON")
    page.click("#nc-review")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text(f"flow {first['id']}")
    expect(dialog).to_contain_text("Renamed by raw JSON")
    browser_session.screenshot("node-config-raw-review")
    dialog.locator("#nc-apply").click()
    expect(page.locator(".toast-success")).to_contain_text("Configuration applied")
    page.click("#nc-tab-flows")
    expect(page.locator(f'[data-flow-id="{first["id"]}"]')).to_contain_text("Renamed by raw JSON")
    after = config_of(demo_manager, fleet["token"], edge["id"])
    assert next(f for f in after["flows"] if f["id"] == first["id"])["name"] == "Renamed by raw JSON"
    # Upload: the file lands in the raw view and the review opens with its diff; nothing is
    # applied until the user confirms.
    uploaded = config_of(demo_manager, fleet["token"], edge["id"])
    uploaded["outputs"][0]["name"] = "Uploaded output name"
    page.set_input_files("#nc-upload-file", files=[{"name": "edge.json", "mimeType": "application/json",
                                                     "buffer": json.dumps(uploaded).encode()}])
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("from the uploaded file")
    expect(dialog).to_contain_text("Uploaded output name")
    dialog.get_by_role("button", name="Cancel").click()
    assert config_of(demo_manager, fleet["token"], edge["id"])["outputs"][0]["name"] != "Uploaded output name"
    # Broken JSON is caught as the user types, with its line.
    page.click("#nc-tab-raw")
    editor.fill('{\n  "version": 2,\n  "flows": [\n}')
    expect(page.locator("#nc-raw-status")).to_contain_text("Line 4")
    expect(page.locator("#nc-review")).to_be_disabled()
    browser_session.assert_clean()


def test_viewer_sees_the_config_without_mutating_controls(browser_session, fleet):
    edge = fleet["nodes"]["demo-edge-01"]
    page = browser_session.login("vera", USER_PASSWORD, f"/nodes/{edge['id']}/config")
    expect(page.locator("[role=tabpanel]:not([hidden]) .nc-card").first).to_be_visible()
    expect(page.get_by_text("Read-only for viewers", exact=True)).to_be_visible()
    for tab in ("flows", "inputs", "outputs"):
        page.click(f"#nc-tab-{tab}")
        expect(page.locator("[role=tabpanel]:not([hidden]) .nc-card").first).to_be_visible()
        assert page.locator(f"#nc-new-{tab[:-1]}").count() == 0
        assert page.locator(".nc-card button").count() == 0
    assert page.locator("#nc-reveal").count() == 0
    assert page.locator("#nc-upload").count() == 0
    page.click("#nc-tab-raw")
    expect(page.locator("#nc-raw")).to_be_visible()
    assert page.locator("#nc-raw").get_attribute("readonly") is not None
    assert page.locator("#nc-review").count() == 0
    expect(page.locator("#nc-download")).to_be_visible()
    browser_session.screenshot("node-config-viewer")
    browser_session.assert_clean()


def test_relay_config_is_read_only_json_with_actions(browser_session, fleet):
    relay = fleet["nodes"]["demo-relay-01"]
    page = browser_session.login("admin", ADMIN_PASSWORD, f"/nodes/{relay['id']}/config")
    editor = page.locator("#nc-raw")
    expect(editor).to_have_value(re.compile(r"quic_addr"))
    assert editor.get_attribute("readonly") is not None
    expect(page.get_by_role("heading", name="Actions")).to_be_visible()
    expect(page.locator("details summary", has_text="list_tunnels").or_(page.locator("details summary", has_text="List tunnels"))).to_be_visible()
    browser_session.screenshot("node-config-relay")
    browser_session.assert_clean()


def test_offline_node_config_is_read_only_with_the_last_known_copy(browser_session, demo_manager, fleet):
    # Restart without the simulated fleet (runs last in this module): the editor shows the last
    # known configuration, read-only, and says so.
    demo_manager.stop()
    demo_manager.start()
    edge = fleet["nodes"]["demo-edge-01"]
    page = open_config(browser_session, edge["id"])
    expect(page.locator(".nd-banner-warn")).to_contain_text("Node offline — showing last known configuration")
    expect(page.locator('[data-flow-id="ui-stadium-feed"]')).to_be_visible()
    expect(page.locator("#nc-new-flow")).to_be_disabled()
    page.click("#nc-tab-inputs")
    expect(page.locator("#nc-new-input")).to_be_disabled()
    expect(page.locator('[data-input-id="ui-srt-in"] button[data-action="edit"]')).to_be_disabled()
    browser_session.screenshot("node-config-offline")
    browser_session.assert_clean()
