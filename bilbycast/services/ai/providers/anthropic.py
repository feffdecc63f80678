"""Anthropic: the Messages API with one tool, `submit_reply`, whose input schema is the reply
schema, forced with `tool_choice`. Streamed as SSE (`message_start`, `content_block_start`,
`content_block_delta` with `input_json_delta` fragments, `message_delta`, `message_stop`).
Key in `x-api-key`, with `anthropic-version: 2023-06-01`.

Base URL: https://api.anthropic.com, or BILBYCAST_ANTHROPIC_BASE_URL (see limits.py)."""

from __future__ import annotations

import json
import time

from .base import ChatRequest, ChatResult, OnText, ProviderError, sse_events
from .cloud import CloudProvider, usage_result

API_VERSION = "2023-06-01"
TOOL_NAME = "submit_reply"


class AnthropicProvider(CloudProvider):
    id = "anthropic"
    display_name = "Anthropic"
    builtin_models = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
    key_placeholder = "sk-ant-..."

    def headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key, "anthropic-version": API_VERSION, "content-type": "application/json"}

    async def list_models(self, key: str | None, timeout: float) -> list[str]:
        body = await self.get_json("/v1/models", key or "", timeout, params={"limit": 100})
        data = body.get("data", []) if isinstance(body, dict) else []
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    def body(self, request: ChatRequest) -> dict:
        body = {"model": request.model, "max_tokens": request.max_output_tokens, "system": request.system,
                "messages": request.messages,
                "tools": [{"name": TOOL_NAME,
                           "description": "Submit the reply to the user (markdown) and any proposals.",
                           "input_schema": request.schema}],
                "tool_choice": {"type": "tool", "name": TOOL_NAME}}
        if request.stream:
            body["stream"] = True
        return body

    async def chat(self, request: ChatRequest, key: str | None, on_text: OnText | None) -> ChatResult:
        deadline = time.monotonic() + request.timeout
        body = self.body(request)
        if not request.stream:
            data, attempts = await self.post_json("/v1/messages", key or "", body, request.timeout, deadline)
            blocks = data.get("content") if isinstance(data, dict) else None
            text = ""
            for block in blocks or ():
                if block.get("type") == "tool_use" and block.get("name") == TOOL_NAME:
                    text = json.dumps(block.get("input") or {}, ensure_ascii=False)
                    break
                if block.get("type") == "text" and not text:
                    text = block.get("text") or ""
            usage = data.get("usage") or {}
            return usage_result(text, usage.get("input_tokens"), usage.get("output_tokens"), attempts)
        tool_json: list[str] = []
        plain: list[str] = []
        tool_blocks: set[int] = set()
        prompt_tokens = completion_tokens = None
        async with self.stream_post("/v1/messages", key or "", body, request.timeout, deadline) as (response, attempts):
            async for event, data in sse_events(response):
                try:
                    payload = json.loads(data)
                except ValueError:
                    continue
                kind = payload.get("type") or event
                if kind == "error":
                    err = payload.get("error") or {}
                    raise ProviderError("error", f"Anthropic stream error: {str(err.get('message'))[:300]}",
                                        retryable=False)
                if kind == "message_start":
                    usage = (payload.get("message") or {}).get("usage") or {}
                    prompt_tokens = usage.get("input_tokens")
                elif kind == "content_block_start":
                    block = payload.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        tool_blocks.add(payload.get("index"))
                elif kind == "content_block_delta":
                    delta = payload.get("delta") or {}
                    if delta.get("type") == "input_json_delta" and payload.get("index") in tool_blocks:
                        piece = delta.get("partial_json") or ""
                        if piece:
                            tool_json.append(piece)
                            if on_text:
                                on_text(piece)
                    elif delta.get("type") == "text_delta":
                        plain.append(delta.get("text") or "")
                elif kind == "message_delta":
                    completion_tokens = (payload.get("usage") or {}).get("output_tokens", completion_tokens)
                elif kind == "message_stop":
                    break
        text = "".join(tool_json) if tool_json else "".join(plain)
        return usage_result(text, prompt_tokens, completion_tokens, attempts)
