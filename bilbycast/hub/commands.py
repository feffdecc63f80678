"""The one path every node command takes (api.md §7.2): driver checks in order, secret
placeholders put back, send, wait for the ack, audit — for /command, PUT /config, the flow /
input / output routes and AI proposal apply alike."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..drivers.base import ActionError
from ..services import audit
from ..services.audit import Actor
from ..services.errors import ApiError
from ..services.rbac import role_at_least
from .session import rejection

if TYPE_CHECKING:
    from ..app import ManagerApp
    from ..services.auth import Principal


@dataclass
class CommandResult:
    command_id: str | None
    success: bool
    data: Any
    duration_ms: int

    def to_api(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "success": self.success, "data": self.data,
                "duration_ms": self.duration_ms}


def action_error(exc: ActionError) -> ApiError:
    extra = {k: v for k, v in exc.to_body().items() if k not in ("error", "code")}
    return ApiError(exc.status, exc.code, exc.message, **extra)


class CommandService:
    def __init__(self, app: "ManagerApp"):
        self.app = app

    @property
    def hub(self):
        return self.app.hub

    def driver_for(self, node_id: str):
        live = self.hub.live.get(node_id)
        driver = self.app.drivers.get(live.device_type) if live else None
        if driver is None:
            raise ApiError(422, "unknown_device_type", "No driver for this node's device type")
        return live, driver

    async def check(self, principal: "Principal", node_id: str, action: Any) -> tuple[Any, Any, dict]:
        """Steps 1-6 of api.md §7.2; returns (spec, driver, action with secrets restored)."""
        live, driver = self.driver_for(node_id)
        role_ok = lambda role: role_at_least(principal.role, role)  # noqa: E731
        if self._needs_refresh(node_id, driver):
            # Refuse what can be refused without the node first (catalogue, role, arguments,
            # capabilities; api.md §1.4 puts the role before the action): a refused action then
            # costs no get_config round trip, and is answered at once even by a slow node.
            # Drivers check fewer things without a config, never more, so nothing is lost.
            try:
                driver.check_action(action, role_level_ok=role_ok, capabilities=live.capabilities, config=None,
                                    protocol_version=live.protocol_version)
            except ActionError as exc:
                raise action_error(exc) from None
        config = await self.current_config(node_id, driver)
        try:
            spec = driver.check_action(action, role_level_ok=role_ok,
                                       capabilities=live.capabilities, config=config,
                                       protocol_version=live.protocol_version)
            restored = driver.restore_action_secrets(action, config) if config is not None else action
        except ActionError as exc:
            raise action_error(exc) from None
        return spec, driver, restored

    def _needs_refresh(self, node_id: str, driver: Any) -> bool:
        live = self.hub.live.get(node_id)
        cached = live.config if live is not None else None
        online = node_id in self.hub.sessions
        return online and driver.command("get_config") is not None and (cached is None or cached.stale)

    async def current_config(self, node_id: str, driver: Any) -> dict | None:
        """The config the driver checks against: re-read from the node when a config-changing
        command made the cached copy stale (an input created a moment ago must count)."""
        if self._needs_refresh(node_id, driver):
            try:
                config, _, _ = await self.hub.configs.get(node_id, refresh=True)
                return config
            except ApiError:
                pass  # fall back to the last known copy; the node still has the final word
        return await self.hub.configs.last_known(node_id)

    async def run(self, principal: "Principal", node_id: str, action: Any, ip: str,
                  *, audit_action: str = "node.command", extra_audit: dict | None = None) -> CommandResult:
        """Check, send, wait, audit. Raises ApiError for every failure (audited too)."""
        actor = principal.actor(ip)
        masked = self._masked(node_id, action)
        try:
            spec, driver, restored = await self.check(principal, node_id, action)
        except ApiError as exc:
            await self._audit(actor, audit_action, node_id, masked, None, exc, extra_audit)
            raise
        return await self.send_checked(actor, node_id, driver, spec, restored, masked, audit_action, extra_audit)

    async def send_checked(self, actor: Actor, node_id: str, driver: Any, spec: Any, action: dict, masked: Any,
                           audit_action: str, extra_audit: dict | None = None) -> CommandResult:
        started = time.monotonic()
        result: CommandResult | None = None
        command_id = None
        completed: list[dict] = []
        try:
            for step in driver.expand(action):  # composite actions run in order, each acked first
                if step.get("type") == "get_config":
                    config, _, _ = await self.hub.configs.get(node_id, refresh=True)
                    result = CommandResult(None, True, driver.mask_config(config), 0)
                    continue
                ack = await self.hub.send_command(node_id, step, driver.timeout_for(step.get("type", "")))
                command_id = ack.get("command_id")
                if not ack.get("success"):
                    raise rejection(ack)
                completed.append(step)
                result = CommandResult(command_id, True, ack.get("data"), 0)
        except ApiError as exc:
            if command_id:
                exc.extra.setdefault("command_id", command_id)
            if completed and len(driver.expand(action)) > 1:
                exc.extra["rolled_back"] = await self._roll_back(node_id, driver, completed)
            await self._audit(actor, audit_action, node_id, masked, command_id, exc, extra_audit)
            raise
        result.duration_ms = int((time.monotonic() - started) * 1000)
        await self._audit(actor, audit_action, node_id, masked, result.command_id, None, extra_audit)
        return result

    async def _roll_back(self, node_id: str, driver: Any, completed: list[dict]) -> list[str]:
        """A composite action refused part-way: undo what it created, newest first (product.md §7.1),
        so the node is left as it was. Returns the undo steps that succeeded."""
        rollback = getattr(driver, "rollback", None)
        if rollback is None:
            return []
        undone = []
        for step in rollback(completed):
            try:
                ack = await self.hub.send_command(node_id, step, driver.timeout_for(step.get("type", "")))
            except ApiError:
                break
            if not ack.get("success"):
                break
            undone.append(f"{step.get('type')} {next((v for k, v in step.items() if k != 'type'), '')}".strip())
        return undone

    def _masked(self, node_id: str, action: Any) -> Any:
        live = self.hub.live.get(node_id)
        driver = self.app.drivers.get(live.device_type) if live else None
        if driver is None or not isinstance(action, dict):
            return audit.scrub(action) if isinstance(action, dict) else None
        try:
            return driver.mask_action(action, replacement="••••••")
        except Exception:  # noqa: BLE001 - masking must never be the reason an audit row is lost
            return audit.scrub(action)

    async def _audit(self, actor: Actor, action_name: str, node_id: str, masked: Any, command_id: str | None,
                     error: ApiError | None, extra: dict | None) -> None:
        action_type = masked.get("type") if isinstance(masked, dict) else None
        args = {k: v for k, v in masked.items() if k != "type"} if isinstance(masked, dict) else None
        details = {"action": action_type, "args": args, "command_id": command_id, **(extra or {})}
        if error is not None:
            details["error"] = error.message[:500]
            details["node_error_code"] = error.extra.get("node_error_code")
        await self.app.db.write(audit.record, actor, action_name, result="failure" if error else "success",
                                target_type="node", target_id=node_id, node_id=node_id,
                                error_code=error.code if error else None, details=details)
