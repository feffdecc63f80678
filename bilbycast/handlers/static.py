"""Static assets with the same security headers, request id and JSON errors as every other
response (api.md §1.3, §1.7)."""

from __future__ import annotations

import json
import uuid

import tornado.web


class SecureStaticFileHandler(tornado.web.StaticFileHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cross-Origin-Opener-Policy", "same-origin")
        self.set_header("Cross-Origin-Resource-Policy", "same-origin")
        self.set_header("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        self.set_header("X-Request-Id", getattr(self, "request_id", None) or self._new_request_id())
        app = self.application
        self.set_header("Content-Security-Policy", app.content_security_policy(self.request.host))
        if app.config.tls_mode == "direct":
            self.set_header("Strict-Transport-Security", "max-age=63072000; includeSubDomains")

    def _new_request_id(self) -> str:
        self.request_id = str(uuid.uuid4())
        return self.request_id

    def write_error(self, status_code: int, **kwargs) -> None:
        code = {404: "not_found", 405: "method_not_allowed"}.get(status_code, "internal_error")
        message = {404: "No such file", 405: "Method not allowed"}.get(status_code, "Internal error")
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message, "code": code, "request_id": self.request_id}))
