"""BaseHandler: every request passes the same checks, in api.md §1.4 order.

(1) route/method, (2) authentication, (3) CSRF + Origin for cookie-authenticated writes,
(4) the route's minimum role from the one RBAC table, (5) Content-Type, (6) body size (checked
on Content-Length before the body is read, and while it streams in), (7) JSON parsing on demand.
Handlers below this only call services and write results.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import tornado.web

from ..services.auth import Principal
from ..services.crypto import constant_time_equals
from ..services.errors import ApiError
from ..services.rbac import PUBLIC, Rule

if TYPE_CHECKING:
    from ..app import ManagerApp
    from ..routes import Route

log = logging.getLogger("bilbycast.http")
access_log = logging.getLogger("bilbycast.access")

MUTATING = ("POST", "PUT", "PATCH", "DELETE")
DEFAULT_BODY_LIMIT = 64 * 1024
PASSWORD_CHANGE_ALLOWED = frozenset({"/api/v1/auth/me", "/api/v1/auth/password", "/api/v1/auth/logout"})


@tornado.web.stream_request_body
class BaseHandler(tornado.web.RequestHandler):
    route: "Route"  # set by routes.py on each handler subclass instance via initialize()

    def initialize(self, route: "Route", **options: Any) -> None:
        self.route = route
        self.options = options
        self.principal: Principal | None = None
        self.request_id = str(uuid.uuid4())
        self._body_chunks: list[bytes] = []
        self._body_size = 0
        self._body_limit = DEFAULT_BODY_LIMIT
        self._prepared = False
        self._started = time.monotonic()

    @property
    def app(self) -> "ManagerApp":
        return self.application  # type: ignore[return-value]

    @property
    def rule(self) -> Rule | None:
        return self.route.rules.get(self.request.method)

    # -- headers ---------------------------------------------------------------------------
    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cross-Origin-Opener-Policy", "same-origin")
        self.set_header("Cross-Origin-Resource-Policy", "same-origin")
        self.set_header("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        self.set_header("Content-Security-Policy", self.app.content_security_policy(self.request.host))
        self.set_header("X-Request-Id", getattr(self, "request_id", "") or str(uuid.uuid4()))
        if self.app.config.tls_mode == "direct":
            self.set_header("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if self.request.path.startswith("/api/"):
            self.set_header("Cache-Control", "no-store")
        self.clear_header("Server")

    # -- client address --------------------------------------------------------------------
    @property
    def client_ip(self) -> str:
        peer = self.request.remote_ip or ""
        if not self.app.config.behind_proxy:
            return peer
        return self.app.forwarded_client_ip(peer, self.request.headers.get("X-Forwarded-For"))

    # -- checks ----------------------------------------------------------------------------
    async def prepare(self) -> None:
        self.set_header("X-Request-Id", self.request_id)
        if self.path_kwargs:
            # The route table names its parameters ({id}, {flow_id}); handlers take them in
            # template order, whatever they call them.
            self.path_args = list(self.path_kwargs.values())
            self.path_kwargs = {}
        rule = self.rule
        if rule is None:
            error = ApiError(405, "method_not_allowed", f"{self.request.method} is not allowed here")
            error.headers["Allow"] = ", ".join(sorted(self.route.rules))
            raise error
        if self.app.shutting_down and self.route.kind != "health":
            raise ApiError(503, "unavailable", "The server is shutting down")
        if rule.min_role != PUBLIC:
            self.principal = await self.authenticate()
            if self.principal is None:
                raise ApiError(401, "unauthenticated", "Sign in first")
        if self.request.method in MUTATING:
            if self.principal is not None and self.principal.auth == "cookie":
                self.check_csrf()
                self.check_same_origin()
            elif rule.min_role == PUBLIC and self.route.kind == "api":
                self.check_same_origin()  # login CSRF
        if not rule.allows(self.principal.role if self.principal else None):
            raise ApiError(403, "forbidden", "Your role does not allow this")
        if self.principal is not None and self.principal.must_change_password and self.route.kind == "api" \
                and self.route.template not in PASSWORD_CHANGE_ALLOWED:
            # A generated first-run password is shown once on a terminal: it must not stay in use.
            raise ApiError(403, "forbidden", "Change your password first (POST /api/v1/auth/password)")
        if self.principal is not None and self.route.kind == "api":
            retry = self.app.api_rate.take(self.principal.user_id)
            if retry is not None:
                raise ApiError(429, "rate_limited", "Too many requests", retry_after_secs=int(retry))
        self._check_body_headers()
        self._prepared = True  # from here on Tornado reads the whole body before the method runs

    async def authenticate(self) -> Principal | None:
        header = self.request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None
            return await self.app.auth.principal_for(token.strip(), "bearer")
        cookie = self.get_cookie("session")
        if not cookie:
            return None
        return await self.app.auth.principal_for(cookie, "cookie")

    def check_csrf(self) -> None:
        header = self.request.headers.get("X-CSRF-Token", "")
        cookie = self.get_cookie("csrf_token", "")
        stored = self.principal.csrf_token if self.principal else ""
        if not header or not cookie or not (constant_time_equals(header, cookie) and constant_time_equals(header, stored)):
            raise ApiError(403, "csrf_failed", "CSRF token missing or wrong")

    def check_same_origin(self) -> None:
        site = self.request.headers.get("Sec-Fetch-Site")
        if site in ("cross-site", "same-site"):
            raise ApiError(403, "cross_site_request", "Cross-site requests are refused")
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.origin_matches(origin):
            raise ApiError(403, "cross_site_request", "Cross-site requests are refused")

    def origin_matches(self, origin: str) -> bool:
        if origin == "null":
            return False
        parts = urlsplit(origin)
        scheme = self.request.protocol
        if self.app.config.behind_proxy and self.request.headers.get("X-Forwarded-Proto") in ("http", "https") \
                and self.client_ip != self.request.remote_ip:
            scheme = self.request.headers["X-Forwarded-Proto"]
        own = urlsplit(f"{scheme}://{self.request.host}")
        default = {"http": 80, "https": 443}
        return (parts.scheme == own.scheme and (parts.hostname or "").lower() == (own.hostname or "").lower()
                and (parts.port or default.get(parts.scheme)) == (own.port or default.get(own.scheme)))

    def _check_body_headers(self) -> None:
        limit = self.route.body_limit.get(self.request.method, DEFAULT_BODY_LIMIT)
        self._body_limit = limit
        length = self.request.headers.get("Content-Length")
        has_body = self._has_body()
        if has_body and self.request.method in MUTATING:
            ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise ApiError(415, "unsupported_media_type", "Send the body as application/json")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise ApiError(400, "invalid_json", "Bad Content-Length") from None
            if size > limit:
                raise ApiError(413, "payload_too_large", f"The body is over {limit} bytes")
        # A chunked body has no length to check here: data_received drains and discards what is
        # over the limit so the client still gets its 413 (a lower Tornado limit would just drop
        # the connection). The server-wide max_body_size still bounds what is read.

    def _has_body(self) -> bool:
        headers = self.request.headers
        return headers.get("Content-Length") not in (None, "0") or "Transfer-Encoding" in headers

    def data_received(self, chunk: bytes) -> None:
        if self._body_size < 0:
            return
        self._body_size += len(chunk)
        if self._body_size > self._body_limit:
            self._body_size = -1  # keep draining, but remember it was too large
            self._body_chunks = []
            return
        self._body_chunks.append(chunk)

    def raw_body(self) -> bytes:
        if self._body_size < 0:
            raise ApiError(413, "payload_too_large", f"The body is over {self._body_limit} bytes")
        return b"".join(self._body_chunks)

    def json_body(self, *, allow_empty: bool = False) -> dict[str, Any]:
        raw = self.raw_body()
        if not raw.strip():
            if allow_empty:
                return {}
            raise ApiError(400, "invalid_json", "A JSON object body is required")
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "The body is not valid JSON") from None
        if not isinstance(value, dict):
            raise ApiError(400, "invalid_json", "The body must be a JSON object")
        return value

    # -- responses -------------------------------------------------------------------------
    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def finish(self, chunk: Any = None):
        if not self._prepared and not self._headers_written:
            # Answered before the request body was read (refused in prepare, a redirect, a 404):
            # Tornado closes such a connection after the response, so say so, or a keep-alive
            # client sends its next request into a closing socket and gets no answer.
            self.set_header("Connection", "close")
        return super().finish(chunk)

    def no_content(self) -> None:
        self.set_status(204)
        self.finish()

    def send_api_error(self, error: ApiError) -> None:
        if self._finished:
            return
        self.clear()
        self.set_status(error.status)
        for name, value in error.headers.items():
            self.set_header(name, value)
        body = {**error.body(), "request_id": self.request_id}
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, separators=(",", ":")))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ApiError):
            self.send_api_error(e)
            return
        if isinstance(e, tornado.web.HTTPError):
            status = e.status_code
            code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(status, "invalid_query")
            self.send_api_error(ApiError(status, code, e.reason or "Request refused"))
            return
        log.error("unhandled error in %s %s [request %s]", self.request.method, self.route.template,
                  self.request_id, exc_info=e)
        self.send_api_error(ApiError(500, "internal_error", "Internal error; see the server log"))

    def on_finish(self) -> None:
        elapsed = time.monotonic() - self._started
        self.app.metrics.observe_http(self.request.method, self.route.template, self.get_status(), elapsed)
        access_log.info("%s %s %d %.1fms user=%s request=%s", self.request.method, self.request.path,
                        self.get_status(), elapsed * 1000,
                        self.principal.username if self.principal else "-", self.request_id)

    # -- helpers for subclasses ------------------------------------------------------------
    def actor(self):
        return self.principal.actor(self.client_ip)

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, "invalid_query", f"{name} must be an integer") from None
        if not low <= value <= high:
            raise ApiError(400, "invalid_query", f"{name} must be between {low} and {high}")
        return value

    def query_args(self) -> dict[str, str]:
        return {k: self.get_query_argument(k) for k in self.request.query_arguments}


class NotFoundHandler(BaseHandler):
    """Anything the route table does not know: a JSON 404 (or the HTML page for browsers)."""

    async def prepare(self) -> None:
        self.set_header("X-Request-Id", self.request_id)
        if not self.request.path.startswith(("/api/", "/ws/")) and "text/html" in self.request.headers.get("Accept", ""):
            self.set_status(404)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(self.app.read_asset("html/not_found.html"))
            return
        raise ApiError(404, "not_found", "No such route")


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False

