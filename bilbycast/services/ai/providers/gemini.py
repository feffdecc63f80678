"""Google Gemini: `generateContent` / `streamGenerateContent?alt=sse` with JSON output
(`responseMimeType: application/json` and `responseJsonSchema`). A `functionCall` part, should a
model answer with one, is read too. Key in `x-goog-api-key` (never in the URL).

Base URL: https://generativelanguage.googleapis.com, or BILBYCAST_GEMINI_BASE_URL (see limits.py)."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from .base import ChatRequest, ChatResult, OnText, ProviderError, sse_events
from .cloud import CloudProvider, usage_result


class GeminiProvider(CloudProvider):
    id = "gemini"
    display_name = "Google Gemini"
    builtin_models = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite")
    key_placeholder = "AIza..."

    def headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key, "Content-Type": "application/json"}

    async def list_models(self, key: str | None, timeout: float) -> list[str]:
        names: list[str] = []
        token = None
        for _ in range(5):
            params = {"pageSize": 100, **({"pageToken": token} if token else {})}
            body = await self.get_json("/v1beta/models", key or "", timeout, params=params)
            for model in body.get("models", []) if isinstance(body, dict) else []:
                methods = model.get("supportedGenerationMethods") or []
                name = str(model.get("name") or "")
                if "generateContent" in methods and name.startswith("models/") and "gemini" in name:
                    names.append(name.split("/", 1)[1])
            token = body.get("nextPageToken") if isinstance(body, dict) else None
            if not token:
                break
        return names

    def body(self, request: ChatRequest) -> dict:
        contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                    for m in request.messages]
        return {"systemInstruction": {"parts": [{"text": request.system}]},
                "contents": contents,
                "generationConfig": {"responseMimeType": "application/json",
                                     "responseJsonSchema": request.schema,
                                     "maxOutputTokens": request.max_output_tokens,
                                     "temperature": 0.2}}

    def _path(self, model: str, stream: bool) -> str:
        name = quote(model, safe="-._")
        return f"/v1beta/models/{name}:streamGenerateContent?alt=sse" if stream \
            else f"/v1beta/models/{name}:generateContent"

    @staticmethod
    def _parts(chunk: dict) -> list[dict]:
        candidates = chunk.get("candidates") or []
        if not candidates:
            feedback = chunk.get("promptFeedback") or {}
            if feedback.get("blockReason"):
                raise ProviderError("error", f"Gemini blocked the prompt ({feedback['blockReason']})")
            return []
        content = candidates[0].get("content") or {}
        return [p for p in content.get("parts") or [] if isinstance(p, dict)]

    async def chat(self, request: ChatRequest, key: str | None, on_text: OnText | None) -> ChatResult:
        deadline = time.monotonic() + request.timeout
        body = self.body(request)
        if not request.stream:
            data, attempts = await self.post_json(self._path(request.model, False), key or "", body,
                                                  request.timeout, deadline)
            text = ""
            for part in self._parts(data if isinstance(data, dict) else {}):
                if "functionCall" in part:
                    text = json.dumps((part["functionCall"] or {}).get("args") or {}, ensure_ascii=False)
                    break
                if isinstance(part.get("text"), str) and not part.get("thought"):
                    text += part["text"]
            usage = (data or {}).get("usageMetadata") or {}
            return usage_result(text, usage.get("promptTokenCount"), usage.get("candidatesTokenCount"), attempts)
        pieces: list[str] = []
        usage: dict = {}
        async with self.stream_post(self._path(request.model, True), key or "", body, request.timeout,
                                    deadline) as (response, attempts):
            async for _, data in sse_events(response):
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue
                if isinstance(chunk.get("error"), dict):
                    raise ProviderError("error", f"Gemini stream error: {str(chunk['error'].get('message'))[:300]}")
                if isinstance(chunk.get("usageMetadata"), dict):
                    usage = chunk["usageMetadata"]
                for part in self._parts(chunk):
                    if "functionCall" in part:
                        text = json.dumps((part["functionCall"] or {}).get("args") or {}, ensure_ascii=False)
                    elif isinstance(part.get("text"), str) and not part.get("thought"):
                        text = part["text"]
                    else:
                        continue
                    if text:
                        pieces.append(text)
                        if on_text:
                            on_text(text)
        return usage_result("".join(pieces), usage.get("promptTokenCount"), usage.get("candidatesTokenCount"),
                            attempts)
