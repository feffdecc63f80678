"""Static assets with the same security headers as every other response."""

from __future__ import annotations

import tornado.web


class SecureStaticFileHandler(tornado.web.StaticFileHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cross-Origin-Opener-Policy", "same-origin")
        self.set_header("Cross-Origin-Resource-Policy", "same-origin")
        self.set_header("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        app = self.application
        self.set_header("Content-Security-Policy", app.content_security_policy(self.request.host))
        if app.config.tls_mode == "direct":
            self.set_header("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
