"""/api/v1/export and /api/v1/import (api.md §13): thin adapters over services.backup.

The slow steps (Argon2id with 64 MiB, gzip, AES over up to 32 MiB) run on the CPU pool; the
import itself runs in the database writer as one transaction. After an import the running
manager drops everything it held about the old data: node connections, live node state, the
runtime settings, the alarm counts and every browser session (api.md §13.2).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ...db.models import Node
from ...services import audit
from ...services import backup as backup_service
from ...services.errors import ApiError
from ...services.settings import DEFINITIONS
from ..base import BaseHandler

if TYPE_CHECKING:
    from ...app import ManagerApp

log = logging.getLogger("bilbycast.backup")

PASSPHRASE_HEADER = "X-Backup-Passphrase"
# Nodes reconnect on any close; 1012 ("service restart") says why without implying an error.
IMPORT_CLOSE_CODE, IMPORT_CLOSE_REASON = 1012, "manager data replaced by a backup import"
STRAY_CHECK_SECS = 2.0
AUDITED_IMPORT_FAILURES = ("backup_decrypt_failed", "backup_invalid", "import_target_not_empty")


class BackupHandler(BaseHandler):
    def passphrase(self) -> str:
        raw = self.request.headers.get(PASSPHRASE_HEADER)
        if raw is None:
            return backup_service.check_passphrase(None)
        # Header values arrive as latin-1; a client that sent UTF-8 gets its characters back, so a
        # passphrase typed with accents means the same here as in the CLI.
        try:
            raw = raw.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        return backup_service.check_passphrase(raw)

    def flag(self, name: str) -> bool:
        value = (self.get_query_argument(name, "false") or "false").lower()
        if value not in ("true", "false"):
            raise ApiError(400, "invalid_query", f"{name} must be true or false")
        return value == "true"

    async def on_cpu(self, fn, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.app.cpu_pool, fn, *args)


class ExportHandler(BackupHandler):
    async def get(self) -> None:
        include_events, include_audit = self.flag("include_events"), self.flag("include_audit")
        passphrase = self.passphrase()
        payload, stats = await self.app.db.read(
            backup_service.collect_payload, self.app.vault, exported_by=self.principal.username,
            include_events=include_events, include_audit=include_audit)
        backup_file = await self.on_cpu(backup_service.seal_payload, payload, passphrase)
        del payload
        await self.app.db.write(audit.record, self.actor(), "backup.export", target_type="backup", details={
            "include_events": include_events, "include_audit": include_audit, "counts": stats.counts,
            "file": backup_file.filename, "unreadable": stats.unreadable_secrets})
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Disposition", f'attachment; filename="{backup_file.filename}"')
        self.finish(backup_file.content)


class ImportHandler(BackupHandler):
    async def post(self) -> None:
        force = self.flag("force")
        document = self.json_body()
        passphrase = self.passphrase()
        actor = self.actor()
        try:
            opened = await self.on_cpu(backup_service.open_backup, document, passphrase)
            del document
            prepared = await self.on_cpu(backup_service.prepare_import, opened, self.app.vault)
            report = await self.app.db.write(backup_service.apply_import, prepared, actor, force=force)
        except ApiError as exc:
            if exc.code in AUDITED_IMPORT_FAILURES:
                await self.app.db.write(audit.record, actor, "backup.import", result="failure",
                                        target_type="backup", error_code=exc.code)
            raise
        log.warning("backup import by %s replaced the manager's data (%s); every session was revoked",
                    actor.username, ", ".join(f"{k} {v}" for k, v in report.counts.items()))
        await reload_after_import(self.app, report)
        if self.principal.auth == "cookie":
            self.clear_session_cookies()
        self.write_json(report.to_api())

    def clear_session_cookies(self) -> None:
        secure = not self.app.config.behind_proxy
        for name in ("session", "csrf_token"):
            attributes = [f'{name}=""', "Expires=Thu, 01 Jan 1970 00:00:00 GMT", "Max-Age=0", "Path=/",
                          "SameSite=Lax", *(["Secure"] if secure else []), *(["HttpOnly"] if name == "session" else [])]
            self.add_header("Set-Cookie", "; ".join(attributes))


async def reload_after_import(app: "ManagerApp", report: backup_service.ImportReport) -> None:
    """Make the running manager forget the old data, through the hub's public pieces.

    Every node connection is unregistered first, then closed: its later on_close finds another
    (or no) session registered and changes nothing, so no "disconnected" event is written about a
    node that may no longer exist. The live view is then rebuilt from the imported records. All
    of it after the one read runs without yielding, so no handshake can interleave.
    """
    rows = await app.db.read(lambda: list(Node.select()))
    hub = app.hub
    for node_id, session in list(hub.sessions.items()):
        hub.sessions.pop(node_id, None)
        session.fail_all()
        session.close(IMPORT_CLOSE_CODE, IMPORT_CLOSE_REASON)
    imported = {row.id for row in rows}
    for node_id in [n for n in hub.live if n not in imported]:
        hub.node_deleted(node_id)
    for row in rows:
        hub.node_created(row)  # a fresh live view: offline or pending, no cached config
    values = {key: definition.default for key, definition in DEFINITIONS.items()}
    values.update(report.settings)
    app.runtime_settings.commit(values, report.settings_updated_by, report.settings_updated_at)
    app.on_events_acknowledged()  # recount the alarm badges from the imported events
    for user_id in {client.principal.user_id for client in app.fanout.clients}:
        app.on_user_changed(user_id)  # their sessions are gone: the dashboard sockets close 4001
    # A handshake that read the old records before the import committed may still attach after
    # this; one later pass drops any node the imported data does not know.
    asyncio.get_running_loop().call_later(STRAY_CHECK_SECS, lambda: hub.spawn(_drop_stray_nodes(app)))


async def _drop_stray_nodes(app: "ManagerApp") -> None:
    if app.shutting_down:
        return
    known = set(await app.db.read(lambda: [row.id for row in Node.select(Node.id)]))
    for node_id in [n for n in app.hub.live if n not in known]:
        app.hub.node_deleted(node_id)
