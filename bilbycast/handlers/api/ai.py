"""/api/v1/ai/*: providers, keys, chat (JSON or streamed as Server-Sent Events), threads and
proposals (api.md §12). Thin: services.ai.AIService does the work."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from tornado.iostream import StreamClosedError

from ...services.errors import ApiError
from ..base import BaseHandler

log = logging.getLogger("bilbycast.ai")

HEARTBEAT_SECS = 15.0


class AIProvidersHandler(BaseHandler):
    async def get(self) -> None:
        refresh = self.get_query_argument("refresh", "false")
        if refresh not in ("true", "false", "1", "0"):
            raise ApiError(400, "invalid_query", "refresh must be true or false")
        self.write_json(await self.app.ai.providers_status(self.principal, refresh in ("true", "1")))


class AIKeysHandler(BaseHandler):
    async def get(self) -> None:
        self.write_json(await self.app.ai.list_keys(self.principal))

    async def post(self) -> None:
        self.write_json(await self.app.ai.set_key(self.principal, self.json_body(), self.client_ip))

    async def delete(self) -> None:
        body = self.json_body()
        unknown = [k for k in body if k != "provider"]
        if unknown:
            raise ApiError(422, "unknown_field", f"Unknown field: {str(unknown[0])[:64]}",
                           fields=[{"path": f"/{str(k)[:64]}", "message": "unknown field"} for k in unknown])
        await self.app.ai.delete_key(self.principal, body.get("provider"), self.client_ip)
        self.no_content()


class AIKeyHandler(BaseHandler):
    async def delete(self, provider: str) -> None:
        self.json_body(allow_empty=True)
        await self.app.ai.delete_key(self.principal, provider, self.client_ip)
        self.no_content()


class AIChatHandler(BaseHandler):
    """POST /ai/chat. With `Accept: text/event-stream` the answer is streamed: `start`, then
    `delta` events ({"text"}) with the reply text as the model writes it, `repair` when the
    model is asked to correct invalid proposals (the page clears the streamed text), and a final
    `done` event whose data is exactly the JSON body of the non-streamed response — or `error`
    with the usual error body plus `status`. Failures before the model is called are ordinary
    JSON error responses."""

    _task: asyncio.Task | None = None
    _streaming = False
    _closed = False

    async def post(self) -> None:
        body = self.json_body()
        wants_stream = "text/event-stream" in self.request.headers.get("Accept", "")
        if not wants_stream:
            self._task = asyncio.ensure_future(self.app.ai.chat(self.principal, body, self.client_ip))
            try:
                result = await self._task
            except asyncio.CancelledError:
                return
            self.write_json(result)
            return
        heartbeat: asyncio.Task | None = None

        def on_event(kind: str, data: dict) -> None:
            nonlocal heartbeat
            if kind == "start":
                self._begin_stream()
                heartbeat = asyncio.ensure_future(self._heartbeat())
            self._send(kind, data)

        self._task = asyncio.ensure_future(self.app.ai.chat(self.principal, body, self.client_ip, on_event))
        try:
            result = await self._task
        except asyncio.CancelledError:
            return
        except ApiError as exc:
            if not self._streaming:
                raise
            self._send("error", {**exc.body(), "status": exc.status, "request_id": self.request_id})
            self._finish_stream()
            return
        except Exception:
            if not self._streaming:
                raise
            log.exception("streamed chat failed [request %s]", self.request_id)
            self._send("error", {"error": "Internal error; see the server log", "code": "internal_error",
                                 "status": 500, "request_id": self.request_id})
            self._finish_stream()
            return
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
        if not self._streaming:      # chat() always starts the stream before the model call
            self._begin_stream()
        self._send("done", result)
        self._finish_stream()

    def _begin_stream(self) -> None:
        if self._streaming:
            return
        self._streaming = True
        self.set_status(200)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("X-Accel-Buffering", "no")
        self._write(": stream open\n\n")

    def _send(self, kind: str, data: Any) -> None:
        if not self._streaming:
            return
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self._write(f"event: {kind}\ndata: {payload}\n\n")

    def _write(self, text: str) -> None:
        if self._closed:
            return
        try:
            self.write(text)
            future = self.flush()
            future.add_done_callback(_ignore_closed)
        except StreamClosedError:
            self._closed = True

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECS)
            self._write(": keep-alive\n\n")

    def _finish_stream(self) -> None:
        if not self._closed and not self._finished:
            try:
                self.finish()
            except StreamClosedError:
                pass

    def on_connection_close(self) -> None:
        """The browser's Stop button (or a closed tab) cancels the provider request."""
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        super().on_connection_close()


def _ignore_closed(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class AIThreadsHandler(BaseHandler):
    async def get(self) -> None:
        limit = self.query_int("limit", 50, 1, 200)
        self.write_json(await self.app.ai.list_threads(self.principal, limit))


class AIThreadHandler(BaseHandler):
    async def get(self, thread_id: str) -> None:
        self.write_json(await self.app.ai.get_thread(self.principal, thread_id))

    async def delete(self, thread_id: str) -> None:
        self.json_body(allow_empty=True)
        await self.app.ai.delete_thread(self.principal, thread_id)
        self.no_content()


class AIProposalApplyHandler(BaseHandler):
    async def post(self, proposal_id: str) -> None:
        body = self.json_body(allow_empty=True)
        self.write_json(await self.app.ai.apply(self.principal, proposal_id, body, self.client_ip))


class AIProposalDiscardHandler(BaseHandler):
    async def post(self, proposal_id: str) -> None:
        self.json_body(allow_empty=True)
        self.write_json(await self.app.ai.discard(self.principal, proposal_id, self.client_ip))
