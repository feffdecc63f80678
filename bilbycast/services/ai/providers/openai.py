"""OpenAI: Chat Completions with a JSON-schema `response_format`, streamed as SSE
(`chat.completion.chunk` objects, then `data: [DONE]`). Key in `Authorization: Bearer`.

Base URL: https://api.openai.com, or BILBYCAST_OPENAI_BASE_URL (see limits.py)."""

from __future__ import annotations

import json
import re
import time

from .base import ChatRequest, ChatResult, OnText, ProviderError, sse_events
from .cloud import CloudProvider, usage_result

_CHAT_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-)")
_NOT_CHAT = re.compile(r"(audio|realtime|transcribe|tts|image|embedding|search|moderation|instruct)")


class OpenAIProvider(CloudProvider):
    id = "openai"
    display_name = "OpenAI"
    builtin_models = ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini", "o4-mini")
    key_placeholder = "sk-..."

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    async def list_models(self, key: str | None, timeout: float) -> list[str]:
        body = await self.get_json("/v1/models", key or "", timeout)
        ids = [m.get("id") for m in body.get("data", []) if isinstance(m, dict) and isinstance(m.get("id"), str)] \
            if isinstance(body, dict) else []
        chat = sorted({i for i in ids if _CHAT_MODEL.match(i) and not _NOT_CHAT.search(i)}, reverse=True)
        return chat or sorted(ids, reverse=True)

    def body(self, request: ChatRequest) -> dict:
        messages = [{"role": "system", "content": request.system}] + request.messages
        body = {"model": request.model, "messages": messages,
                "response_format": {"type": "json_schema", "json_schema": {
                    "name": "assistant_reply", "description": "The assistant's reply and its proposals",
                    "schema": request.schema, "strict": False}},
                "max_completion_tokens": request.max_output_tokens}
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def chat(self, request: ChatRequest, key: str | None, on_text: OnText | None) -> ChatResult:
        deadline = time.monotonic() + request.timeout
        body = self.body(request)
        if not request.stream:
            data, attempts = await self.post_json("/v1/chat/completions", key or "", body, request.timeout, deadline)
            try:
                message = data["choices"][0]["message"]
            except (KeyError, IndexError, TypeError):
                raise ProviderError("error", "OpenAI sent a reply without a message") from None
            if message.get("refusal"):
                raise ProviderError("error", f"OpenAI refused: {str(message['refusal'])[:300]}")
            usage = data.get("usage") or {}
            return usage_result(message.get("content") or "", usage.get("prompt_tokens"),
                                usage.get("completion_tokens"), attempts)
        pieces: list[str] = []
        usage: dict = {}
        async with self.stream_post("/v1/chat/completions", key or "", body, request.timeout,
                                    deadline) as (response, attempts):
            async for _, data in sse_events(response):
                if data.strip() == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue
                if isinstance(chunk.get("error"), dict):
                    raise ProviderError("error", f"OpenAI stream error: {str(chunk['error'].get('message'))[:300]}")
                if isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if isinstance(text, str) and text:
                        pieces.append(text)
                        if on_text:
                            on_text(text)
                    if delta.get("refusal"):
                        raise ProviderError("error", f"OpenAI refused: {str(delta['refusal'])[:300]}")
        return usage_result("".join(pieces), usage.get("prompt_tokens"), usage.get("completion_tokens"), attempts)
