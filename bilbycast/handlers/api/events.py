"""/api/v1/events: list, unacknowledged count, CSV export, acknowledge one or many."""

from __future__ import annotations

from ...services import audit
from ...services import events as event_service
from ...services.errors import ApiError, not_found
from ...timeutil import utcnow
from ..base import BaseHandler


class EventsHandler(BaseHandler):
    async def get(self) -> None:
        filters = event_service.parse_filters({k: self.get_query_arguments(k) for k in self.request.query_arguments})
        page = self.query_int("page", 1, 1, 10_000)
        per_page = self.query_int("per_page", 50, 1, 200)
        result = await self.app.db.read(event_service.query, filters, page, per_page,
                                        self.principal.allowed_node_ids)
        self.write_json(result)


class EventCountHandler(BaseHandler):
    async def get(self) -> None:
        self.write_json(await self.app.db.read(event_service.unacked_counts, self.principal.allowed_node_ids))


class EventExportHandler(BaseHandler):
    async def get(self) -> None:
        filters = event_service.parse_filters({k: self.get_query_arguments(k) for k in self.request.query_arguments})
        text = await self.app.db.read(event_service.export_csv, filters, self.principal.allowed_node_ids)
        stamp = utcnow().strftime("%Y%m%d-%H%M%S")
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="events-{stamp}.csv"')
        self.finish(text)


class EventAckHandler(BaseHandler):
    async def post(self, event_id: str) -> None:
        self.json_body(allow_empty=True)
        try:
            number = int(event_id)
        except ValueError:
            raise not_found("Event") from None
        p = self.principal
        actor = self.actor()

        def ack():
            row = event_service.get_visible(number, p.allowed_node_ids)
            if row is None:
                raise not_found("Event")
            count, rows = event_service.acknowledge([number], p.user_id, p.username, p.allowed_node_ids)
            if count:
                audit.record(actor, "event.ack", target_type="event", target_id=str(number), node_id=row.node_id)
            return event_service.to_api(event_service.get_visible(number, p.allowed_node_ids))

        event = await self.app.db.write(ack)
        self.app.on_events_acknowledged()
        self.write_json(event)


class EventBulkAckHandler(BaseHandler):
    async def post(self) -> None:
        body = self.json_body()
        p = self.principal
        actor = self.actor()
        if "ids" in body:
            ids = body["ids"]
            if not isinstance(ids, list) or not 1 <= len(ids) <= 1000 or not all(
                    isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise ApiError(422, "validation_failed", "ids must be a list of 1-1000 event ids",
                               fields=[{"path": "/ids", "message": "1-1000 integers"}])

            def ack_ids():
                count, _ = event_service.acknowledge(ids, p.user_id, p.username, p.allowed_node_ids)
                audit.record(actor, "event.ack_bulk", target_type="event", details={"ids": ids[:100], "acknowledged": count})
                return count

            count = await self.app.db.write(ack_ids)
            total = len(set(ids))
        elif isinstance(body.get("filter"), dict):
            raw = body["filter"]
            if not raw.get("before"):
                raise ApiError(422, "validation_failed", "filter.before is required",
                               fields=[{"path": "/filter/before", "message": "required"}])
            query = {k: ([str(x) for x in v] if isinstance(v, list) else [str(v)]) for k, v in raw.items()}
            query["severity"] = [",".join(query["severity"])] if "severity" in query else []
            try:
                filters = event_service.parse_filters(query)
            except ApiError as exc:
                raise ApiError(422, "validation_failed", exc.message) from None

            def ack_filter():
                count = event_service.acknowledge_filter(filters, p.user_id, p.username, p.allowed_node_ids)
                audit.record(actor, "event.ack_bulk", target_type="event", details={"filter": raw, "acknowledged": count})
                return count

            count = await self.app.db.write(ack_filter)
            total = count
        else:
            raise ApiError(422, "validation_failed", "Send {\"ids\": [...]} or {\"filter\": {...}}")
        self.app.on_events_acknowledged()
        self.write_json({"acknowledged": count, "skipped": max(0, total - count)})
