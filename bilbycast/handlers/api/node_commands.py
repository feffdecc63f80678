"""Node commands over REST: /command, config GET/PUT, and the flow/input/output convenience
routes (api.md §7). Every one goes through hub.commands.CommandService."""

from __future__ import annotations

import json
from typing import Any

from ...drivers.base import ActionError
from ...hub.commands import action_error
from ...hub.config_cache import config_hash
from ...services import audit
from ...services.errors import ApiError
from ...services.rbac import role_at_least
from .nodes import NodeScopedHandler


class NodeCommandHandler(NodeScopedHandler):
    async def post(self, node_id: str) -> None:
        body = self.json_body()
        self.visible_live(node_id)
        unknown = [k for k in body if k != "action"]
        if unknown or "action" not in body:
            raise ApiError(422, "validation_failed", "The body must be {\"action\": {...}}",
                           fields=[{"path": "/action", "message": "required"}])
        result = await self.app.commands.run(self.principal, node_id, body["action"], self.client_ip)
        self.write_json(result.to_api())


class NodeConfigHandler(NodeScopedHandler):
    async def get(self, node_id: str) -> None:
        live = self.visible_live(node_id)
        driver = self.app.drivers.get(live.device_type)
        if driver is None or driver.command("get_config") is None:
            raise ApiError(422, "not_supported", f"Device type {live.device_type} has no configuration to read")
        reveal = self.get_query_argument("reveal_secrets", "false") == "true"
        if reveal and not role_at_least(self.principal.role, "operator"):
            raise ApiError(403, "forbidden", "Revealing secrets needs the operator role")
        refresh = self.get_query_argument("refresh", "false") == "true"
        config, source, fetched_at = await self.app.hub.configs.get(node_id, refresh=refresh)
        if reveal:
            await self.app.db.write(audit.record, self.actor(), "node.config.reveal", target_type="node",
                                    target_id=node_id, node_id=node_id)
        self.set_header("X-Config-Source", source)
        self.set_header("X-Config-Fetched-At", fetched_at)
        self.set_header("ETag", f'"{config_hash(config)}"')
        self.write_json(config if reveal else driver.mask_config(config))

    async def put(self, node_id: str) -> None:
        body = self.json_body()
        live = self.visible_live(node_id)
        driver = self.app.drivers.get(live.device_type)
        if driver is None or driver.command("update_config") is None:
            raise ApiError(422, "not_supported", f"Device type {live.device_type} does not accept a full config")
        current, _, _ = await self.app.hub.configs.get(node_id, refresh=True)
        if_match = self.request.headers.get("If-Match")
        if if_match and if_match.strip('"') != config_hash(current):
            raise ApiError(409, "config_changed", "The node's config changed since you read it; reload and retry")
        try:
            driver.validate_config(body)
            restored = driver.restore_secrets(body, current)
        except ActionError as exc:
            raise action_error(exc) from None
        action = {"type": "update_config", "config": restored}
        result = await self.app.commands.run(self.principal, node_id, action, self.client_ip,
                                             audit_action="node.config.update")
        self.write_json(result.to_api())


class EntityActionHandler(NodeScopedHandler):
    """Convenience routes (api.md §7.3): the route's options say which action the call builds.

    options: feature (flows | inputs_outputs), create / update / delete / verb (action types),
    id_arg (flow_id | input_id | output_id), body_key (flow | input | output).
    """

    async def run_action(self, node_id: str, action_type: str, entity_id: str | None = None, *,
                         with_body: bool) -> None:
        body = self.json_body(allow_empty=not with_body)
        live = self.visible_live(node_id)
        feature = self.options["feature"]
        driver = self.app.drivers.get(live.device_type)
        if driver is None or feature not in driver.features:
            raise ApiError(422, "not_supported", f"Device type {live.device_type} has no {feature.replace('_', '/')}")
        action: dict[str, Any] = {"type": action_type}
        if entity_id is not None:
            action[self.options["id_arg"]] = entity_id
        if action_type == "activate_input":
            action["input_id"] = body.get("input_id")
        elif with_body:
            if action_type == "update_flow" and body.get("id") not in (None, entity_id):
                raise ApiError(422, "validation_failed", "The flow id in the body must match the URL",
                               fields=[{"path": "/id", "message": f"must be {entity_id}"}])
            action[self.options["body_key"]] = body
        result = await self.app.commands.run(self.principal, node_id, action, self.client_ip)
        self.write_json(result.to_api())


class EntityCollectionHandler(EntityActionHandler):
    """POST /nodes/{id}/flows | inputs | outputs."""

    async def post(self, node_id: str) -> None:
        await self.run_action(node_id, self.options["create"], with_body=True)


class EntityItemHandler(EntityActionHandler):
    """PUT / DELETE /nodes/{id}/flows/{flow_id} (and inputs, outputs)."""

    async def put(self, node_id: str, entity_id: str) -> None:
        await self.run_action(node_id, self.options["update"], entity_id, with_body=True)

    async def delete(self, node_id: str, entity_id: str) -> None:
        await self.run_action(node_id, self.options["delete"], entity_id, with_body=False)


class FlowVerbHandler(EntityActionHandler):
    """POST /nodes/{id}/flows/{flow_id}/start | stop | restart | activate-input."""

    async def post(self, node_id: str, entity_id: str) -> None:
        verb = self.options["verb"]
        await self.run_action(node_id, verb, entity_id, with_body=verb == "activate_input")


class ThumbnailHandler(NodeScopedHandler):
    async def get(self, node_id: str, flow_id: str) -> None:
        live = self.visible_live(node_id)
        thumb = live.thumbnails.get((flow_id, self.get_query_argument("input_id", None)))
        if thumb is None:
            raise ApiError(404, "no_thumbnail", "No thumbnail for this flow yet")
        import time

        etag = f'"{thumb.generation}"'
        self.set_header("Cache-Control", "no-store")
        self.set_header("ETag", etag)
        self.set_header("X-Thumbnail-Captured-At", thumb.captured_at)
        self.set_header("X-Thumbnail-Age-Secs", str(int(time.monotonic() - thumb.received_monotonic)))
        if self.request.headers.get("If-None-Match") == etag:
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Type", "image/jpeg")
        self.finish(thumb.jpeg)
