"""/api/v1/nodes (records, enrolment, rotation), live stats/health/history, device types,
endpoints. Thin: services.nodes and the hub do the work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...db.models import Node
from ...services import nodes as node_service
from ...services.errors import ApiError, not_found
from ...timeutil import parse_rfc3339, utcnow
from ...drivers.base import ActionError
from ...hub.commands import action_error
from ..base import BaseHandler


class NodeScopedHandler(BaseHandler):
    """Node routes answer 404 for nodes outside the caller's allowlist (api.md §3.2)."""

    def visible_live(self, node_id: str):
        allowed = self.principal.allowed_node_ids
        live = self.app.hub.live.get(node_id)
        if live is None or (allowed is not None and node_id not in allowed):
            raise not_found("Node")
        return live

    async def node_row(self, node_id: str) -> Node:
        self.visible_live(node_id)
        row = await self.app.db.read(Node.get_or_none, Node.id == node_id)
        if row is None:
            raise not_found("Node")
        return row

    def node_json(self, row: Node) -> dict[str, Any]:
        live = self.app.hub.live.get(row.id)
        driver = self.app.drivers.get(row.device_type)
        stale_after = driver.stale_after_secs if driver else 10
        summary = self.app.hub.summary_of(live) if live else None
        return node_service.to_api(row, live, stale_after, summary)

    def enrolment(self, node_id: str, token: str) -> dict[str, Any]:
        urls = [u.replace("https://", "wss://").replace("http://", "ws://") + "/ws/node"
                for u in self.app.public_base_urls] or [f"wss://{self.request.host}/ws/node"]
        cert = self.app.cert_info
        self_signed = bool(cert and cert.is_self_signed)
        return {"node_id": node_id, "registration_token": token, "manager_urls": urls,
                "cert_fingerprint_sha256": cert.fingerprint_sha256 if self_signed else None,
                "self_signed_cert": self_signed}

    def restricted_guard(self) -> None:
        if self.principal.allowed_node_ids is not None:
            raise ApiError(403, "node_access_restricted", "Users with a node allowlist cannot do this")


class NodesHandler(NodeScopedHandler):
    async def get(self) -> None:
        device_type = self.get_query_argument("device_type", None)
        status = self.get_query_argument("status", None)
        capability = self.get_query_argument("capability", None)
        search = (self.get_query_argument("search", "") or "").lower()
        if len(search) > 256:
            raise ApiError(400, "invalid_query", "search is longer than 256 characters")
        if status not in (None, "", "pending", "online", "offline"):
            raise ApiError(400, "invalid_query", "status must be pending, online or offline")
        rows = await self.app.db.read(lambda: list(Node.select().order_by(Node.name)))
        allowed = self.principal.allowed_node_ids
        out = []
        for row in rows:
            if allowed is not None and row.id not in allowed:
                continue
            item = self.node_json(row)
            if device_type and item["device_type"] != device_type:
                continue
            if status and item["status"] != status:
                continue
            if capability and capability not in (item["capabilities"] or []):
                continue
            if search and search not in item["name"].lower():
                continue
            out.append(item)
        self.write_json(out)

    async def post(self) -> None:
        body = self.json_body()
        self.restricted_guard()
        values = node_service.validate_fields(body, creating=True, known_types={d.device_type for d in self.app.drivers.all()})
        row, token = await self.app.db.write(node_service.create_row, values, self.app.vault, self.actor())
        self.app.hub.node_created(row)
        self.write_json({**self.node_json(row), **self.enrolment(row.id, token)}, 201)


class NodeHandler(NodeScopedHandler):
    async def get(self, node_id: str) -> None:
        self.write_json(self.node_json(await self.node_row(node_id)))

    async def put(self, node_id: str) -> None:
        body = self.json_body()
        await self.node_row(node_id)
        values = node_service.validate_fields(body, creating=False, known_types=set())
        row = await self.app.db.write(node_service.update_row, node_id, values, self.actor())
        self.app.hub.node_updated(row)
        self.write_json(self.node_json(row))

    async def delete(self, node_id: str) -> None:
        await self.node_row(node_id)
        self.app.hub.close_session(node_id, "deleted", 4002)
        await self.app.db.write(node_service.delete_row, node_id, self.actor())
        self.app.hub.node_deleted(node_id)
        self.no_content()


class NodeTokenHandler(NodeScopedHandler):
    async def post(self, node_id: str) -> None:
        self.json_body(allow_empty=True)
        await self.node_row(node_id)
        row, token = await self.app.db.write(node_service.regenerate_token, node_id, self.app.vault, self.actor())
        self.app.hub.token_regenerated(row)
        self.write_json(self.enrolment(row.id, token))


