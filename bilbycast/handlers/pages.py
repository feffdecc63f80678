"""HTML pages: the login page and one app shell for every signed-in page.

Pages answer like a browser expects: no session → 307 to /login?next=<path>; a role too low →
a plain "Not permitted" page (403). The data comes from the API; the shell only names the page.
"""

from __future__ import annotations

from urllib.parse import quote

from ..services.errors import ApiError
from .. import __version__
from .base import BaseHandler


class PageHandler(BaseHandler):
    page = "dashboard"

    def initialize(self, route, **options) -> None:  # type: ignore[override]
        super().initialize(route, **options)
        self.page = options.get("page", self.page)

    async def get(self, *args: str) -> None:
        if args:  # /nodes/{id}...: a node outside the allowlist does not exist for this user
            allowed = self.principal.allowed_node_ids
            if args[0] not in self.app.hub.live or (allowed is not None and args[0] not in allowed):
                raise ApiError(404, "not_found", "Node not found")
        self.set_header("Cache-Control", "no-store")
        self.render("app.html", page=self.page, version=__version__)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ApiError) and e.status == 401:
            target = self.request.path
            if self.request.query:
                target += "?" + self.request.query
            self.redirect("/login?next=" + quote(target, safe="/"), status=307)
            return
        if isinstance(e, ApiError) and e.status == 404:
            self.clear()
            self.set_status(404)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(self.app.read_asset("html/not_found.html"))
            return
        if isinstance(e, ApiError) and e.status == 403:
            self.clear()
            self.set_status(403)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(self.app.read_asset("html/forbidden.html"))
            return
        super()._handle_request_exception(e)


class LoginPageHandler(BaseHandler):
    async def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(self.app.read_asset("html/login.html"))


class RootHandler(BaseHandler):
    async def get(self) -> None:
        self.redirect("/dashboard", status=307)
