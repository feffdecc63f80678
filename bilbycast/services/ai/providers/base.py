"""One interface for every model provider, plus the pieces they share: errors, retries on
429/5xx inside the overall timeout, and a Server-Sent Events reader.

A provider gets the system text, the conversation and the reply schema, asks its API for a
structured reply (JSON-schema output or a forced tool call), and returns the raw JSON text of
the answer. While streaming it passes each raw text fragment to `on_text` as it arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx

from ..limits import RETRY_AFTER_CAP_SECS, RETRY_ATTEMPTS, RETRY_STATUSES

OnText = Callable[[str], None]


class ProviderError(Exception):
    """kind: "error" (502 ai_provider_error), "timeout" (504), "not_configured" (422).

    `message` is safe to show: it never holds the API key or a prompt."""

    def __init__(self, kind: str, message: str, *, status: int | None = None, fix: str | None = None,
                 retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.fix = fix
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass
class ChatRequest:
    model: str
    system: str
    messages: list[dict[str, str]]          # [{"role": "user" | "assistant", "content": str}]
    schema: dict[str, Any]
    timeout: float
    stream: bool = True
    num_ctx: int | None = None
    max_output_tokens: int = 4096


@dataclass
class ChatResult:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class Provider:
    id: str = ""
    display_name: str = ""
    local: bool = False
    key_required: bool = True
    builtin_models: tuple[str, ...] = ()
    key_placeholder: str = ""

    @property
    def default_model(self) -> str:
        return self.builtin_models[0] if self.builtin_models else ""

    async def list_models(self, key: str | None, timeout: float) -> list[str]:
        raise NotImplementedError

    async def chat(self, request: ChatRequest, key: str | None, on_text: OnText | None) -> ChatResult:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def scrub_message(text: Any, *secrets: str | None, limit: int = 500) -> str:
    """A provider's error text, made safe to show: no key, no control characters, bounded."""
    out = str(text if text is not None else "")
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, "••••••")
    out = "".join(c if c.isprintable() or c == " " else " " for c in out)
    return out.strip()[:limit] or "no details"


def error_text(body: Any) -> str:
    """The human message inside the usual provider error bodies."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or err)
        if isinstance(err, str):
            return err
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(body)[:500]


def status_error(provider: str, status: int, body_text: str, key: str | None,
                 retry_after_header: str | None = None) -> ProviderError:
    try:
        body = json.loads(body_text)
    except ValueError:
        body = body_text
    detail = scrub_message(error_text(body), key)
    retry_after = None
    if retry_after_header:
        try:
            retry_after = min(RETRY_AFTER_CAP_SECS, max(0.0, float(retry_after_header)))
        except ValueError:
            retry_after = None
    if status in (401, 403):
        message = f"{provider} refused the API key (HTTP {status}): {detail}"
    elif status == 429:
        message = f"{provider} is rate-limiting requests (HTTP 429): {detail}"
    else:
        message = f"{provider} answered HTTP {status}: {detail}"
    return ProviderError("error", message, status=status, retryable=status in RETRY_STATUSES,
                         retry_after=retry_after)


async def with_retries(attempt: Callable[[], Awaitable[Any]], deadline: float,
                       on_retry: Callable[[int], None] | None = None) -> tuple[Any, int]:
    """Run `attempt` again after a retryable ProviderError (429/5xx), at most RETRY_ATTEMPTS
    times, backing off 1 s then 2 s (or the server's Retry-After, capped) while time is left."""
    last: ProviderError | None = None
    for number in range(1, RETRY_ATTEMPTS + 1):
        try:
            return await attempt(), number
        except ProviderError as exc:
            last = exc
            if not exc.retryable or number == RETRY_ATTEMPTS:
                raise
            delay = exc.retry_after if exc.retry_after is not None else float(2 ** (number - 1))
            if time.monotonic() + delay >= deadline:
                raise
            if on_retry:
                on_retry(number)
            await asyncio.sleep(delay)
    raise last  # pragma: no cover


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body; events without a name are "message"."""
    event, data_lines = "message", []
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk
        while True:
            cut = _line_end(buffer)
            if cut is None:
                break
            line, buffer = buffer[:cut[0]], buffer[cut[1]:]
            if line == "":
                if data_lines:
                    yield event, "\n".join(data_lines)
                event, data_lines = "message", []
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data_lines.append(value)
    if data_lines:
        yield event, "\n".join(data_lines)


def _line_end(buffer: str) -> tuple[int, int] | None:
    for index, char in enumerate(buffer):
        if char == "\n":
            return index, index + 1
        if char == "\r":
            if index + 1 < len(buffer):
                return index, index + (2 if buffer[index + 1] == "\n" else 1)
            return None        # wait: the "\n" of a "\r\n" may be in the next chunk
    return None


def http_failure(provider: str, exc: Exception) -> ProviderError:
    """Map an httpx transport error to a ProviderError (timeouts are the caller's business)."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError("timeout", f"{provider} did not answer in time")
    if isinstance(exc, httpx.ConnectError):
        return ProviderError("error", f"Cannot connect to {provider}: {scrub_message(exc)}", retryable=False)
    return ProviderError("error", f"{provider} request failed: {type(exc).__name__}: {scrub_message(exc)}",
                         retryable=isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)))
