"""AIService: the assistant's one entry point (product.md §8, api.md §12). No web framework here;
handlers call these methods and write what they return.

It owns the providers and their status caches, stores keys envelope-encrypted, builds the masked
context, asks the provider for a structured reply (streamed when the caller wants deltas), checks
every proposal as the caller, stores threads, and applies a proposal only when a human asks,
through the one command path (CommandService.run) with the caller's permissions.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from ...hub.config_cache import config_hash
from ...timeutil import now_iso, utcnow
from .. import audit
from ..crypto import DOMAIN_AI_KEY, DOMAIN_AI_PROPOSAL, SecretDecryptError
from ..errors import ApiError, not_found
from ..ratelimit import SlidingWindow
from ..rbac import role_at_least
from ..settings import AI_PROVIDERS
from . import limits, store
from .context import ContextBuilder, HistoryItem, NodeView, estimate_tokens
from .proposals import ProposalChecker
from .providers import CLOUD_PROVIDERS, ChatRequest, ChatResult, OllamaProvider, Provider, ProviderError
from .providers.ollama import model_missing, not_running, same_model
from .reply import ParsedReply, ReplyStream, parse_reply, provider_schema
from .secrets import Redactor, SecretRefs

log = logging.getLogger("bilbycast.ai")

OnEvent = Callable[[str, dict], None]
CHAT_FIELDS = ("thread_id", "message", "node_id", "provider", "model")
KEY_FIELDS = ("provider", "api_key", "model_preference")
STATUS_FOR_CODE = {"insufficient_role": 403, "not_found": 404}


@dataclass
class ChatInput:
    thread_id: str | None
    message: str
    node_id: str | None
    provider: str | None
    model: str | None


def _unknown_fields(body: dict, allowed: tuple[str, ...]) -> None:
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise ApiError(422, "unknown_field", f"Unknown field: {str(unknown[0])[:64]}",
                       fields=[{"path": f"/{str(k)[:64]}", "message": "unknown field"} for k in unknown])


def _optional_str(body: dict, name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= limit or any(ord(c) < 32 for c in value):
        raise ApiError(422, "validation_failed", f"{name} must be a string of 1-{limit} characters or null",
                       fields=[{"path": f"/{name}", "message": f"must be a string of 1-{limit} characters or null"}])
    return value


class AIService:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.base_urls = limits.base_urls()
        self.timeout_override = limits.timeout_override()
        self.http = httpx.AsyncClient(follow_redirects=False)
        self.ollama = OllamaProvider(lambda: self.app.runtime_settings.get("ollama_url"))
        self.providers: dict[str, Provider] = {"ollama": self.ollama}
        for cls in CLOUD_PROVIDERS:
            self.providers[cls.id] = cls(self.http, self.base_urls[cls.id])
        self.chat_limit = SlidingWindow()
        self._status_cache: dict[tuple, tuple[float, dict]] = {}
        self._applying: set[str] = set()
        self._task: asyncio.Task | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._maintain_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.http.aclose()

    async def _maintain_forever(self) -> None:
        await asyncio.sleep(90)
        while True:
            await self.maintain_once()
            await asyncio.sleep(3600)

    async def maintain_once(self) -> dict[str, int]:
        done = {}
        for name, fn, args in (("ai_proposals_expired", store.expire_proposals, ()),
                               ("ai_threads_pruned", store.prune_threads, (self.app.config.ai_threads_retention_days,))):
            try:
                done[name] = await self.app.db.write(fn, *args)
            except Exception:  # noqa: BLE001 — maintenance must keep running
                log.exception("AI maintenance step %s failed", name)
        return done

    # -- helpers ----------------------------------------------------------------------------
    @property
    def cloud_enabled(self) -> bool:
        return bool(self.app.config.ai_cloud_enabled)

    def timeout_for(self, provider_id: str) -> float:
        if self.timeout_override is not None:
            return self.timeout_override
        return limits.OLLAMA_TIMEOUT_SECS if provider_id == "ollama" else limits.CLOUD_TIMEOUT_SECS

    def _open_key(self, user_id: str, provider: str, sealed: str) -> str:
        try:
            return self.app.vault.open_text(DOMAIN_AI_KEY, sealed, table=store.KEY_TABLE, column=store.KEY_COLUMN,
                                            row_id=store.key_row_id(user_id, provider))
        except SecretDecryptError:
            raise ApiError(422, "ai_provider_not_configured",
                           f"Your stored {self.providers[provider].display_name} key cannot be read; save it again") from None

    def _visible(self, principal: Any, node_id: Any) -> Any:
        if not isinstance(node_id, str):
            return None
        allowed = principal.allowed_node_ids
        live = self.app.hub.live.get(node_id)
        if live is None or (allowed is not None and node_id not in allowed):
            return None
        return live

    def _visible_nodes(self, principal: Any) -> list[Any]:
        allowed = principal.allowed_node_ids
        return sorted((live for live in self.app.hub.live.values() if allowed is None or live.id in allowed),
                      key=lambda live: (live.name.lower(), live.id))

    # -- providers --------------------------------------------------------------------------
    async def providers_status(self, principal: Any, refresh: bool) -> dict:
        settings = self.app.runtime_settings
        default_provider = settings.get("ai_default_provider")
        if not self.cloud_enabled:
            default_provider = "ollama"
        out = [await self._ollama_status(refresh)]
        if self.cloud_enabled:
            rows = {row.provider: row for row in await self.app.db.read(store.list_keys, principal.user_id)}
            for cls in CLOUD_PROVIDERS:
                out.append(await self._cloud_status(principal.user_id, self.providers[cls.id], rows.get(cls.id),
                                                    refresh))
        return {"default_provider": default_provider, "default_model": settings.get("ai_default_model"),
                "cloud_enabled": self.cloud_enabled, "providers": out}

    async def _ollama_status(self, refresh: bool) -> dict:
        url = self.ollama.url
        wanted = self.app.runtime_settings.get("ai_default_model") or self.ollama.default_model
        key = ("ollama", url, wanted)
        cached = self._status_cache.get(key)
        if cached and not refresh and time.monotonic() - cached[0] < limits.OLLAMA_CHECK_CACHE_SECS:
            return cached[1]
        entry = {"id": "ollama", "display_name": self.ollama.display_name, "local": True, "key_required": False,
                 "key_configured": None, "configured": bool(url), "reachable": None, "url": url,
                 "models": list(self.ollama.builtin_models), "models_source": "builtin", "model_preference": None,
                 "error": None, "fix": None, "model_missing": None, "checked_at": now_iso()}
        try:
            models = await self.ollama.list_models(None, limits.OLLAMA_CHECK_TIMEOUT_SECS)
            entry.update(reachable=True, models=models, models_source="live")
            missing = not any(same_model(m, wanted) for m in models)
            entry["model_missing"] = missing
            if missing:
                problem = model_missing(wanted)
                entry.update(error=problem.message, fix=problem.fix)
        except ProviderError as exc:
            problem = not_running(url) if exc.fix is None and exc.status is None else exc
            entry.update(reachable=False, error=problem.message, fix=problem.fix or "ollama serve")
        self._remember(key, entry)
        return entry

    async def _cloud_status(self, user_id: str, provider: Provider, row: Any, refresh: bool) -> dict:
        entry = {"id": provider.id, "display_name": provider.display_name, "local": False, "key_required": True,
                 "key_configured": row is not None, "configured": row is not None, "reachable": None, "url": None,
                 "models": list(provider.builtin_models), "models_source": "builtin",
                 "model_preference": row.model_preference if row is not None else None, "error": None, "fix": None,
                 "key_placeholder": provider.key_placeholder, "checked_at": None}
        if row is None:
            return entry
        key = (provider.id, user_id, row.updated_at)
        cached = self._status_cache.get(key)
        if cached and not refresh and time.monotonic() - cached[0] < limits.CLOUD_CHECK_CACHE_SECS:
            return {**entry, **cached[1]}
        live: dict[str, Any] = {"checked_at": now_iso()}
        try:
            api_key = self._open_key(user_id, provider.id, row.key_enc)
            models = await provider.list_models(api_key, limits.CLOUD_CHECK_TIMEOUT_SECS)
            live.update(reachable=True, models=models or list(provider.builtin_models),
                        models_source="live" if models else "builtin")
        except ProviderError as exc:
            live.update(reachable=False, error=exc.message)
        except ApiError as exc:
            live.update(reachable=None, error=exc.message)
        self._remember(key, live)
        return {**entry, **live}

    def _remember(self, key: tuple, value: dict) -> None:
        now = time.monotonic()
        if len(self._status_cache) > 1000:
            self._status_cache = {k: v for k, v in self._status_cache.items()
                                  if now - v[0] < limits.CLOUD_CHECK_CACHE_SECS}
        self._status_cache[key] = (now, value)

    # -- keys -------------------------------------------------------------------------------
    @staticmethod
    def key_api(row: Any) -> dict:
        return {"provider": row.provider, "configured": True, "model_preference": row.model_preference,
                "updated_at": row.updated_at}

    async def list_keys(self, principal: Any) -> list[dict]:
        rows = await self.app.db.read(store.list_keys, principal.user_id)
        return [self.key_api(row) for row in rows]

    def _cloud_provider(self, value: Any, path: str = "/provider") -> str:
        cloud = [cls.id for cls in CLOUD_PROVIDERS]
        if value not in cloud:
            raise ApiError(422, "validation_failed", f"provider must be one of {', '.join(cloud)}",
                           fields=[{"path": path, "message": f"must be one of {', '.join(cloud)}"}])
        if not self.cloud_enabled:
            raise ApiError(422, "ai_provider_not_configured", "Cloud AI providers are disabled on this installation")
        return value

    async def set_key(self, principal: Any, body: dict, ip: str) -> dict:
        _unknown_fields(body, KEY_FIELDS)
        provider = self._cloud_provider(body.get("provider"))
        api_key = body.get("api_key")
        if api_key is not None and (not isinstance(api_key, str) or not 0 < len(api_key) <= limits.KEY_MAX_CHARS
                                    or api_key != api_key.strip() or any(ord(c) < 32 for c in api_key)):
            raise ApiError(422, "validation_failed", "api_key must be 1-4096 characters without spaces around it",
                           fields=[{"path": "/api_key", "message": "must be 1-4096 characters"}])
        change_preference = "model_preference" in body
        preference = body.get("model_preference")
        if preference is not None and (not isinstance(preference, str) or not 0 < len(preference) <= 128
                                       or any(ord(c) < 32 for c in preference)):
            raise ApiError(422, "validation_failed", "model_preference must be a string of 1-128 characters or null",
                           fields=[{"path": "/model_preference", "message": "must be 1-128 characters or null"}])
        sealed = None
        if api_key is not None:
            sealed = self.app.vault.seal_text(DOMAIN_AI_KEY, api_key, table=store.KEY_TABLE, column=store.KEY_COLUMN,
                                              row_id=store.key_row_id(principal.user_id, provider))
        row = await self.app.db.write(store.set_key, principal.user_id, provider, sealed, preference,
                                      principal.actor(ip), change_preference)
        if row is None:
            raise ApiError(422, "validation_failed", "api_key is required: no key is stored for this provider yet",
                           fields=[{"path": "/api_key", "message": "required"}])
        return self.key_api(row)

    async def delete_key(self, principal: Any, provider: Any, ip: str) -> None:
        cloud = [cls.id for cls in CLOUD_PROVIDERS]
        if provider not in cloud:
            raise ApiError(422, "validation_failed", f"provider must be one of {', '.join(cloud)}",
                           fields=[{"path": "/provider", "message": f"must be one of {', '.join(cloud)}"}])
        await self.app.db.write(store.delete_key, principal.user_id, provider, principal.actor(ip))

    # -- chat -------------------------------------------------------------------------------
    def parse_chat(self, body: dict) -> ChatInput:
        _unknown_fields(body, CHAT_FIELDS)
        message = body.get("message")
        if not isinstance(message, str) or not message.strip() or len(message) > limits.MESSAGE_MAX_CHARS:
            raise ApiError(422, "validation_failed", "message must be 1-10000 characters",
                           fields=[{"path": "/message", "message": "must be 1-10000 characters"}])
        thread_id = _optional_str(body, "thread_id", 64)
        node_id = _optional_str(body, "node_id", 64)
        provider = _optional_str(body, "provider", 32)
        model = _optional_str(body, "model", 128)
        if provider is not None and provider not in AI_PROVIDERS:
            raise ApiError(422, "validation_failed", f"provider must be one of {', '.join(AI_PROVIDERS)}",
                           fields=[{"path": "/provider", "message": f"must be one of {', '.join(AI_PROVIDERS)}"}])
        return ChatInput(thread_id, message, node_id, provider, model)

    async def resolve_provider(self, principal: Any, provider: str | None, model: str | None,
                               ) -> tuple[str, str, str | None, bool]:
        """(provider id, model, decrypted key or None, whether the caller named the provider)."""
        explicit = provider is not None
        selection_model = None
        if provider is None:
            selection = await self.app.db.read(store.get_selection, principal.user_id)
            if selection and selection.get("provider") in AI_PROVIDERS \
                    and (self.cloud_enabled or selection.get("provider") == "ollama"):
                provider, selection_model = selection["provider"], selection.get("model")
            else:
                provider = self.app.runtime_settings.get("ai_default_provider")
                if provider != "ollama" and not self.cloud_enabled:
                    provider = "ollama"      # a local-only installation falls back to the local model
        if provider != "ollama" and not self.cloud_enabled:
            raise ApiError(422, "ai_provider_not_configured", "Cloud AI providers are disabled on this installation")
        chosen = self.providers[provider]
        key = None
        preference = None
        if chosen.key_required:
            row = await self.app.db.read(store.get_key, principal.user_id, provider)
            if row is None:
                raise ApiError(422, "ai_provider_not_configured",
                               f"You have no {chosen.display_name} API key; add one on the AI Keys page")
            key, preference = self._open_key(principal.user_id, provider, row.key_enc), row.model_preference
        else:
            preference = self.app.runtime_settings.get("ai_default_model") or None
        model = model or selection_model or preference or chosen.default_model
        return provider, model, key, explicit

    async def chat(self, principal: Any, body: dict, ip: str, on_event: OnEvent | None = None) -> dict:
        request_in = self.parse_chat(body)
        retry = self.chat_limit.hit(principal.user_id, limits.CHAT_PER_MINUTE, 60.0)
        if retry is not None:
            raise ApiError(429, "rate_limited", "At most 10 chat requests per minute; try again shortly",
                           retry_after_secs=int(retry))
        detail = None
        if request_in.thread_id is not None:
            detail = await self.app.db.read(store.thread_detail, principal.user_id, request_in.thread_id)
            if detail is None:
                raise not_found("Thread")
            if detail[0].message_count + 2 > limits.THREAD_MAX_MESSAGES:
                raise ApiError(422, "validation_failed", "This thread is full (200 messages); start a new thread",
                               fields=[{"path": "/thread_id", "message": "thread is full"}])
        if request_in.node_id is not None and self._visible(principal, request_in.node_id) is None:
            raise not_found("Node")
        provider_id, model, key, explicit = await self.resolve_provider(principal, request_in.provider,
                                                                        request_in.model)
        provider = self.providers[provider_id]
        started = time.monotonic()

        nodes = self._visible_nodes(principal)
        configs = await self._configs(nodes)
        refs = SecretRefs(detail[0].secret_refs if detail else None)
        redactor = Redactor()
        if key:
            redactor.add(key)
        viewer = not role_at_least(principal.role, "operator")
        role_ok = (lambda role: role_at_least(principal.role, role))
        drivers = []
        for live in nodes:
            driver = self.app.drivers.get(live.device_type)
            if driver is not None and driver not in drivers:
                drivers.append(driver)
        views = [NodeView(live.id, live.name, live.device_type, live.status, live.health, live.software_version,
                          live.capabilities, configs.get(live.id), live.stats, live.health_report,
                          self.app.drivers.get(live.device_type)) for live in nodes]
        alarms = await self.app.db.read(store.focus_alarms, request_in.node_id, limits.FOCUS_ALARMS) \
            if request_in.node_id else []
        history = self._history(detail)
        budget = limits.OLLAMA_PROMPT_BUDGET_TOKENS if provider.local else limits.CLOUD_PROMPT_BUDGET_TOKENS
        builder = ContextBuilder(nodes=views, drivers=drivers, role_ok=role_ok, focus_id=request_in.node_id,
                                 focus_alarms=alarms, history=history, message=request_in.message, budget=budget,
                                 refs=refs, redactor=redactor, now=utcnow(), viewer=viewer)
        # Pure CPU work that grows with the fleet: off the event loop.
        built = await asyncio.get_running_loop().run_in_executor(self.app.cpu_pool, builder.build)
        schema = provider_schema(built.action_types)
        request = ChatRequest(model=model, system=built.system, messages=built.messages, schema=schema,
                              timeout=self.timeout_for(provider_id), stream=on_event is not None,
                              num_ctx=limits.OLLAMA_NUM_CTX if provider.local else None,
                              max_output_tokens=limits.MAX_OUTPUT_TOKENS)
        if on_event:
            on_event("start", {"provider": provider_id, "model": model, "context": built.meta})
        result, parsed = await self._ask(provider, request, key, on_event)
        checker = ProposalChecker(hub=self.app.hub, drivers=self.app.drivers, principal=principal, refs=refs,
                                  configs=configs, redactor=redactor)
        checked = [] if viewer else [checker.check(item) for item in parsed.proposals]
        repaired = False
        if checked and not any(c.ok for c in checked) and limits.REPAIR_ROUNDS > 0:
            repaired = True
            if on_event:
                on_event("repair", {"reason": "every proposal was invalid; asking the model to correct them"})
            request.messages = built.messages + [
                {"role": "assistant", "content": redactor.text(result.text)},
                {"role": "user", "content": self._repair_prompt(checked)}]
            second, parsed2 = await self._ask(provider, request, key, on_event)
            result = ChatResult(second.text, _sum(result.prompt_tokens, second.prompt_tokens),
                                _sum(result.completion_tokens, second.completion_tokens),
                                result.attempts + second.attempts)
            parsed = parsed2
            checked = [checker.check(item) for item in parsed.proposals]
        reply_text = redactor.text(parsed.reply) or ("(The model sent an empty reply.)" if not checked else "")
        if viewer and parsed.proposals:
            log.info("dropped %d proposal(s) from a reply to viewer %s", len(parsed.proposals), principal.username)
        duration_ms = int((time.monotonic() - started) * 1000)
        usage = {"prompt_tokens": result.prompt_tokens if result.prompt_tokens is not None else built.estimated_tokens,
                 "completion_tokens": result.completion_tokens if result.completion_tokens is not None
                 else estimate_tokens(result.text), "duration_ms": duration_ms,
                 "estimated_prompt_tokens": built.estimated_tokens, "attempts": result.attempts,
                 "repaired": repaired, "structured": parsed.structured}
        title = " ".join(request_in.message.split())[:limits.TITLE_MAX_CHARS] or "New thread"
        title = redactor.text(title)
        saved = await self.app.db.write(
            store.save_turn, principal.user_id, request_in.thread_id, title, request_in.node_id, refs.to_json(),
            request_in.message, {"content": reply_text, "provider": provider_id, "model": model, "usage": usage},
            [c.columns(provider_id, model) for c in checked], self._sealer)
        if explicit:
            await self.app.db.write(store.set_selection, principal.user_id, provider_id, model)
        assistant = saved["assistant"]
        proposals = [self.proposal_api(row, principal) for row in saved["proposals"]]
        return {
            "thread_id": saved["thread"].id,
            "message": {"id": assistant.id, "role": "assistant", "content": assistant.content,
                        "provider": provider_id, "model": model, "created_at": assistant.created_at,
                        "proposal_ids": [p["id"] for p in proposals]},
            "proposals": proposals,
            "usage": {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "duration_ms")},
            "context": {k: built.meta[k] for k in ("nodes", "focus_node_id", "truncated")},
        }

    def _sealer(self, proposal_id: str, values: dict[str, str]) -> str:
        return self.app.vault.seal_text(DOMAIN_AI_PROPOSAL, json.dumps(values), table=store.PROPOSAL_TABLE,
                                        column=store.PROPOSAL_COLUMN, row_id=proposal_id)

    def _stored_secrets(self, row: Any) -> dict[str, str]:
        if not row.secrets_enc:
            return {}
        try:
            values = json.loads(self.app.vault.open_text(DOMAIN_AI_PROPOSAL, row.secrets_enc, table=store.PROPOSAL_TABLE,
                                                         column=store.PROPOSAL_COLUMN, row_id=row.id))
        except (SecretDecryptError, ValueError):
            log.error("stored secrets of proposal %s do not decrypt", row.id)
            return {}
        return values if isinstance(values, dict) else {}

    @staticmethod
    def _history(detail: Any) -> list[HistoryItem]:
        if detail is None:
            return []
        _, messages, proposals = detail
        by_message: dict[str, list[dict]] = {}
        for row in proposals:
            by_message.setdefault(row.message_id, []).append(
                {"node_id": row.node_id, "title": row.title, "action": row.action, "status": row.status})
        return [HistoryItem(m.role, m.content, by_message.get(m.id, [])) for m in messages]

    @staticmethod
    def _repair_prompt(checked: list[Any]) -> str:
        lines = ["Every proposal in your last reply was refused by the server:"]
        for index, item in enumerate(checked, 1):
            reasons = "; ".join(f"{e['path']}: {e['message']}" for e in item.errors[:6])
            lines.append(f"{index}. \"{item.title}\" — {reasons}")
        lines.append("Send the whole reply again as one JSON object, with corrected proposals (only actions "
                     "from ACTIONS, node ids from the node list, unused ids and ports), or with no proposals "
                     "and an explanation if the request cannot be done.")
        return "\n".join(lines)

    async def _ask(self, provider: Provider, request: ChatRequest, key: str | None,
                   on_event: OnEvent | None) -> tuple[ChatResult, ParsedReply]:
        stream = ReplyStream()

        def on_text(text: str) -> None:
            piece = stream.feed(text)
            if piece and on_event:
                on_event("delta", {"text": piece})

        try:
            async with asyncio.timeout(request.timeout):
                result = await provider.chat(request, key, on_text if on_event else None)
        except TimeoutError:
            raise ApiError(504, "ai_provider_timeout",
                           f"{provider.display_name} did not answer within {request.timeout:g} s") from None
        except ProviderError as exc:
            if exc.kind == "timeout":
                raise ApiError(504, "ai_provider_timeout", exc.message) from None
            if exc.kind == "not_configured":
                raise ApiError(422, "ai_provider_not_configured", exc.message) from None
            raise ApiError(502, "ai_provider_error", exc.message, provider=provider.id, fix=exc.fix) from None
        return result, parse_reply(result.text)

    # -- threads ----------------------------------------------------------------------------
    @staticmethod
    def thread_api(row: Any) -> dict:
        return {"id": row.id, "title": row.title, "node_id": row.node_id, "message_count": row.message_count,
                "created_at": row.created_at, "updated_at": row.updated_at}

    async def list_threads(self, principal: Any, limit: int) -> list[dict]:
        rows = await self.app.db.read(store.list_threads, principal.user_id, limit)
        return [self.thread_api(row) for row in rows]

    async def get_thread(self, principal: Any, thread_id: str) -> dict:
        detail = await self.app.db.read(store.thread_detail, principal.user_id, thread_id)
        if detail is None:
            raise not_found("Thread")
        thread, messages, proposals = detail
        by_message: dict[str, list[dict]] = {}
        for row in proposals:
            by_message.setdefault(row.message_id, []).append(self.proposal_api(row, principal))
        return {**self.thread_api(thread),
                "messages": [{"id": m.id, "role": m.role, "content": m.content, "provider": m.provider,
                              "model": m.model, "created_at": m.created_at,
                              "proposals": by_message.get(m.id, [])} for m in messages]}

    async def delete_thread(self, principal: Any, thread_id: str) -> None:
        if not await self.app.db.write(store.delete_thread, principal.user_id, thread_id):
            raise not_found("Thread")

    # -- proposals --------------------------------------------------------------------------
    def proposal_api(self, row: Any, principal: Any) -> dict:
        status = row.status
        if status == "pending" and row.expires_at <= now_iso():
            status = "expired"
        live = self._visible(principal, row.node_id)
        driver = self.app.drivers.get(row.device_type) if row.device_type else None
        spec = driver.command(row.action.get("type")) if driver and isinstance(row.action, dict) \
            and isinstance(row.action.get("type"), str) else None
        validation = row.validation or {"ok": False, "errors": []}
        can_apply = (status in ("pending", "failed") and bool(validation.get("ok")) and live is not None
                     and row.requires_role is not None and role_at_least(principal.role, row.requires_role))
        return {"id": row.id, "status": status, "thread_id": row.thread_id, "message_id": row.message_id,
                "node_id": row.node_id, "node_name": row.node_name, "device_type": row.device_type,
                "action": row.action, "title": row.title, "summary": row.summary,
                "requires_role": row.requires_role, "can_apply": can_apply, "validation": validation,
                "preview": row.preview, "created_at": row.created_at, "expires_at": row.expires_at,
                "decided_at": row.decided_at, "decided_by": row.decided_by, "result": row.result,
                "destructive": bool(spec and spec.destructive),
                "action_display_name": spec.display_name if spec else None,
                "provider": row.provider, "model": row.model}

    async def discard(self, principal: Any, proposal_id: str, ip: str) -> dict:
        found = await self.app.db.read(store.proposal_of, principal.user_id, proposal_id)
        if found is None:
            raise not_found("Proposal")
        row, thread = found
        details = {"provider": row.provider, "model": row.model, "thread_id": row.thread_id,
                   "proposal_id": row.id, "node_id": row.node_id,
                   "action": row.action.get("type") if isinstance(row.action, dict) else None}
        if self.proposal_api(row, principal)["status"] != "pending":
            raise ApiError(409, "proposal_not_pending", f"This proposal is {self.proposal_api(row, principal)['status']}")
        updated = await self.app.db.write(store.discard, row.id, principal.user_id, principal.actor(ip), details)
        if updated is None:
            raise ApiError(409, "proposal_not_pending", "This proposal is no longer pending")
        return self.proposal_api(updated, principal)

    async def apply(self, principal: Any, proposal_id: str, body: dict, ip: str) -> dict:
        _unknown_fields(body, ("action",))
        found = await self.app.db.read(store.proposal_of, principal.user_id, proposal_id)
        if found is None:
            raise not_found("Proposal")
        row, thread = found
        live = self._visible(principal, row.node_id)
        if live is None:
            raise not_found("Node")
        status = self.proposal_api(row, principal)["status"]
        if status not in ("pending", "failed") or proposal_id in self._applying:
            if status == "expired" and row.status == "pending":
                await self.app.db.write(store.update_proposal, row.id, status="expired")
            raise ApiError(409, "proposal_not_pending",
                           f"This proposal is {'being applied' if proposal_id in self._applying else status}")
        edited = "action" in body
        action = body.get("action") if edited else row.action
        if edited and (not isinstance(action, dict) or not isinstance(row.action, dict)
                       or action.get("type") != row.action.get("type")):
            raise ApiError(422, "validation_failed", "An edited action must keep the same type",
                           fields=[{"path": "/action/type", "message": f"must be {row.action.get('type')}"}])
        extra = {"provider": row.provider, "model": row.model, "thread_id": row.thread_id, "proposal_id": row.id,
                 "edited": edited}
        self._applying.add(proposal_id)
        try:
            driver = self.app.drivers.get(live.device_type)
            current = await self._current_config(live, driver)
            if row.config_hash is not None and current is not None and config_hash(current) != row.config_hash:
                raise ApiError(409, "proposal_stale", "The node's configuration changed since this proposal was "
                                                      "made; ask the assistant again")
            refs = SecretRefs(thread.secret_refs)
            configs = {n.id: (current if n.id == live.id else await self.app.hub.configs.last_known(n.id))
                       for n in self._visible_nodes(principal)}
            checker = ProposalChecker(hub=self.app.hub, drivers=self.app.drivers, principal=principal, refs=refs,
                                      configs=configs, redactor=Redactor())
            checked = checker.check({"node_id": row.node_id, "title": row.title, "action": action},
                                    extract=edited, stored_secrets=self._stored_secrets(row))
            if not checked.ok:
                first = checked.errors[0]
                error = ApiError(STATUS_FOR_CODE.get(first.get("code"), 422), first.get("code") or "validation_failed",
                                 first["message"], fields=[{"path": e["path"], "message": e["message"]}
                                                           for e in checked.errors])
                await self._audit_refused(principal, ip, row, checked.action, error, extra)
                raise error
            try:
                result = await self.app.commands.run(principal, live.id, checked.resolved, ip,
                                                     audit_action="ai.proposal.apply", extra_audit=extra)
            except ApiError as exc:
                outcome = {"success": False, "command_id": exc.extra.get("command_id"), "error": exc.message,
                           "node_error_code": exc.extra.get("node_error_code"), "code": exc.code}
                await self.app.db.write(store.update_proposal, row.id, status="failed", result=outcome,
                                        decided_at=now_iso(), decided_by=principal.user_id)
                raise
            updates: dict[str, Any] = {"status": "applied", "decided_at": now_iso(), "decided_by": principal.user_id,
                                       "result": {"success": True, "command_id": result.command_id, "error": None,
                                                  "node_error_code": None, "duration_ms": result.duration_ms}}
            if edited:
                updates["action"] = checked.action
                if checked.new_secrets:
                    merged = {**self._stored_secrets(row), **checked.new_secrets}
                    updates["secrets_enc"] = self._sealer(row.id, merged)
                if refs.changed:
                    await self.app.db.write(store.store_refs, thread.id, refs.to_json())
            updated = await self.app.db.write(store.update_proposal, row.id, **updates)
            spec = driver.command(action.get("type")) if driver else None
            if spec is not None and spec.preview_kind == "read" and result.data is not None:
                await self._note_result(row, driver, spec, result.data)
            return {"proposal": self.proposal_api(updated, principal), "result": result.to_api()}
        finally:
            self._applying.discard(proposal_id)

    async def _configs(self, nodes: list[Any]) -> dict[str, Any]:
        """The cached config of each node. A copy that a command made stale is re-read first (as
        the command path does before its checks), so a proposal is never checked, or previewed,
        against a config the node no longer has; everything else comes from the cache."""
        hub = self.app.hub

        async def one(live: Any) -> Any:
            driver = self.app.drivers.get(live.device_type)
            if driver is None:
                return await hub.configs.last_known(live.id)
            return await self.app.commands.current_config(live.id, driver)

        values = await asyncio.gather(*(one(live) for live in nodes))
        return {live.id: value for live, value in zip(nodes, values)}

    async def _current_config(self, live: Any, driver: Any) -> Any:
        """The node's config now: fetched when the node is online (a human clicked Apply), else the
        last known copy."""
        if driver is not None and driver.command("get_config") is not None and live.id in self.app.hub.sessions:
            try:
                config, _, _ = await self.app.hub.configs.get(live.id)
                return config
            except ApiError:
                pass
        return await self.app.hub.configs.last_known(live.id)

    async def _audit_refused(self, principal: Any, ip: str, row: Any, action: Any, error: ApiError,
                             extra: dict) -> None:
        details = {"action": action.get("type") if isinstance(action, dict) else None, "command_id": None,
                   "node_id": row.node_id, "error": error.message[:500], **extra}
        await self.app.db.write(audit.record, principal.actor(ip), "ai.proposal.apply", result="failure",
                                target_type="node", target_id=row.node_id, node_id=row.node_id,
                                error_code=error.code, details=details)

    async def _note_result(self, row: Any, driver: Any, spec: Any, data: Any) -> None:
        masked = driver.masker.mask(data, replacement="••••••")
        text = json.dumps(masked, indent=2, ensure_ascii=False, default=str)
        if len(text) > 8000:
            text = text[:8000] + "\n… (truncated)"
        content = f"Result of **{spec.display_name}** on `{row.node_name}`:\n\n```json\n{text}\n```"
        await self.app.db.write(store.add_note, row.thread_id, content, "manager")


def _sum(a: int | None, b: int | None) -> int | None:
    if a is None and b is None:
        return None
    return (a or 0) + (b or 0)

