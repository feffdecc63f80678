"""/api/v1/settings, /api/v1/settings/tls and /api/v1/audit-log."""

from __future__ import annotations

from ...services import audit
from ...services.errors import ApiError
from ...timeutil import now_iso
from ..base import BaseHandler


class SettingsHandler(BaseHandler):
    async def get(self) -> None:
        self.write_json(self.app.runtime_settings.to_api())

    async def put(self) -> None:
        body = self.json_body()
        unknown = [k for k in body if k != "settings"]
        if unknown:
            raise ApiError(422, "unknown_field", f"Unknown field: {unknown[0]}")
        if self.principal.allowed_node_ids is not None:
            raise ApiError(403, "node_access_restricted", "Users with a node allowlist cannot change settings")
        changes = self.app.runtime_settings.validate_update(body.get("settings"), cloud_enabled=self.app.config.ai_cloud_enabled)
        actor = self.actor()

        def store():
            diff = self.app.runtime_settings.apply(changes, actor.user_id)
            audit.record(actor, "settings.update", target_type="settings", details={"changes": diff})
            return diff

        await self.app.db.write(store)
        self.app.runtime_settings.commit(changes, actor.user_id, now_iso())
        self.write_json(self.app.runtime_settings.to_api())


class TlsSettingsHandler(BaseHandler):
    async def get(self) -> None:
        self.write_json(self.app.tls_status())


class AuditLogHandler(BaseHandler):
    async def get(self) -> None:
        filters = audit.parse_filters(self.query_args())
        page = self.query_int("page", 1, 1, 10_000)
        per_page = self.query_int("per_page", 100, 1, 500)
        result = await self.app.db.read(audit.query, filters, page, per_page, self.principal.allowed_node_ids)
        self.write_json(result)
