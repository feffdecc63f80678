"""/api/v1/preferences: the caller's own UI preferences (api.md §10.3).

Only the keys of the spec's table are stored, each with its exact value type.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable
from zoneinfo import ZoneInfo

import peewee as pw

from ...db.models import Preference
from ...services.errors import ApiError, not_found, validation_failed
from ..base import BaseHandler

AI_PROVIDERS = ("ollama", "openai", "anthropic", "gemini")
_TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")


@lru_cache(maxsize=512)
def _is_zone(name: str) -> bool:
    """An IANA zone the server can load (checked by name, never by scanning the zone list)."""
    if len(name) > 64 or not _TZ_NAME.match(name):
        return False
    try:
        ZoneInfo(name)
        return True
    except (ValueError, OSError, KeyError):
        return False


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in allowed else f"must be one of {', '.join(allowed)}"
    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _flow_order(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > 500:
        return "must be an array of at most 500 strings"
    if not all(isinstance(item, str) and 0 < len(item) <= 512 for item in value):
        return "every item must be a string of 1-512 characters"
    return None


def _timezone(value: Any) -> str | None:
    return None if isinstance(value, str) and (value == "browser" or _is_zone(value)) \
        else 'must be "browser" or an IANA time zone name'


def _per_page(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 10 <= value <= 200
    return None if ok else "must be an integer from 10 to 200"


def _ai_selection(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != {"provider", "model"}:
        return "must be an object with exactly provider and model"
    if value["provider"] not in AI_PROVIDERS:
        return f"provider must be one of {', '.join(AI_PROVIDERS)}"
    model = value["model"]
    if not isinstance(model, str) or not 0 < len(model) <= 256 or any(ord(c) < 32 for c in model):
        return "model must be a string of 1-256 characters"
    return None


PREFERENCES: dict[str, Callable[[Any], str | None]] = {
    "topology_view": _one_of("graph", "flow"),
    "topology_hide_offline": _boolean,
    "dashboard_hide_offline": _boolean,
    "flow_table_order": _flow_order,
    "events_timezone": _timezone,
    "events_per_page": _per_page,
    "ai_selection": _ai_selection,
}


def _known_key(key: str) -> str:
    if key not in PREFERENCES:
        raise validation_failed(f"Unknown preference: {key[:64]}",
                                [{"path": "", "message": f"allowed keys: {', '.join(PREFERENCES)}"}])
    return key


class PreferencesHandler(BaseHandler):
    async def get(self) -> None:
        rows = await self.app.db.read(_values_of, self.principal.user_id)
        self.write_json({key: value for key, value in rows if key in PREFERENCES})


class PreferenceHandler(BaseHandler):
    async def get(self, key: str) -> None:
        if key not in PREFERENCES:
            raise not_found("Preference")
        row = await self.app.db.read(Preference.get_or_none, (Preference.user_id == self.principal.user_id)
                                     & (Preference.key == key))
        if row is None:
            raise not_found("Preference")
        self.write_json({"value": row.value})

    async def put(self, key: str) -> None:
        body = self.json_body()
        unknown = [k for k in body if k != "value"]
        if unknown:
            raise ApiError(422, "unknown_field", f"Unknown field: {unknown[0]}",
                           fields=[{"path": f"/{k}", "message": "unknown field"} for k in unknown])
        _known_key(key)
        if "value" not in body:
            raise validation_failed("value is required", [{"path": "/value", "message": "required"}])
        problem = PREFERENCES[key](body["value"])
        if problem:
            raise validation_failed(f"{key} {problem}", [{"path": "/value", "message": problem}])
        await self.app.db.write(_store, self.principal.user_id, key, body["value"])
        self.no_content()

    async def delete(self, key: str) -> None:
        _known_key(key)
        await self.app.db.write(_remove, self.principal.user_id, key)
        self.no_content()


def _values_of(user_id: str) -> list[tuple[str, Any]]:
    rows = Preference.select().where(Preference.user_id == user_id).order_by(Preference.key)
    return [(row.key, row.value) for row in rows]


def _store(user_id: str, key: str, value: Any) -> None:
    Preference.insert(user_id=user_id, key=key, value=value).on_conflict(
        conflict_target=[Preference.user_id, Preference.key], update={Preference.value: pw.EXCLUDED.value}).execute()


def _remove(user_id: str, key: str) -> None:
    Preference.delete().where((Preference.user_id == user_id) & (Preference.key == key)).execute()
