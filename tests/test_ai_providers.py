"""The AI assistant's providers (product.md §8.1, api.md §12.1–12.3) against fakes that speak
Ollama's, OpenAI's, Anthropic's and Gemini's real HTTP APIs, and against a real Ollama when one
is running on this machine."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from ai_fakes import Step
from ai_helpers import (ANTHROPIC_KEY, GEMINI_KEY, OPENAI_KEY, ai_manager, chat, chat_stream, fakes,  # noqa: F401
                        new_user, set_keys, _fresh_script)
from manager_process import ManagerProcess, free_port

CLOUD = ("openai", "anthropic", "gemini")
KEYS = {"openai": OPENAI_KEY, "anthropic": ANTHROPIC_KEY, "gemini": GEMINI_KEY}


def providers(proc: ManagerProcess, token: str, refresh: bool = True) -> dict:
    with proc.api(token) as api:
        response = api.get("/api/v1/ai/providers", params={"refresh": "true" if refresh else "false"})
    assert response.status_code == 200, response.text
    return {p["id"]: p for p in response.json()["providers"]}


# -- Ollama status --------------------------------------------------------------------------------

def test_ollama_not_running_is_reported_with_the_command_that_fixes_it(ai_manager, fakes):
    token = ai_manager.admin_token
    nowhere = f"http://127.0.0.1:{free_port()}"
    ai_manager.put_settings(token, ollama_url=nowhere)
    try:
        status = providers(ai_manager, token)["ollama"]
        assert status["reachable"] is False and status["configured"] is True
        assert "not reachable" in status["error"] and nowhere in status["error"]
        assert status["fix"] == "ollama serve" and "ollama serve" in status["error"]
        response = chat(ai_manager, token, provider="ollama")
        assert response.status_code == 502, response.text
        assert response.json()["code"] == "ai_provider_error"
        assert "ollama serve" in response.json()["error"]
    finally:
        ai_manager.put_settings(token, ollama_url=fakes.ollama.url)
    status = providers(ai_manager, token)["ollama"]
    assert status["reachable"] is True and status["models_source"] == "live"
    assert status["models"] == ["llama3.1:8b", "qwen2.5:7b-instruct"] and status["error"] is None


def test_a_model_that_is_not_pulled_gives_the_ollama_pull_line(ai_manager, fakes):
    token = ai_manager.admin_token
    ai_manager.put_settings(token, ai_default_model="llama3.2:3b")
    try:
        status = providers(ai_manager, token)["ollama"]
        assert status["reachable"] is True and status["model_missing"] is True
        assert status["fix"] == "ollama pull llama3.2:3b"
        assert "`ollama pull llama3.2:3b`" in status["error"]
        response = chat(ai_manager, token, provider="ollama")
        assert response.status_code == 502 and response.json()["code"] == "ai_provider_error"
        assert "ollama pull llama3.2:3b" in response.json()["error"]
    finally:
        ai_manager.put_settings(token, ai_default_model="llama3.1:8b")


def test_provider_checks_are_cached_until_refresh(ai_manager, fakes):
    token = ai_manager.admin_token
    providers(ai_manager, token, refresh=True)
    seen = len([r for r in fakes.ollama.requests if r.path == "/api/tags"])
    providers(ai_manager, token, refresh=False)
    providers(ai_manager, token, refresh=False)
    assert len([r for r in fakes.ollama.requests if r.path == "/api/tags"]) == seen, "Ollama checks are cached 30 s"


# -- Ollama chat ----------------------------------------------------------------------------------

def test_ollama_chat_uses_its_json_schema_format_and_the_context_size(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator")
    response = chat(ai_manager, token, message="What nodes do I have?", provider="ollama")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"]["provider"] == "ollama" and body["message"]["model"] == "llama3.1:8b"
    assert "You can see **5** nodes" in body["message"]["content"]
    assert body["context"] == {"nodes": 5, "focus_node_id": None, "truncated": False}
    sent = fakes.ollama.chat_requests()[-1].json
    assert sent["model"] == "llama3.1:8b" and sent["stream"] is False
    assert sent["options"]["num_ctx"] == 16384
    assert sent["format"]["required"] == ["reply", "proposals"]
    action = sent["format"]["properties"]["proposals"]["items"]["properties"]["action"]
    assert "deploy_flow" in action["properties"]["type"]["enum"] and action["additionalProperties"] is True
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert sent["messages"][1]["content"] == "What nodes do I have?"


def test_ollama_reply_streams_to_the_caller_as_server_sent_events(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator")
    status, events = chat_stream(ai_manager, token, message="What nodes do I have?", provider="ollama")
    assert status == 200
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("delta") > 3
    streamed = "".join(data["text"] for kind, data in events if kind == "delta")
    done = events[-1][1]
    assert streamed == done["message"]["content"] and "You can see **5** nodes" in streamed
    assert fakes.ollama.chat_requests()[-1].json["stream"] is True


def test_the_thread_continues_with_the_earlier_messages(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator")
    first = chat(ai_manager, token, message="What nodes do I have?").json()
    second = chat(ai_manager, token, message="And which are edges?", thread_id=first["thread_id"])
    assert second.status_code == 200 and second.json()["thread_id"] == first["thread_id"]
    messages = fakes.ollama.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2]["content"])["reply"] == first["message"]["content"]
    with ai_manager.api(token) as api:
        thread = api.get(f"/api/v1/ai/threads/{first['thread_id']}").json()
        listed = api.get("/api/v1/ai/threads").json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant", "user", "assistant"]
    assert listed[0]["id"] == first["thread_id"] and listed[0]["message_count"] == 4
    assert listed[0]["title"] == "What nodes do I have?"


# -- keys -----------------------------------------------------------------------------------------

def test_keys_are_stored_encrypted_and_never_returned(ai_manager, fakes):
    name, token = new_user(ai_manager, "viewer")
    set_keys(ai_manager, token)
    with ai_manager.api(token) as api:
        listed = api.get("/api/v1/ai/keys")
        assert listed.status_code == 200
        assert {k["provider"] for k in listed.json()} == set(CLOUD)
        assert all(set(k) == {"provider", "configured", "model_preference", "updated_at"} for k in listed.json())
        for key in KEYS.values():
            assert key not in listed.text
        changed = api.post("/api/v1/ai/keys", json={"provider": "anthropic", "model_preference": "claude-haiku-4-5"})
        assert changed.status_code == 200 and changed.json()["model_preference"] == "claude-haiku-4-5"
        status = api.get("/api/v1/ai/providers").text
        for key in KEYS.values():
            assert key not in status
        assert api.post("/api/v1/ai/keys", json={"provider": "ollama", "api_key": "x"}).status_code == 422
        assert api.post("/api/v1/ai/keys", json={"provider": "openai", "api_key": "k", "extra": 1}).json()["code"] \
            == "unknown_field"
    with ai_manager.sqlite() as db:
        rows = db.execute("SELECT provider, key_enc FROM ai_keys WHERE user_id = (SELECT id FROM users WHERE "
                          "username = ?)", (name,)).fetchall()
        audit = " ".join(r[0] for r in db.execute("SELECT details FROM audit_log WHERE action LIKE 'ai.key.%'"))
    assert len(rows) == 3 and all(enc.startswith("v1:") for _, enc in rows)
    for _, enc in rows:
        for key in KEYS.values():
            assert key not in enc
    for key in KEYS.values():
        assert key not in audit and key not in ai_manager.log_text()
    raw = ai_manager.db_path.read_bytes() + ai_manager.db_path.with_name("manager.db-wal").read_bytes() \
        if ai_manager.db_path.with_name("manager.db-wal").exists() else ai_manager.db_path.read_bytes()
    for key in KEYS.values():
        assert key.encode() not in raw
    with ai_manager.api(token) as api:
        assert api.delete("/api/v1/ai/keys/gemini").status_code == 204
        assert api.request("DELETE", "/api/v1/ai/keys", json={"provider": "anthropic"}).status_code == 204
        assert [k["provider"] for k in api.get("/api/v1/ai/keys").json()] == ["openai"]
        assert chat(ai_manager, token, provider="gemini").json()["code"] == "ai_provider_not_configured"


def test_cloud_status_lists_live_models_with_the_callers_key(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator")
    before = providers(ai_manager, token)
    for provider in CLOUD:
        assert before[provider]["configured"] is False and before[provider]["models_source"] == "builtin"
        assert before[provider]["models"], "a built-in list before a key is saved"
    set_keys(ai_manager, token)
    after = providers(ai_manager, token)
    assert after["openai"]["models_source"] == "live" and "gpt-4.1" in after["openai"]["models"]
    assert "whisper-1" not in after["openai"]["models"], "only chat models are offered"
    assert after["anthropic"]["models"][0].startswith("claude-") and after["anthropic"]["reachable"] is True
    assert "gemini-2.5-flash" in after["gemini"]["models"] and "text-embedding-004" not in after["gemini"]["models"]
    listing = {r.provider: r for fake in (fakes.openai, fakes.anthropic, fakes.gemini) for r in fake.requests}
    assert listing["openai"].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert listing["anthropic"].headers["x-api-key"] == ANTHROPIC_KEY and listing["anthropic"].headers["anthropic-version"]
    assert listing["gemini"].headers["x-goog-api-key"] == GEMINI_KEY and GEMINI_KEY not in listing["gemini"].path


# -- cloud chat -----------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", CLOUD)
def test_cloud_providers_answer_in_their_own_wire_format(ai_manager, fakes, provider):
    _, token = new_user(ai_manager, "operator")
    set_keys(ai_manager, token)
    fake = getattr(fakes, provider)
    plain = chat(ai_manager, token, message="What nodes do I have?", provider=provider)
    assert plain.status_code == 200, plain.text
    assert "You can see **5** nodes" in plain.json()["message"]["content"]
    assert plain.json()["message"]["provider"] == provider
    status, events = chat_stream(ai_manager, token, message="What nodes do I have?", provider=provider)
    assert status == 200 and events[-1][0] == "done", events[-1:]
    streamed = "".join(d["text"] for k, d in events if k == "delta")
    assert streamed == events[-1][1]["message"]["content"] and len([k for k, _ in events if k == "delta"]) > 3
    sent = [r for r in fake.chat_requests()]
    assert len(sent) == 2
    body = sent[0].json
    if provider == "openai":
        assert sent[0].path == "/v1/chat/completions" and body["model"] == "gpt-4.1"
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"]["required"] == ["reply", "proposals"]
        assert body["messages"][0]["role"] == "system" and "stream" not in body
        assert sent[1].json["stream"] is True and sent[1].json["stream_options"] == {"include_usage": True}
    elif provider == "anthropic":
        assert sent[0].path == "/v1/messages" and body["model"] == "claude-sonnet-4-5"
        assert body["tool_choice"] == {"type": "tool", "name": "submit_reply"}
        assert body["tools"][0]["input_schema"]["required"] == ["reply", "proposals"]
        assert isinstance(body["system"], str) and body["messages"][0]["role"] == "user"
        assert sent[1].json["stream"] is True
    else:
        assert sent[0].path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert sent[1].path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        assert body["generationConfig"]["responseJsonSchema"]["required"] == ["reply", "proposals"]
        assert body["contents"][0]["role"] == "user" and body["systemInstruction"]["parts"][0]["text"]
    for request in sent:
        assert KEYS[provider] not in request.body and KEYS[provider] not in request.path


def test_no_secret_reaches_any_provider(ai_manager, fakes):
    """SRT passphrases of the fleet, a passphrase a node echoed into an input name, and the
    caller's API keys never appear in a request body; keys travel only in the auth header."""
    _, token = new_user(ai_manager, "operator")
    set_keys(ai_manager, token)
    edge1, edge3 = ai_manager.nodes["demo-edge-01"], ai_manager.nodes["demo-edge-03"]
    with ai_manager.api(ai_manager.admin_token) as api:
        config = api.get(f"/api/v1/nodes/{edge1['id']}/config", params={"reveal_secrets": "true"}).json()
        secrets = [i["passphrase"] for i in config["inputs"] + config["outputs"] if i.get("passphrase")]
        assert secrets, "the demo edge has SRT passphrases"
        leak = {"id": "leak-in", "name": f"echo {secrets[0]}", "type": "udp", "bind_addr": "0.0.0.0:5999"}
        assert api.post(f"/api/v1/nodes/{edge3['id']}/inputs", json=leak).status_code == 200
        api.get(f"/api/v1/nodes/{edge3['id']}/config", params={"refresh": "true"})
    for provider in ("ollama", *CLOUD):
        response = chat(ai_manager, token, provider=provider, node_id=edge1["id"],
                        message=f"Why is the passphrase of srt-in-1 on {edge1['name']} not working?")
        assert response.status_code == 200, response.text
    requests = [r for r in fakes.all_requests() if r.method == "POST"]
    assert len(requests) == 4
    for request in requests:
        for secret in secrets:
            assert secret not in request.body, f"{secret} reached {request.provider}"
        for key in KEYS.values():
            assert key not in request.body and key not in request.path
        assert "{{secret:" in request.body, "secrets are shown to the model as placeholders"
        assert "echo {{secret:" in request.body or "echo {{secret}}" in request.body
    headers = {r.provider: r.headers for r in requests}
    assert headers["openai"]["authorization"] == f"Bearer {OPENAI_KEY}"
    assert headers["anthropic"]["x-api-key"] == ANTHROPIC_KEY
    assert headers["gemini"]["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in headers["ollama"]


# -- failures -------------------------------------------------------------------------------------

def test_rate_limits_and_server_errors_are_retried(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator")
    set_keys(ai_manager, token)
    fakes.openai.push(Step(status=429, retry_after="0"))
    assert chat(ai_manager, token, provider="openai").status_code == 200
    assert len(fakes.openai.chat_requests()) == 2
    fakes.anthropic.push(Step(status=529), Step(status=503))
    status, events = chat_stream(ai_manager, token, provider="anthropic")
    assert status == 200 and events[-1][0] == "done"
    assert len(fakes.anthropic.chat_requests()) == 3
    fakes.gemini.push(Step(status=500), Step(status=500), Step(status=500))
    failed = chat(ai_manager, token, provider="gemini")
    assert failed.status_code == 502 and failed.json()["code"] == "ai_provider_error"
    assert "HTTP 500" in failed.json()["error"] and GEMINI_KEY not in failed.text
    assert len(fakes.gemini.chat_requests()) == 3, "one try and two retries"


def test_a_wrong_key_is_reported_without_the_key(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator")
    with ai_manager.api(token) as api:
        api.post("/api/v1/ai/keys", json={"provider": "openai", "api_key": "sk-wrong-key-123456"})
    response = chat(ai_manager, token, provider="openai")
    assert response.status_code == 502 and "refused the API key" in response.json()["error"]
    assert "sk-wrong-key-123456" not in response.text
    assert len(fakes.openai.chat_requests()) == 1, "a 401 is not retried"


def test_a_provider_that_does_not_answer_in_time_gives_504(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator")
    fakes.ollama.push(Step(delay=8))
    response = chat(ai_manager, token, provider="ollama")
    assert response.status_code == 504 and response.json()["code"] == "ai_provider_timeout"
    fakes.ollama.push(Step(delay=8))
    status, events = chat_stream(ai_manager, token, provider="ollama")
    assert status == 200 and events[0][0] == "start"
    assert events[-1][0] == "error" and events[-1][1]["code"] == "ai_provider_timeout" and events[-1][1]["status"] == 504


def test_chat_is_limited_to_ten_requests_a_minute(ai_manager, fakes):
    _, token = new_user(ai_manager, "viewer")
    for _ in range(10):
        assert chat(ai_manager, token).status_code == 200
    limited = chat(ai_manager, token)
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1


def test_chat_bodies_are_checked(ai_manager, fakes):
    _, token = new_user(ai_manager, "operator", allowed_node_ids=[ai_manager.nodes["demo-edge-01"]["id"]])
    _, other = new_user(ai_manager, "operator")
    assert chat(ai_manager, token, extra=True).json()["code"] == "unknown_field"
    assert chat(ai_manager, token, message="").json()["code"] == "validation_failed"
    assert chat(ai_manager, token, message="x" * 10_001).json()["code"] == "validation_failed"
    assert chat(ai_manager, token, provider="watson").status_code == 422
    assert chat(ai_manager, token, node_id=ai_manager.nodes["demo-edge-02"]["id"]).status_code == 404
    assert chat(ai_manager, token, provider="openai").json()["code"] == "ai_provider_not_configured"
    thread = chat(ai_manager, other).json()["thread_id"]
    assert chat(ai_manager, token, thread_id=thread).status_code == 404, "threads are private"
    with ai_manager.api(token) as api:
        assert api.get(f"/api/v1/ai/threads/{thread}").status_code == 404
        assert api.delete(f"/api/v1/ai/threads/{thread}").status_code == 404
    # a user with an allowlist: the model is told about its nodes only
    assert chat(ai_manager, token).status_code == 200
    body = fakes.ollama.chat_requests()[-1].body
    assert ai_manager.nodes["demo-edge-01"]["id"] in body
    for name in ("demo-edge-02", "demo-edge-03", "demo-relay-01"):
        assert ai_manager.nodes[name]["id"] not in body and name not in body


def test_cloud_providers_can_be_turned_off_for_a_local_only_installation(tmp_path, fakes):
    proc = ManagerProcess(tmp_path / "local-only", extra_env=fakes.env())
    proc.setup()
    config = proc.config_dir / "config.toml"
    text = config.read_text()
    assert "# cloud_enabled = true" in text
    config.write_text(text.replace("# cloud_enabled = true", "cloud_enabled = false"))
    proc.start()
    try:
        token = proc.token()
        proc.put_settings(token, ollama_url=fakes.ollama.url)
        with proc.api(token) as api:
            status = api.get("/api/v1/ai/providers").json()
            assert [p["id"] for p in status["providers"]] == ["ollama"] and status["cloud_enabled"] is False
            stored = api.post("/api/v1/ai/keys", json={"provider": "openai", "api_key": OPENAI_KEY})
            assert stored.status_code == 422 and stored.json()["code"] == "ai_provider_not_configured"
            refused = api.put("/api/v1/settings", json={"settings": {"ai_default_provider": "openai"}})
            assert refused.json()["code"] == "ai_provider_not_configured"
        response = chat(proc, token, provider="anthropic")
        assert response.status_code == 422 and response.json()["code"] == "ai_provider_not_configured"
        assert chat(proc, token).status_code == 200, "Ollama still answers"
        assert not fakes.anthropic.requests and not fakes.openai.requests
    finally:
        proc.stop()


# -- a real Ollama --------------------------------------------------------------------------------

def _real_ollama() -> list[str] | None:
    try:
        with socket.create_connection(("127.0.0.1", 11434), timeout=0.5):
            pass
        models = httpx.get("http://127.0.0.1:11434/api/tags", timeout=2).json().get("models", [])
        return [m["model"] for m in models]
    except (OSError, httpx.HTTPError, ValueError):
        return None


def test_against_a_real_ollama_when_one_is_running(tmp_path):
    models = _real_ollama()
    if models is None:
        pytest.skip("no Ollama at http://127.0.0.1:11434 (start one with `ollama serve` to run this test)")
    if not models:
        pytest.skip("Ollama at http://127.0.0.1:11434 has no model (run `ollama pull llama3.1:8b`)")
    proc = ManagerProcess(tmp_path / "real-ollama")      # real timeouts: no test override
    proc.setup()
    proc.start("--demo", "3")
    try:
        token = proc.token()
        proc.put_settings(token, ollama_url="http://127.0.0.1:11434", ai_default_model=models[0])
        status = providers(proc, token)["ollama"]
        assert status["reachable"] is True and set(models) <= set(status["models"])
        assert status["model_missing"] is False
        with proc.api(token) as api:
            response = api.post("/api/v1/ai/chat", timeout=200, json={
                "message": "How many nodes can I see? Answer in one sentence.", "provider": "ollama"})
        assert response.status_code == 200, response.text
        assert response.json()["message"]["content"].strip()
        assert response.json()["message"]["model"] == models[0]
    finally:
        proc.stop()
