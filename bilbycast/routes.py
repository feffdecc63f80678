"""THE route table: every URL the manager serves, read top to bottom.

Each route names its handler, its kind (api, page, ws, health, metrics), and for each method the
resource it touches, the minimum role (api.md §3.4), whether it is node-scoped, the audit action
and the body limit. Tornado's URL specs, the RBAC decision and the OpenAPI document are all
generated from this one list, so they cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .handlers.api import admin, auth, users
from .handlers.api import system
from .handlers import pages
from .services.rbac import OWN, PUBLIC, Rule

KIB = 1024


@dataclass
class Route:
    template: str                      # OpenAPI-style path: /api/v1/users/{id}
    handler: type
    rules: dict[str, Rule]
    kind: str = "api"
    summary: str = ""
    body_limit: dict[str, int] = field(default_factory=dict)
    handler_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def pattern(self) -> str:
        return "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template) + "$"


def R(resource: str, min_role: str, *, node: bool = False, audit: str | None = None) -> Rule:
    return Rule(resource, min_role, node, audit)


def _pages() -> list[Route]:
    viewer_pages = {"/dashboard": "dashboard", "/topology": "topology", "/flows": "flows", "/events": "events",
                    "/admin/nodes": "admin-nodes", "/ai/assistant": "ai-assistant", "/ai/keys": "ai-keys",
                    "/account": "account", "/nodes/{id}": "node-detail", "/nodes/{id}/config": "node-config"}
    admin_pages = {"/admin/users": "admin-users", "/admin/audit-log": "admin-audit-log",
                   "/admin/settings": "admin-settings"}
    out = [Route(path, pages.PageHandler, {"GET": R("page", "viewer", node=path.startswith("/nodes/"))},
                 kind="page", summary=f"HTML page: {name}", handler_kwargs={"page": name})
           for path, name in viewer_pages.items()]
    out += [Route(path, pages.PageHandler, {"GET": R("page", "admin")}, kind="page",
                  summary=f"HTML page: {name}", handler_kwargs={"page": name})
            for path, name in admin_pages.items()]
    return out


def build_routes(extra: list[Route] | None = None) -> list[Route]:
    routes = [
        # -- operations ----------------------------------------------------------------
        Route("/health", system.HealthHandler, {"GET": R("health", PUBLIC)}, kind="health",
              summary="Liveness and readiness; never reveals nodes, users or configuration."),
        Route("/metrics", system.MetricsHandler, {"GET": R("metrics", PUBLIC)}, kind="metrics",
              summary="Prometheus metrics: loopback without forwarding headers, or a metrics bearer token."),
        Route("/api/v1/openapi.json", system.OpenApiHandler, {"GET": R("openapi", PUBLIC)},
              summary="This document."),
        # -- authentication ------------------------------------------------------------
        Route("/api/v1/auth/login", auth.LoginHandler,
              {"POST": R("session", PUBLIC, audit="auth.login")}, summary="Sign in; sets session + csrf cookies."),
        Route("/api/v1/auth/logout", auth.LogoutHandler,
              {"POST": R("session", "viewer", audit="auth.logout")}, summary="Revoke the current session."),
        Route("/api/v1/auth/me", auth.MeHandler, {"GET": R("session", "viewer")}, summary="The caller and session."),
        Route("/api/v1/auth/password", auth.PasswordHandler,
              {"POST": R("session", "viewer", audit="auth.password_change")},
              summary="Change your own password; revokes your other sessions."),
        # -- users ---------------------------------------------------------------------
        Route("/api/v1/users", users.UsersHandler,
              {"GET": R("user", "admin"), "POST": R("user", "admin", audit="user.create")},
              summary="List or create users."),
        Route("/api/v1/users/{id}", users.UserHandler,
              {"GET": R("user", OWN), "PUT": R("user", "admin", audit="user.update"),
               "DELETE": R("user", "admin", audit="user.delete")},
              summary="Read (own or admin), update or delete one user."),
        # -- administration ------------------------------------------------------------
        Route("/api/v1/settings", admin.SettingsHandler,
              {"GET": R("settings", "admin"), "PUT": R("settings", "admin", audit="settings.update")},
              summary="Runtime settings the server really uses."),
        Route("/api/v1/settings/tls", admin.TlsSettingsHandler, {"GET": R("settings", "admin")},
              summary="TLS mode and certificate details."),
        Route("/api/v1/audit-log", admin.AuditLogHandler, {"GET": R("audit", "admin", node=True)},
              summary="The append-only audit log, newest first."),
        # -- pages ---------------------------------------------------------------------
        Route("/", pages.RootHandler, {"GET": R("page", PUBLIC)}, kind="page", summary="Redirects to /dashboard."),
        Route("/login", pages.LoginPageHandler, {"GET": R("page", PUBLIC)}, kind="page", summary="Sign-in page."),
        *_pages(),
    ]
    return routes + (extra or [])
