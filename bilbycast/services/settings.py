"""Runtime settings (api.md §11): a fixed whitelist kept in the database and cached in memory.

The running server reads `Settings.get(key)` at the moment it needs a value, so a change takes
effect at once without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db.models import Setting
from ..timeutil import now_iso
from .errors import ApiError, validation_failed

AI_PROVIDERS = ("ollama", "openai", "anthropic", "gemini")


@dataclass(frozen=True)
class Definition:
    type: str
    default: Any
    description: str
    min: int | None = None
    max: int | None = None
    unit: str | None = None
    choices: tuple[str, ...] | None = None
    max_length: int | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "default": self.default, "description": self.description}
        for name in ("min", "max", "unit", "max_length"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    def check(self, key: str, value: Any) -> str | None:
        """Return a problem description, or None when the value is acceptable."""
        if self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return "must be an integer"
            if not self.min <= value <= self.max:
                return f"must be between {self.min} and {self.max}"
            return None
        if not isinstance(value, str):
            return "must be a string"
        if self.choices and value not in self.choices:
            return "must be one of " + ", ".join(self.choices)
        if self.max_length is not None and len(value) > self.max_length:
            return f"must be at most {self.max_length} characters"
        if self.type == "url":
            if not value.startswith(("http://", "https://")) or len(value) > 2048 or len(value) < 10:
                return "must be an http or https URL of at most 2048 characters"
        return None


DEFINITIONS: dict[str, Definition] = {
    "node_offline_threshold_secs": Definition("integer", 45, "A node is marked offline after this long without any message.", 20, 600, "s"),
    "stats_history_retention_days": Definition("integer", 30, "How long the 5-minute stats history is kept.", 1, 365, "d"),
    "events_retention_days": Definition("integer", 90, "Events older than this are pruned.", 1, 3650, "d"),
    "session_lifetime_hours": Definition("integer", 24, "Lifetime of new sessions (absolute, no sliding renewal).", 1, 720, "h"),
    "login_ip_max_attempts": Definition("integer", 5, "Login attempts allowed per client IP in the window.", 1, 100),
    "login_ip_window_secs": Definition("integer", 60, "Window for the per-IP login limit.", 10, 3600, "s"),
    "login_account_max_failures": Definition("integer", 5, "Consecutive failures that lock an account name.", 1, 100),
    "login_account_lockout_minutes": Definition("integer", 15, "How long a locked account name stays locked.", 1, 1440, "min"),
    "ai_default_provider": Definition("string", "ollama", "AI provider used when a request names none.", choices=AI_PROVIDERS),
    "ai_default_model": Definition("string", "llama3.1:8b", "AI model used when a request names none; empty = provider default.", max_length=128),
    "ollama_url": Definition("url", "http://127.0.0.1:11434", "Where the local Ollama server listens."),
}


class Settings:
    """In-memory view of the settings table; the database stays the source of truth."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {k: d.default for k, d in DEFINITIONS.items()}
        self.updated_at: str | None = None
        self.updated_by: str | None = None

    def load(self) -> None:
        """Read stored values (run in a DB thread)."""
        for row in Setting.select():
            if row.key in DEFINITIONS and DEFINITIONS[row.key].check(row.key, row.value) is None:
                self._values[row.key] = row.value
            if self.updated_at is None or row.updated_at > self.updated_at:
                self.updated_at, self.updated_by = row.updated_at, row.updated_by

    def get(self, key: str) -> Any:
        return self._values[key]

    def to_api(self) -> dict[str, Any]:
        return {
            "settings": dict(self._values),
            "definitions": {k: d.to_api() for k, d in DEFINITIONS.items()},
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    def validate_update(self, changes: Any, *, cloud_enabled: bool) -> dict[str, Any]:
        if not isinstance(changes, dict):
            raise validation_failed("settings must be an object", [{"path": "/settings", "message": "must be an object"}])
        unknown = [k for k in changes if k not in DEFINITIONS]
        if unknown:
            raise ApiError(422, "unknown_field", f"Unknown setting: {unknown[0]}",
                           fields=[{"path": f"/settings/{k}", "message": "unknown setting"} for k in unknown])
        problems = []
        for key, value in changes.items():
            problem = DEFINITIONS[key].check(key, value)
            if problem:
                problems.append({"path": f"/settings/{key}", "message": problem})
        if problems:
            raise validation_failed("Settings failed validation", problems)
        if not cloud_enabled and changes.get("ai_default_provider", "ollama") != "ollama":
            raise ApiError(422, "ai_provider_not_configured", "Cloud AI providers are disabled on this installation")
        return changes

    def apply(self, changes: dict[str, Any], user_id: str | None) -> dict[str, dict[str, Any]]:
        """Store the changes (run in the writer). Returns {key: {old, new}} for the audit row."""
        stamp = now_iso()
        diff = {}
        for key, value in changes.items():
            old = self._values[key]
            Setting.replace(key=key, value=value, updated_at=stamp, updated_by=user_id).execute()
            if old != value:
                diff[key] = {"old": old, "new": value}
        return diff

    def commit(self, changes: dict[str, Any], user_id: str | None, stamp: str) -> None:
        """After the write committed, make the new values live."""
        self._values.update(changes)
        self.updated_at, self.updated_by = stamp, user_id
