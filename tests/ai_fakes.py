"""Fake model providers speaking the real wire formats, for the AI assistant tests.

One Tornado server per provider, in a background thread, on 127.0.0.1:

* Ollama — GET /api/tags, POST /api/chat (NDJSON stream or one JSON object), GET /api/version;
  a model that is not installed answers 404 `{"error": "model \\"x\\" not found, try pulling it first"}`.
* OpenAI — POST /v1/chat/completions (`chat.completion`, or SSE `chat.completion.chunk` then
  `data: [DONE]`), GET /v1/models; `Authorization: Bearer <key>`.
* Anthropic — POST /v1/messages (a `tool_use` block, or SSE message_start / content_block_start /
  content_block_delta `input_json_delta` / content_block_stop / message_delta / message_stop),
  GET /v1/models; `x-api-key` and `anthropic-version` headers.
* Gemini — POST /v1beta/models/{model}:generateContent and :streamGenerateContent?alt=sse,
  GET /v1beta/models; `x-goog-api-key`.

Each fake checks the request the way the real API would (400 with the provider's error body
when it is malformed, 401 for a wrong key), records every request (path, headers, raw body),
and answers from a script: a queue of steps the test pushes (a reply object, a function of the
request that returns one, raw text, an HTTP error, a delay). With an empty script a small
rule-based "model" answers from the context it was given (see `default_brain`).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import tornado.httpserver
import tornado.web

CHUNK = 12            # characters per streamed fragment
CHUNK_DELAY = 0.01    # seconds between fragments


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Recorded:
    provider: str
    method: str
    path: str
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Step:
    reply: Any = None                       # dict, or callable(Context) -> dict
    text: str | None = None                 # raw answer text instead of JSON
    status: int | None = None               # answer with this HTTP error instead
    delay: float = 0.0                      # seconds before answering
    retry_after: str | None = None


@dataclass
class Context:
    """What the fake model sees: the system text, the conversation and the raw request."""
    system: str
    messages: list[dict]
    request: dict
    model: str

    @property
    def last_user(self) -> str:
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        return users[-1] if users else ""

    def nodes(self) -> list[dict]:
        """The node objects of the NODES / FOCUS sections (one JSON object per line)."""
        found = []
        for line in self.system.splitlines():
            line = line.strip()
            if line.startswith("{") and '"id"' in line and '"type"' in line:
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict) and "name" in value:
                    found.append(value)
        return found

    def node_named(self, text: str) -> dict | None:
        wanted = _norm(text)
        for node in self.nodes():
            if _norm(node["name"]) == wanted or _norm(node["name"]).endswith(wanted) or wanted in _norm(node["name"]):
                return node
        return None


def _norm(text: str) -> str:
    text = text.lower().replace("-", " ").replace("_", " ")
    text = re.sub(r"\b0+(\d)", r"\1", text)
    return " ".join(text.split())


_CREATE = re.compile(r"(?:create|add|make)\s+an?\s+srt\s+listener\s+on\s+(.+?)\s+port\s+(\d+)"
                     r".*?(?:rtp|udp)\s+to\s+([\d.]+:\d+)", re.IGNORECASE | re.DOTALL)


def default_brain(ctx: Context) -> dict:
    """A tiny rule-based model: it reads the context like a real one would."""
    message = ctx.last_user
    match = _CREATE.search(message)
    if match and "You may not propose any action" not in ctx.system:
        node = ctx.node_named(match.group(1))
        port, dest = int(match.group(2)), match.group(3)
        if node is None:
            return {"reply": f"I cannot find a node called {match.group(1)}.", "proposals": []}
        flow_id = f"srt-{port}"
        return {
            "reply": (f"### Proposal\nCreate flow `{flow_id}` on **{node['name']}**: an SRT listener on "
                      f"`0.0.0.0:{port}` feeding RTP to `{dest}`.\n\n| Leg | Address |\n|---|---|\n"
                      f"| SRT in | `0.0.0.0:{port}` |\n| RTP out | `{dest}` |"),
            "proposals": [{
                "node_id": node["id"], "title": f"Create flow SRT {port} to RTP on {node['name']}",
                "summary": f"New SRT listener on port {port} with one RTP output to {dest}.",
                "action": {"type": "deploy_flow",
                           "inputs": [{"id": f"srt-in-{port}", "name": f"SRT {port}", "type": "srt",
                                       "mode": "listener", "local_addr": f"0.0.0.0:{port}", "latency_ms": 200}],
                           "outputs": [{"id": f"rtp-out-{port}", "name": f"RTP to {dest}", "type": "rtp",
                                        "dest_addr": dest}],
                           "flow": {"id": flow_id, "name": f"SRT {port} to RTP", "enabled": True,
                                    "input_ids": [f"srt-in-{port}"], "output_ids": [f"rtp-out-{port}"]}}}],
        }
    nodes = ctx.nodes()
    rows = "\n".join(f"| {n['name']} | {n['type']} | {n.get('status')} |" for n in nodes)
    return {"reply": f"### Current status\nYou can see **{len(nodes)}** nodes.\n\n| Node | Type | Status |\n"
                     f"|---|---|---|\n{rows}\n\nAll values come from the manager's cached state.",
            "proposals": []}


class FakeProvider:
    name = ""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[Recorded] = []
        self.script: list[Step] = []
        self.brain: Callable[[Context], dict] = default_brain
        self.lock = threading.Lock()
        self.keys: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- test control -------------------------------------------------------------------------
    def push(self, *steps: Step) -> None:
        with self.lock:
            self.script.extend(steps)

    def reset(self) -> None:
        with self.lock:
            self.script.clear()
            self.requests.clear()

    def record(self, handler: tornado.web.RequestHandler) -> Recorded:
        rec = Recorded(self.name, handler.request.method, handler.request.uri,
                       {k.lower(): v for k, v in handler.request.headers.items()},
                       handler.request.body.decode("utf-8", "replace"))
        with self.lock:
            self.requests.append(rec)
        return rec

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def next_step(self) -> Step:
        with self.lock:
            return self.script.pop(0) if self.script else Step()

    def answer(self, step: Step, ctx: Context) -> str:
        if step.text is not None:
            return step.text
        reply = step.reply if step.reply is not None else self.brain
        value = reply(ctx) if callable(reply) else reply
        return json.dumps(value, ensure_ascii=False)

    def routes(self) -> list:
        raise NotImplementedError


class _Base(tornado.web.RequestHandler):
    fake: FakeProvider

    def initialize(self, fake: FakeProvider) -> None:
        self.fake = fake

    def check_xsrf_cookie(self) -> None:
        return None

    def send_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    async def pieces(self, text: str):
        for start in range(0, len(text), CHUNK):
            yield text[start:start + CHUNK]
            await asyncio.sleep(CHUNK_DELAY)

    def body_json(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except ValueError:
            return None


# -- Ollama -------------------------------------------------------------------------------------

class FakeOllama(FakeProvider):
    name = "ollama"

    def __init__(self, models: tuple[str, ...] = ("llama3.1:8b", "qwen2.5:7b-instruct")) -> None:
        super().__init__()
        self.models = list(models)

    def routes(self) -> list:
        return [(r"/api/tags", OllamaTags, {"fake": self}), (r"/api/chat", OllamaChat, {"fake": self}),
                (r"/api/version", OllamaVersion, {"fake": self})]


def _ollama_has(models: list[str], name: str) -> bool:
    full = name if ":" in name else f"{name}:latest"
    return any((m if ":" in m else f"{m}:latest") == full for m in models)


class OllamaVersion(_Base):
    def get(self) -> None:
        self.send_json({"version": "0.12.0"})


class OllamaTags(_Base):
    def get(self) -> None:
        self.fake.record(self)
        self.send_json({"models": [{"name": m, "model": m, "modified_at": "2026-05-01T10:00:00.000000000Z",
                                    "size": 4_920_753_328, "digest": uuid.uuid4().hex * 2,
                                    "details": {"parent_model": "", "format": "gguf", "family": "llama",
                                                "families": ["llama"], "parameter_size": "8.0B",
                                                "quantization_level": "Q4_K_M"}} for m in self.fake.models]})


class OllamaChat(_Base):
    async def post(self) -> None:
        self.fake.record(self)
        body = self.body_json()
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            self.send_json({"error": "model is required"}, 400)
            return
        model = body["model"]
        if not _ollama_has(self.fake.models, model):
            self.send_json({"error": f"model \"{model}\" not found, try pulling it first"}, 404)
            return
        step = self.fake.next_step()
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status:
            self.send_json({"error": f"fake ollama error {step.status}"}, step.status)
            return
        system = "\n".join(m.get("content", "") for m in body["messages"] if m.get("role") == "system")
        ctx = Context(system, [m for m in body["messages"] if m.get("role") != "system"], body, model)
        text = self.fake.answer(step, ctx)
        created = "2026-05-18T00:36:20.123456789Z"
        stats = {"done_reason": "stop", "total_duration": 812_000_000, "load_duration": 2_000_000,
                 "prompt_eval_count": max(1, len(json.dumps(body)) // 4), "prompt_eval_duration": 300_000_000,
                 "eval_count": max(1, len(text) // 4), "eval_duration": 500_000_000}
        if body.get("stream") is False:
            self.send_json({"model": model, "created_at": created,
                            "message": {"role": "assistant", "content": text}, "done": True, **stats})
            return
        self.set_header("Content-Type", "application/x-ndjson")
        async for piece in self.pieces(text):
            self.write(json.dumps({"model": model, "created_at": created,
                                   "message": {"role": "assistant", "content": piece}, "done": False}) + "\n")
            await self.flush()
        self.write(json.dumps({"model": model, "created_at": created, "message": {"role": "assistant", "content": ""},
                               "done": True, **stats}) + "\n")
        self.finish()


# -- OpenAI -------------------------------------------------------------------------------------

class FakeOpenAI(FakeProvider):
    name = "openai"
    models = ("gpt-4.1", "gpt-4.1-mini", "gpt-4o-mini", "text-embedding-3-small", "whisper-1")

    def routes(self) -> list:
        return [(r"/v1/chat/completions", OpenAIChat, {"fake": self}), (r"/v1/models", OpenAIModels, {"fake": self})]


class _OpenAIBase(_Base):
    def authorised(self) -> bool:
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.fake.keys:
            self.send_json({"error": {"message": "Incorrect API key provided: sk-...REDACTED. You can find your API key "
                                                 "at https://platform.openai.com/account/api-keys.",
                                      "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}, 401)
            return False
        return True


class OpenAIModels(_OpenAIBase):
    def get(self) -> None:
        self.fake.record(self)
        if self.authorised():
            self.send_json({"object": "list", "data": [{"id": m, "object": "model", "created": 1715367049,
                                                        "owned_by": "system"} for m in self.fake.models]})


class OpenAIChat(_OpenAIBase):
    async def post(self) -> None:
        self.fake.record(self)
        if not self.authorised():
            return
        body = self.body_json()
        problem = _openai_problem(body)
        if problem:
            self.send_json({"error": {"message": problem, "type": "invalid_request_error", "param": None,
                                      "code": None}}, 400)
            return
        step = self.fake.next_step()
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status:
            if step.retry_after:
                self.set_header("Retry-After", step.retry_after)
            kind = "rate_limit_exceeded" if step.status == 429 else "server_error"
            self.send_json({"error": {"message": f"fake {kind}", "type": kind, "param": None, "code": kind}},
                           step.status)
            return
        system = "\n".join(m["content"] for m in body["messages"] if m["role"] in ("system", "developer"))
        ctx = Context(system, [m for m in body["messages"] if m["role"] in ("user", "assistant")], body, body["model"])
        text = self.fake.answer(step, ctx)
        ident, created = "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time())
        usage = {"prompt_tokens": len(self.request.body) // 4, "completion_tokens": len(text) // 4}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            self.send_json({"id": ident, "object": "chat.completion", "created": created, "model": body["model"],
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                                 "refusal": None, "annotations": []},
                                         "logprobs": None, "finish_reason": "stop"}],
                            "usage": usage, "service_tier": "default", "system_fingerprint": "fp_fake"})
            return
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": body["model"],
                "system_fingerprint": "fp_fake"}

        def event(choices: list, **extra: Any) -> str:
            return "data: " + json.dumps({**base, "choices": choices, **extra}) + "\n\n"

        self.write(event([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                           "logprobs": None, "finish_reason": None}]))
        async for piece in self.pieces(text):
            self.write(event([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}]))
            await self.flush()
        self.write(event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            self.write(event([], usage=usage))
        self.write("data: [DONE]\n\n")
        self.finish()


def _openai_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for m in messages:
        if m.get("role") not in ("system", "developer", "user", "assistant", "tool") or not isinstance(m.get("content"), str):
            return "Invalid value for 'messages'"
    fmt = body.get("response_format")
    if fmt is not None:
        if fmt.get("type") != "json_schema" or not isinstance((fmt.get("json_schema") or {}).get("schema"), dict) \
                or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str((fmt.get("json_schema") or {}).get("name"))):
            return "Invalid 'response_format'"
    if "max_tokens" in body and "max_completion_tokens" in body:
        return "max_tokens and max_completion_tokens cannot both be set"
    return None


# -- Anthropic ----------------------------------------------------------------------------------

class FakeAnthropic(FakeProvider):
    name = "anthropic"
    models = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805")

    def routes(self) -> list:
        return [(r"/v1/messages", AnthropicMessages, {"fake": self}), (r"/v1/models", AnthropicModels, {"fake": self})]


class _AnthropicBase(_Base):
    def authorised(self) -> bool:
        if not self.request.headers.get("anthropic-version"):
            self.send_json({"type": "error", "error": {"type": "invalid_request_error",
                                                       "message": "anthropic-version: header is required"}}, 400)
            return False
        if self.request.headers.get("x-api-key", "") not in self.fake.keys:
            self.send_json({"type": "error", "error": {"type": "authentication_error",
                                                       "message": "invalid x-api-key"}}, 401)
            return False
        return True


class AnthropicModels(_AnthropicBase):
    def get(self) -> None:
        self.fake.record(self)
        if self.authorised():
            data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z"}
                    for m in self.fake.models]
            self.send_json({"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]})


class AnthropicMessages(_AnthropicBase):
    async def post(self) -> None:
        self.fake.record(self)
        if not self.authorised():
            return
        body = self.body_json()
        problem = _anthropic_problem(body)
        if problem:
            self.send_json({"type": "error", "error": {"type": "invalid_request_error", "message": problem}}, 400)
            return
        step = self.fake.next_step()
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status:
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(step.status, "api_error")
            self.send_json({"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}, step.status)
            return
        system = body.get("system") if isinstance(body.get("system"), str) else \
            "\n".join(b.get("text", "") for b in body.get("system") or [])
        messages = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str)
                     else "".join(b.get("text", "") for b in m["content"])} for m in body["messages"]]
        ctx = Context(system, messages, body, body["model"])
        text = self.fake.answer(step, ctx)
        tool = None
        choice = body.get("tool_choice") or {}
        if choice.get("type") == "tool":
            tool = next(t for t in body["tools"] if t["name"] == choice["name"])
        msg_id, tool_id = "msg_" + uuid.uuid4().hex[:24], "toolu_" + uuid.uuid4().hex[:24]
        in_tokens, out_tokens = len(self.request.body) // 4, max(1, len(text) // 4)
        if tool is not None:
            try:
                tool_input = json.loads(text)
            except ValueError:
                tool_input = {"reply": text}
                text = json.dumps(tool_input)
            block = {"type": "tool_use", "id": tool_id, "name": tool["name"], "input": tool_input}
            stop = "tool_use"
        else:
            block = {"type": "text", "text": text}
            stop = "end_turn"
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": body["model"], "content": [block],
                   "stop_reason": stop, "stop_sequence": None,
                   "usage": {"input_tokens": in_tokens, "output_tokens": out_tokens}}
        if not body.get("stream"):
            self.send_json(message)
            return
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")

        def event(name: str, data: dict) -> str:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n"

        start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": in_tokens, "output_tokens": 1}}
        self.write(event("message_start", {"type": "message_start", "message": start}))
        empty = {"type": "tool_use", "id": tool_id, "name": tool["name"], "input": {}} if tool else {"type": "text", "text": ""}
        self.write(event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": empty}))
        self.write(event("ping", {"type": "ping"}))
        async for piece in self.pieces(text):
            delta = {"type": "input_json_delta", "partial_json": piece} if tool else {"type": "text_delta", "text": piece}
            self.write(event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
            await self.flush()
        self.write(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        self.write(event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                           "usage": {"output_tokens": out_tokens}}))
        self.write(event("message_stop", {"type": "message_stop"}))
        self.finish()


def _anthropic_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return "messages: first message must use the \"user\" role"
    for a, b in zip(messages, messages[1:]):
        if a.get("role") == b.get("role"):
            return "messages: roles must alternate between \"user\" and \"assistant\""
    for m in messages:
        if m.get("role") not in ("user", "assistant"):
            return "messages: Unexpected role. Only user and assistant are allowed; use the top-level system parameter"
    choice = body.get("tool_choice")
    if choice is not None:
        names = [t.get("name") for t in body.get("tools") or []]
        if choice.get("type") == "tool" and choice.get("name") not in names:
            return "tool_choice: tool not found in tools"
        for tool in body.get("tools") or []:
            if not isinstance(tool.get("input_schema"), dict) or tool["input_schema"].get("type") != "object":
                return "tools.0.input_schema: type must be object"
    return None


# -- Gemini -------------------------------------------------------------------------------------

class FakeGemini(FakeProvider):
    name = "gemini"
    models = ("gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004")

    def routes(self) -> list:
        return [(r"/v1beta/models", GeminiModels, {"fake": self}),
                (r"/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)", GeminiGenerate, {"fake": self})]


class _GeminiBase(_Base):
    def authorised(self) -> bool:
        if self.get_query_argument("key", None) is not None:
            pass  # real Gemini accepts ?key= too; we want the header, and the test checks the URL
        if self.request.headers.get("x-goog-api-key", "") not in self.fake.keys:
            self.send_json({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                      "status": "INVALID_ARGUMENT"}}, 400)
            return False
        return True


class GeminiModels(_GeminiBase):
    def get(self) -> None:
        self.fake.record(self)
        if self.authorised():
            self.send_json({"models": [{"name": f"models/{m}", "displayName": m, "version": "001",
                                        "supportedGenerationMethods": ["embedContent"] if "embedding" in m
                                        else ["generateContent", "countTokens", "createCachedContent"]}
                                       for m in self.fake.models]})


class GeminiGenerate(_GeminiBase):
    async def post(self, model: str, method: str) -> None:
        self.fake.record(self)
        if not self.authorised():
            return
        body = self.body_json()
        problem = _gemini_problem(body)
        if problem:
            self.send_json({"error": {"code": 400, "message": problem, "status": "INVALID_ARGUMENT"}}, 400)
            return
        if model not in self.fake.models:
            self.send_json({"error": {"code": 404, "message": f"models/{model} is not found for API version v1beta",
                                      "status": "NOT_FOUND"}}, 404)
            return
        step = self.fake.next_step()
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.status:
            status = {429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(step.status, "INTERNAL")
            self.send_json({"error": {"code": step.status, "message": f"fake {status}", "status": status}}, step.status)
            return
        system = "".join(p.get("text", "") for p in (body.get("systemInstruction") or {}).get("parts", []))
        messages = [{"role": "assistant" if c.get("role") == "model" else "user",
                     "content": "".join(p.get("text", "") for p in c.get("parts", []))} for c in body["contents"]]
        ctx = Context(system, messages, body, model)
        text = self.fake.answer(step, ctx)
        usage = {"promptTokenCount": len(self.request.body) // 4, "candidatesTokenCount": max(1, len(text) // 4)}
        usage["totalTokenCount"] = usage["promptTokenCount"] + usage["candidatesTokenCount"]

        def chunk(piece: str, finish: str | None) -> dict:
            candidate = {"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model,
                    "responseId": uuid.uuid4().hex[:20]}

        if method == "generateContent":
            self.send_json(chunk(text, "STOP"))
            return
        if self.get_query_argument("alt", "") != "sse":
            self.send_json({"error": {"code": 400, "message": "this fake streams only with alt=sse",
                                      "status": "INVALID_ARGUMENT"}}, 400)
            return
        self.set_header("Content-Type", "text/event-stream")
        pieces = [p async for p in self.pieces(text)] or [""]
        for index, piece in enumerate(pieces):
            self.write("data: " + json.dumps(chunk(piece, "STOP" if index == len(pieces) - 1 else None)) + "\r\n\r\n")
            await self.flush()
        self.finish()


def _gemini_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
        return "* GenerateContentRequest.contents: contents is not specified"
    for content in body["contents"]:
        if content.get("role") not in ("user", "model"):
            return "Please use a valid role: user, model."
        if not content.get("parts"):
            return "* GenerateContentRequest.contents.parts: contents.parts must not be empty."
    config = body.get("generationConfig") or {}
    if "responseSchema" in config and "responseJsonSchema" in config:
        return "responseSchema and responseJsonSchema cannot both be set"
    if ("responseJsonSchema" in config or "responseSchema" in config) and config.get("responseMimeType") != "application/json":
        return "responseMimeType must be application/json with a response schema"
    return None


# -- running them -------------------------------------------------------------------------------

@dataclass
class Fakes:
    ollama: FakeOllama = field(default_factory=FakeOllama)
    openai: FakeOpenAI = field(default_factory=FakeOpenAI)
    anthropic: FakeAnthropic = field(default_factory=FakeAnthropic)
    gemini: FakeGemini = field(default_factory=FakeGemini)

    def __post_init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[tornado.httpserver.HTTPServer] = []

    @property
    def all(self) -> list[FakeProvider]:
        return [self.ollama, self.openai, self.anthropic, self.gemini]

    def env(self) -> dict[str, str]:
        """The manager's environment: cloud base URLs pointing here."""
        return {"BILBYCAST_OPENAI_BASE_URL": self.openai.url, "BILBYCAST_ANTHROPIC_BASE_URL": self.anthropic.url,
                "BILBYCAST_GEMINI_BASE_URL": self.gemini.url}

    def start(self) -> "Fakes":
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            for fake in self.all:
                app = tornado.web.Application(fake.routes())
                server = tornado.httpserver.HTTPServer(app)
                server.listen(fake.port, "127.0.0.1")
                self._servers.append(server)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="ai-fakes", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return

        def shutdown() -> None:
            for server in self._servers:
                server.stop()
            self._loop.stop()

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(5)

    def reset(self) -> None:
        for fake in self.all:
            fake.reset()
            fake.brain = default_brain

    def all_requests(self) -> list[Recorded]:
        return [r for fake in self.all for r in fake.requests]
