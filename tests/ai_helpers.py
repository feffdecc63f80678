"""Fixtures and helpers shared by the AI assistant tests: the fake providers, a manager with a
simulated fleet pointed at them, users of each role, and a reader for the streamed chat."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest

from ai_fakes import Fakes
from manager_process import USER_PASSWORD, ManagerProcess

TEST_TIMEOUT_SECS = "5"
OPENAI_KEY = "sk-test-openai-5f1b2c3d4e5f60718293a4b5"
ANTHROPIC_KEY = "sk-ant-test-anthropic-0a1b2c3d4e5f6071829"
GEMINI_KEY = "AIzaTestGeminiKey0123456789abcdefABCDEF"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def fakes():
    started = Fakes().start()
    started.openai.keys = {OPENAI_KEY}
    started.anthropic.keys = {ANTHROPIC_KEY}
    started.gemini.keys = {GEMINI_KEY}
    yield started
    started.stop()


@pytest.fixture(scope="module")
def ai_manager(tmp_path_factory, fakes):
    """`serve --demo 5` with the cloud base URLs and the Ollama URL pointing at the fakes."""
    proc = ManagerProcess(tmp_path_factory.mktemp("ai"),
                          extra_env={**fakes.env(), "BILBYCAST_AI_TIMEOUT_SECS": TEST_TIMEOUT_SECS})
    proc.setup()
    proc.start("--demo", "5")
    token = proc.token()
    proc.relax_login_limits(token)
    proc.put_settings(token, ollama_url=fakes.ollama.url)
    proc.admin_token = token
    proc.nodes = wait_for_fleet(proc, token)
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def _fresh_script(request):
    if "fakes" in request.fixturenames:
        request.getfixturevalue("fakes").reset()
    yield


def wait_for_fleet(proc: ManagerProcess, token: str) -> dict[str, dict]:
    """Every demo node online and every edge's config cached (the assistant reads cached state)."""
    with proc.api(token) as api:
        deadline = time.monotonic() + 30
        while True:
            nodes = api.get("/api/v1/nodes").json()
            if len(nodes) == 5 and all(n["status"] == "online" for n in nodes):
                break
            assert time.monotonic() < deadline, nodes
            time.sleep(0.2)
        for node in nodes:
            if node["device_type"] == "edge":
                assert api.get(f"/api/v1/nodes/{node['id']}/config").status_code == 200
        return {n["name"]: n for n in nodes}


def new_user(proc: ManagerProcess, role: str, **fields) -> tuple[str, str]:
    """(username, bearer token) of a fresh user (each has its own chat rate limit)."""
    name = f"{role}{next(_names)}"
    proc.create_user(proc.admin_token, name, role, **fields)
    return name, proc.token(name, USER_PASSWORD)


def chat(proc: ManagerProcess, token: str, **body) -> httpx.Response:
    with proc.api(token) as api:
        return api.post("/api/v1/ai/chat", json={"message": "hello", **body}, timeout=60)


def chat_stream(proc: ManagerProcess, token: str, **body) -> tuple[int, list[tuple[str, dict]]]:
    """POST /ai/chat with Accept: text/event-stream; returns (status, [(event, data)])."""
    events: list[tuple[str, dict]] = []
    with proc.api(token) as api:
        with api.stream("POST", "/api/v1/ai/chat", json={"message": "hello", **body}, timeout=60,
                        headers={"Accept": "text/event-stream"}) as response:
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                response.read()
                return response.status_code, [("json", response.json())]
            name, data = "message", []
            for line in response.iter_lines():
                if line == "":
                    if data:
                        events.append((name, json.loads("\n".join(data))))
                    name, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
            return response.status_code, events


def set_keys(proc: ManagerProcess, token: str) -> None:
    with proc.api(token) as api:
        for provider, key in (("openai", OPENAI_KEY), ("anthropic", ANTHROPIC_KEY), ("gemini", GEMINI_KEY)):
            response = api.post("/api/v1/ai/keys", json={"provider": provider, "api_key": key})
            assert response.status_code == 200, response.text
