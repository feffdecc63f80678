"""/health, /metrics and /api/v1/openapi.json."""

from __future__ import annotations

import time

from ...services.crypto import constant_time_equals
from ...services.errors import ApiError
from ... import __version__
from ..base import BaseHandler, is_loopback


class HealthHandler(BaseHandler):
    async def get(self) -> None:
        ok = self.app.db.healthy and not self.app.shutting_down
        self.write_json({
            "status": "ok" if ok else "error", "service": "bilbycast-manager", "version": __version__,
            "self_signed_cert": self.app.self_signed_cert,
            "uptime_secs": int(time.monotonic() - self.app.started_monotonic),
        }, 200 if ok else 503)


class MetricsHandler(BaseHandler):
    async def get(self) -> None:
        headers = self.request.headers
        local = is_loopback(self.request.remote_ip or "") and "Forwarded" not in headers \
            and "X-Forwarded-For" not in headers
        token_ok = False
        auth = headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
            token_ok = any(constant_time_equals(presented, t) for t in self.app.config.metrics_tokens)
        if not (local or token_ok):
            raise ApiError(403, "metrics_forbidden", "Metrics are served to loopback or a metrics token only")
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(self.app.metrics.render(self.app))


class OpenApiHandler(BaseHandler):
    async def get(self) -> None:
        self.write_json(self.app.openapi_document())
