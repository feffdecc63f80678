"""The AI pages in Chromium (product.md §4.14): ask, watch the reply stream in, review the
proposal card and its diff, Apply; the keys page; what a viewer sees; hostile markdown."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ai_fakes import Step
from ai_helpers import OPENAI_KEY, ai_manager, fakes, new_user, _fresh_script  # noqa: F401
from browser import BrowserSession
from manager_process import ADMIN_PASSWORD, USER_PASSWORD

EXAMPLE = "Create an SRT listener on Edge 2 port 9110 feeding RTP to 192.168.50.233:7004"


@pytest.fixture
def session(chromium, ai_manager):
    browser = BrowserSession(chromium, ai_manager.base_url)
    yield browser
    browser.close()


def test_ask_watch_the_reply_stream_review_the_diff_and_apply(session, ai_manager, fakes):
    page = session.login("admin", ADMIN_PASSWORD, "/ai/assistant")
    expect(page.locator("#ai-band")).to_contain_text("Runs locally — nothing leaves this machine.")
    expect(page.locator("#ai-provider")).to_have_value("ollama")
    expect(page.locator("#ai-model")).to_have_value("llama3.1:8b")
    page.get_by_role("button", name=EXAMPLE).click()
    # the reply text arrives while the assistant is still writing
    page.wait_for_function("""() => {
        const live = document.querySelector('.ai-assistant-live');
        return live && live.querySelector('.ai-typing') && live.querySelector('.ai-assistant-body').textContent.includes('Create flow');
    }""", timeout=10_000)
    expect(page.locator("#ai-stop")).to_be_visible()
    session.screenshot("ai-assistant-streaming")
    card = page.locator(".ai-proposal")
    expect(card).to_have_count(1, timeout=15_000)
    expect(card).to_contain_text("Create flow SRT 9110 to RTP on demo-edge-02")
    expect(card).to_contain_text("deploy_flow")
    expect(card).to_contain_text("Checked by the server")
    expect(card.locator(".ai-diff tbody tr").first).to_be_visible()
    expect(card.locator(".ai-diff")).to_contain_text("inputs/srt-in-9110/local_addr")
    expect(card.locator(".ai-diff")).to_contain_text("0.0.0.0:9110")
    expect(card.locator(".ai-diff-add").first).to_be_visible()
    expect(page.locator(".ai-assistant .ai-md-table")).to_contain_text("RTP out")
    expect(page.locator("#ai-threads")).to_contain_text("Create an SRT listener on Edge 2 port 9110")
    assert "thread=" in page.url
    session.screenshot("ai-assistant-proposal")

    card.locator("[data-action=apply]").click()
    expect(page.locator("#toasts")).to_contain_text("Applied “Create flow SRT 9110 to RTP on demo-edge-02”", timeout=15_000)
    expect(card).to_contain_text(re.compile(r"Applied ✓ in \d+ ms"))
    expect(card.locator("[data-action=apply]")).to_have_count(0)
    session.screenshot("ai-assistant-applied")
    edge2 = ai_manager.nodes["demo-edge-02"]["id"]
    with ai_manager.api(ai_manager.admin_token) as api:
        config = api.get(f"/api/v1/nodes/{edge2}/config", params={"refresh": "true"}).json()
    assert "srt-9110" in [f["id"] for f in config["flows"]]

    # the thread is kept: reloading shows the same conversation with the applied card
    page.reload()
    expect(page.locator(".ai-proposal")).to_contain_text("Applied ✓")
    session.assert_clean()


def test_refused_proposals_are_shown_with_their_reasons_and_cannot_be_applied(session, ai_manager, fakes):
    name, _ = new_user(ai_manager, "operator")
    edge1 = ai_manager.nodes["demo-edge-01"]["id"]
    fakes.ollama.push(Step(reply={"reply": "### Two ideas\n- stop the main flow\n- add a listener", "proposals": [
        {"node_id": edge1, "title": "Stop the main program", "summary": "Takes flow-1 off air.",
         "action": {"type": "stop_flow", "flow_id": "flow-1"}},
        {"node_id": edge1, "title": "Listener on a busy port",
         "action": {"type": "create_input", "input": {"id": "busy", "name": "Busy", "type": "srt", "mode": "listener",
                                                      "local_addr": "0.0.0.0:9000"}}}]}))
    page = session.login(name, USER_PASSWORD, "/ai/assistant")
    page.fill("#ai-input", "Any ideas for Edge 1?")
    page.keyboard.press("Enter")
    cards = page.locator(".ai-proposal")
    expect(cards).to_have_count(2, timeout=15_000)
    invalid = cards.nth(1)
    expect(invalid).to_contain_text("Refused by the server")
    expect(invalid).to_contain_text("already bound")
    expect(invalid.locator(".chip-code")).to_contain_text("port_conflict")
    expect(invalid.locator("[data-action=apply]")).to_be_disabled()
    destructive = cards.nth(0)
    expect(destructive.locator("[data-action=apply]")).to_have_class(re.compile("btn-danger"))
    session.screenshot("ai-assistant-refused")
    destructive.locator("[data-action=apply]").click()
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text("Stop the main program")
    dialog.get_by_role("button", name="Cancel").click()
    destructive.locator("[data-action=discard]").click()
    expect(destructive).to_contain_text("Discarded")
    session.assert_clean()


def test_a_viewer_can_ask_but_sees_that_changes_need_an_operator(session, ai_manager, fakes):
    name, _ = new_user(ai_manager, "viewer")
    fakes.ollama.push(Step(reply={"reply": "### Status\nAll **5** nodes are online. <img src=x onerror=alert(1)> "
                                           "[click](javascript:alert(1)) and [docs](https://example.com/docs)\n\n"
                                           "```json\n{\"a\": 1}\n```", "proposals": []}))
    page = session.login(name, USER_PASSWORD, "/ai/assistant")
    expect(page.locator("#ai-band")).to_contain_text("You can ask questions. Changes need an operator.")
    page.fill("#ai-input", "How is the plant?")
    page.click("#ai-send")
    reply = page.locator(".ai-assistant").last
    expect(reply).to_contain_text("All 5 nodes are online.", timeout=15_000)
    expect(reply).to_contain_text("<img src=x onerror=alert(1)>")
    assert reply.locator("img").count() == 0, "model text is never parsed as HTML"
    assert reply.locator("a", has_text="click").count() == 0, "javascript: links are not links"
    link = reply.locator("a", has_text="docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(reply.locator("pre")).to_contain_text('{"a": 1}')
    expect(page.locator(".ai-proposal")).to_have_count(0)
    session.screenshot("ai-assistant-viewer")
    session.assert_clean()


def test_keys_page_saves_a_key_without_ever_showing_it(session, ai_manager, fakes):
    name, _ = new_user(ai_manager, "operator")
    page = session.login(name, USER_PASSWORD, "/ai/keys")
    cards = page.locator("#ai-key-cards section")
    expect(cards).to_have_count(4)
    ollama = page.locator("section[data-provider=ollama]")
    expect(ollama).to_contain_text("Reachable")
    expect(ollama).to_contain_text(fakes.ollama.url)
    openai = page.locator("section[data-provider=openai]")
    expect(openai).to_contain_text("Not configured")
    expect(openai).to_contain_text("default list — save key to fetch live models")
    expect(openai.locator("input[type=password]")).to_have_attribute("placeholder", "sk-...")
    session.screenshot("ai-keys-before")
    openai.locator("input[type=password]").fill(OPENAI_KEY)
    openai.locator("[data-action=save]").click()
    expect(page.locator("#toasts")).to_contain_text("OpenAI key saved")
    openai = page.locator("section[data-provider=openai]")
    expect(openai).to_contain_text("Configured")
    expect(openai).not_to_contain_text("default list")
    expect(openai.locator("input[type=password]")).to_have_value("")
    expect(openai.locator("input[type=password]")).to_have_attribute("placeholder", re.compile("saved"))
    expect(openai.locator("select")).to_contain_text("gpt-4.1-mini")
    assert OPENAI_KEY not in page.content()
    session.screenshot("ai-keys-saved")
    openai.locator("[data-action=remove]").click()
    page.locator("dialog").get_by_role("button", name="Remove key").click()
    expect(page.locator("section[data-provider=openai]")).to_contain_text("Not configured")
    session.assert_clean()


def test_ollama_problems_show_the_fix_on_the_keys_page(session, ai_manager, fakes):
    token = ai_manager.admin_token
    ai_manager.put_settings(token, ai_default_model="mistral:7b")
    try:
        page = session.login("admin", ADMIN_PASSWORD, "/ai/keys")
        page.click("#ai-keys-refresh")
        expect(page.locator("#ollama-fix")).to_have_text("ollama pull mistral:7b")
        expect(page.locator("section[data-provider=ollama]")).to_contain_text("Edit in Settings")
        session.screenshot("ai-keys-ollama-model-missing")
        session.assert_clean()
    finally:
        ai_manager.put_settings(token, ai_default_model="llama3.1:8b")
