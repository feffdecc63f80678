"""Ollama, the default, local provider: the `ollama` Python client against `ollama_url`.

/api/tags lists the installed models; /api/chat runs the model with the reply schema as its
`format` (constrained decoding) and `num_ctx` 16 384, streamed as NDJSON. Nothing leaves the
machine. The common failures get a message that says how to fix them: Ollama not running, or
the model not pulled.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import httpx

from ..limits import OLLAMA_NUM_CTX, RETRY_STATUSES
from .base import ChatRequest, ChatResult, OnText, Provider, ProviderError, scrub_message, with_retries

INSTALL_URL = "https://ollama.com/download"


def _ollama():
    """The ollama client module, imported on first use: it pulls in pydantic, which would add
    ~0.15 s to every start of the binary, also for installations that never use the AI."""
    import ollama

    return ollama


def same_model(a: str, b: str) -> bool:
    """"llama3.1" and "llama3.1:latest" name the same model."""
    norm = lambda m: m if ":" in m else f"{m}:latest"  # noqa: E731
    return norm(a.strip()) == norm(b.strip())


def not_running(url: str) -> ProviderError:
    return ProviderError("error", f"Ollama is not reachable at {url}. Start it with `ollama serve` "
                                  f"(install it from {INSTALL_URL}), or fix the Ollama URL in Settings.",
                         fix="ollama serve")


def model_missing(model: str) -> ProviderError:
    return ProviderError("error", f"The model {model} is not installed in Ollama. Run `ollama pull {model}` "
                                  "on the machine that runs Ollama.", fix=f"ollama pull {model}")


class OllamaProvider(Provider):
    id = "ollama"
    display_name = "Ollama (local)"
    local = True
    key_required = False
    builtin_models = ("llama3.1:8b", "qwen2.5:7b-instruct", "mistral-nemo:12b")

    def __init__(self, url_of: Callable[[], str]) -> None:
        self._url_of = url_of

    @property
    def url(self) -> str:
        return self._url_of()

    def _client(self, timeout: float) -> "ollama.AsyncClient":
        # trust_env=False: a local Ollama is never reached through an HTTP(S)_PROXY.
        return _ollama().AsyncClient(host=self.url, timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
                                  trust_env=False)

    async def list_models(self, key: str | None, timeout: float) -> list[str]:
        client = self._client(timeout)
        try:
            listing = await client.list()
        except ConnectionError:
            raise not_running(self.url) from None
        except httpx.TimeoutException:
            raise ProviderError("timeout", f"Ollama at {self.url} did not answer within {timeout:g} s") from None
        except _ollama().ResponseError as exc:
            raise ProviderError("error", f"Ollama answered HTTP {exc.status_code}: {scrub_message(exc.error)}",
                                status=exc.status_code) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError("error", f"Ollama at {self.url} gave an unusable answer: {scrub_message(exc)}") from None
        finally:
            await client.close()
        return [m.model for m in listing.models if m.model]

    async def chat(self, request: ChatRequest, key: str | None, on_text: OnText | None) -> ChatResult:
        client = self._client(request.timeout)
        messages = [{"role": "system", "content": request.system}] + request.messages
        options = {"num_ctx": request.num_ctx or OLLAMA_NUM_CTX, "temperature": 0.2}
        deadline = time.monotonic() + request.timeout
        try:
            if not request.stream:
                async def once() -> Any:
                    try:
                        return await client.chat(model=request.model, messages=messages, format=request.schema,
                                                 options=options, stream=False)
                    except Exception as exc:  # noqa: BLE001 — mapped below
                        raise self._mapped(exc, request.model) from None
                response, attempts = await with_retries(once, deadline)
                return ChatResult(response.message.content or "", response.prompt_eval_count,
                                  response.eval_count, attempts)

            async def start() -> Any:
                try:
                    stream = await client.chat(model=request.model, messages=messages, format=request.schema,
                                               options=options, stream=True)
                    first = await stream.__anext__()
                    return stream, first
                except StopAsyncIteration:
                    return None, None
                except Exception as exc:  # noqa: BLE001
                    raise self._mapped(exc, request.model) from None

            (stream, part), attempts = await with_retries(start, deadline)
            pieces: list[str] = []
            prompt_tokens = completion_tokens = None
            try:
                while part is not None:
                    text = part.message.content if part.message else ""
                    if text:
                        pieces.append(text)
                        if on_text:
                            on_text(text)
                    if part.done:
                        prompt_tokens, completion_tokens = part.prompt_eval_count, part.eval_count
                        break
                    part = await stream.__anext__()
            except StopAsyncIteration:
                pass
            except Exception as exc:  # noqa: BLE001
                raise self._mapped(exc, request.model) from None
            return ChatResult("".join(pieces), prompt_tokens, completion_tokens, attempts)
        finally:
            await client.close()

    def _mapped(self, exc: Exception, model: str) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, ConnectionError):
            return not_running(self.url)
        if isinstance(exc, httpx.TimeoutException):
            return ProviderError("timeout", f"Ollama at {self.url} did not answer in time")
        if isinstance(exc, _ollama().ResponseError):
            text = scrub_message(exc.error)
            if exc.status_code == 404 and "not found" in text.lower():
                return model_missing(model)
            return ProviderError("error", f"Ollama answered HTTP {exc.status_code}: {text}",
                                 status=exc.status_code, retryable=exc.status_code in RETRY_STATUSES)
        if isinstance(exc, httpx.HTTPError):
            return ProviderError("error", f"Ollama request failed: {scrub_message(exc)}")
        return ProviderError("error", f"Ollama gave an unusable answer: {type(exc).__name__}: {scrub_message(exc)}")
