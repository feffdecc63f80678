"""Shared plumbing of the three cloud providers: one httpx client, a POST that maps transport
and status errors, and a streamed POST whose status is checked before the first byte is used
(so a 429/5xx is retried and a mid-stream failure is not)."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import httpx

from ..limits import DEFAULT_BASE_URLS
from .base import ChatResult, Provider, ProviderError, http_failure, status_error, with_retries


class CloudProvider(Provider):
    key_required = True

    def __init__(self, http: httpx.AsyncClient, base_url: str | None = None) -> None:
        self.http = http
        self.base_url = (base_url or DEFAULT_BASE_URLS[self.id]).rstrip("/")

    def headers(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    async def get_json(self, path: str, key: str, timeout: float, params: dict | None = None) -> Any:
        try:
            response = await self.http.get(self.base_url + path, headers=self.headers(key), params=params,
                                           timeout=timeout)
        except httpx.HTTPError as exc:
            raise http_failure(self.display_name, exc) from None
        if response.status_code >= 400:
            raise status_error(self.display_name, response.status_code, response.text, key,
                               response.headers.get("retry-after"))
        try:
            return response.json()
        except ValueError:
            raise ProviderError("error", f"{self.display_name} sent a reply that is not JSON") from None

    async def post_json(self, path: str, key: str, body: dict, timeout: float, deadline: float) -> tuple[Any, int]:
        async def once() -> Any:
            remaining = max(0.5, deadline - time.monotonic())
            try:
                response = await self.http.post(self.base_url + path, headers=self.headers(key), json=body,
                                                timeout=min(timeout, remaining))
            except httpx.HTTPError as exc:
                raise http_failure(self.display_name, exc) from None
            if response.status_code >= 400:
                raise status_error(self.display_name, response.status_code, response.text, key,
                                   response.headers.get("retry-after"))
            try:
                return response.json()
            except ValueError:
                raise ProviderError("error", f"{self.display_name} sent a reply that is not JSON") from None
        return await with_retries(once, deadline)

    @asynccontextmanager
    async def stream_post(self, path: str, key: str, body: dict, timeout: float,
                          deadline: float) -> AsyncIterator[tuple[httpx.Response, int]]:
        """Open a streamed POST, retrying 429/5xx before any of the body is read."""
        holder: dict[str, Any] = {}

        async def once() -> httpx.Response:
            remaining = max(0.5, deadline - time.monotonic())
            request = self.http.build_request("POST", self.base_url + path, headers=self.headers(key), json=body,
                                              timeout=min(timeout, remaining))
            try:
                response = await self.http.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise http_failure(self.display_name, exc) from None
            if response.status_code >= 400:
                try:
                    text = (await response.aread()).decode("utf-8", "replace")
                finally:
                    await response.aclose()
                raise status_error(self.display_name, response.status_code, text, key,
                                   response.headers.get("retry-after"))
            holder["response"] = response
            return response

        response, attempts = await with_retries(once, deadline)
        try:
            yield response, attempts
        except httpx.HTTPError as exc:
            raise http_failure(self.display_name, exc) from None
        finally:
            await response.aclose()


def usage_result(text: str, prompt: Any, completion: Any, attempts: int) -> ChatResult:
    as_int = lambda v: v if isinstance(v, int) and not isinstance(v, bool) else None  # noqa: E731
    return ChatResult(text, as_int(prompt), as_int(completion), attempts)