class NodeRotateSecretHandler(NodeScopedHandler):
    async def post(self, node_id: str) -> None:
        from ...services.crypto import new_token
        from ...services import audit

        self.json_body(allow_empty=True)
        row = await self.node_row(node_id)
        live = self.visible_live(node_id)
        if row.secret_enc is None:
            raise ApiError(409, "node_not_registered", "The node has not registered yet")
        driver = self.app.drivers.get(row.device_type)
        registered = parse_rfc3339(row.registered_at) if row.registered_at else None
        try:
            driver.check_secret_rotation(health=live.health_report, registered_at=registered, now=utcnow())
        except ActionError as exc:
            raise action_error(exc) from None
        self.app.hub.session_for(node_id)
        secret = await self.app.db.write(node_service.stage_rotation, node_id, new_token(), self.app.vault)
        try:
            ack = await self.app.hub.send_command(node_id, {"type": "rotate_secret", "new_secret": secret},
                                                  driver.timeout_for("rotate_secret"))
        except ApiError as exc:
            # The ack was lost: both secrets stay valid until the node uses one (node-protocol §2.7).
            await self.app.db.write(audit.record, self.actor(), "node.secret_rotate", result="failure",
                                    target_type="node", target_id=node_id, node_id=node_id, error_code=exc.code)
            raise
        if not ack.get("success"):
            from ...hub.session import rejection

            await self.app.db.write(_clear_pending, node_id)
            raise rejection(ack)
        stamp = await self.app.db.write(node_service.commit_rotation, node_id, self.app.vault, self.actor())
        self.write_json({"node_id": node_id, "rotated_at": stamp})


def _clear_pending(node_id: str) -> None:
    Node.update(pending_secret_enc=None).where(Node.id == node_id).execute()


class NodeStatsHandler(NodeScopedHandler):
    async def get(self, node_id: str) -> None:
        live = self.visible_live(node_id)
        self.write_json({"node_id": node_id, "status": live.status, "received_at": live.stats_received_at,
                         "stats": live.stats})


class NodeHealthHandler(NodeScopedHandler):
    async def get(self, node_id: str) -> None:
        live = self.visible_live(node_id)
        summary = self.app.hub.summary_of(live) or {}
        self.write_json({"node_id": node_id, "status": live.status, "health": live.health,
                         "health_reasons": summary.get("health_reasons", []), "target": summary.get("target"),
                         "received_at": live.health_received_at, "report": live.health_report})


class NodeHistoryHandler(NodeScopedHandler):
    async def get(self, node_id: str) -> None:
        live = self.visible_live(node_id)
        entity = self.get_query_argument("entity", "node")
        if entity not in ("node", "flow", "input", "output", "tunnel"):
            raise ApiError(400, "invalid_query", "entity must be node, flow, input, output or tunnel")
        now = utcnow()
        try:
            end = parse_rfc3339(self.get_query_argument("to")) if self.get_query_argument("to", None) else now
            start = parse_rfc3339(self.get_query_argument("from")) if self.get_query_argument("from", None) \
                else end - timedelta(hours=1)
        except ValueError:
            raise ApiError(400, "invalid_query", "from and to must be RFC 3339 timestamps") from None
        step = self.query_int("step", 0, 0, 31 * 86400) or None
        existing = self._existing_entities(live, entity)
        result = await self.app.history.query(node_id, entity, self.get_query_argument("id", None),
                                              self.get_query_arguments("metric") or None,
                                              int(start.timestamp()), int(end.timestamp()), step, existing)
        self.write_json(result)

    def _existing_entities(self, live, entity: str) -> set[str]:
        if entity == "node":
            return {live.id}
        config = live.config.config if live.config else {}
        key = {"flow": "flows", "input": "inputs", "output": "outputs", "tunnel": "tunnels"}[entity]
        items = config.get(key) if isinstance(config, dict) else None
        ids = {i.get("id") for i in items if isinstance(i, dict)} if isinstance(items, list) else set()
        stats = live.stats or {}
        for item in stats.get(key, []) if isinstance(stats.get(key), list) else []:
            if isinstance(item, dict) and isinstance(item.get("id") or item.get("flow_id"), str):
                ids.add(item.get("id") or item.get("flow_id"))
        return ids


class DeviceTypesHandler(BaseHandler):
    async def get(self) -> None:
        self.write_json(self.app.drivers.describe_all())


class EndpointsHandler(NodeScopedHandler):
    async def get(self) -> None:
        allowed = self.principal.allowed_node_ids
        out = []
        for live in sorted(self.app.hub.live.values(), key=lambda n: n.name.lower()):
            if allowed is not None and live.id not in allowed:
                continue
            driver = self.app.drivers.get(live.device_type)
            config = await self.app.hub.configs.last_known(live.id)
            flows = driver.endpoints(config, live.stats) if driver and config else []
            out.append({"node_id": live.id, "node_name": live.name, "device_type": live.device_type,
                        "status": live.status, "flows": flows})
        self.write_json(out)
