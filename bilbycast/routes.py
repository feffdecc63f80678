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

from .handlers.api import admin, ai, auth, events, node_commands, nodes, preferences, system, topology, users
from .handlers import pages, ws_dashboard, ws_node
from .handlers.api import backup
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


def _node_routes() -> list[Route]:
    n = dict(node=True)
    cmd_limit = {"POST": 50 * KIB, "PUT": 50 * KIB}
    post_limit = {"POST": 50 * KIB}
    flows = {"feature": "flows", "create": "create_flow", "update": "update_flow", "delete": "delete_flow",
             "id_arg": "flow_id", "body_key": "flow"}
    inputs = {"feature": "inputs_outputs", "create": "create_input", "update": "update_input",
              "delete": "delete_input", "id_arg": "input_id", "body_key": "input"}
    outputs = {"feature": "inputs_outputs", "create": "create_output", "update": "update_output",
               "delete": "delete_output", "id_arg": "output_id", "body_key": "output"}
    routes = [
        Route("/api/v1/nodes", nodes.NodesHandler,
              {"GET": R("node", "viewer", **n), "POST": R("node", "admin", audit="node.create")},
              summary="List nodes (filters: device_type, status, capability, search) or create one."),
        Route("/api/v1/nodes/endpoints", nodes.EndpointsHandler, {"GET": R("node", "viewer", **n)},
              summary="Addressable inputs and outputs of every visible node."),
        Route("/api/v1/nodes/{id}", nodes.NodeHandler,
              {"GET": R("node", "viewer", **n), "PUT": R("node", "admin", **n, audit="node.update"),
               "DELETE": R("node", "admin", **n, audit="node.delete")}, summary="One node record."),
        Route("/api/v1/nodes/{id}/token", nodes.NodeTokenHandler,
              {"POST": R("node", "admin", **n, audit="node.token_regenerate")},
              summary="Regenerate the one-time registration token (drops current credentials)."),
        Route("/api/v1/nodes/{id}/rotate-secret", nodes.NodeRotateSecretHandler,
              {"POST": R("node", "admin", **n, audit="node.secret_rotate")},
              summary="Rotate the node's secret (previous one accepted until the node restarts)."),
        Route("/api/v1/nodes/{id}/stats", nodes.NodeStatsHandler, {"GET": R("node_state", "viewer", **n)},
              summary="Latest stats message, unchanged."),
        Route("/api/v1/nodes/{id}/health", nodes.NodeHealthHandler, {"GET": R("node_state", "viewer", **n)},
              summary="Latest health report and derived health."),
        Route("/api/v1/nodes/{id}/stats/history", nodes.NodeHistoryHandler,
              {"GET": R("node_state", "viewer", **n)}, summary="Stats history series."),
        Route("/api/v1/nodes/{id}/config", node_commands.NodeConfigHandler,
              {"GET": R("node_config", "viewer", **n),
               "PUT": R("node_config", "operator", **n, audit="node.config.update")},
              body_limit={"PUT": 100 * KIB}, summary="The node's config (secrets masked) / replace it."),
        Route("/api/v1/nodes/{id}/command", node_commands.NodeCommandHandler,
              {"POST": R("node_command", "operator", **n, audit="node.command")}, body_limit=post_limit,
              summary="Send one driver action; the driver's requires_role applies."),
        Route("/api/v1/nodes/{id}/flows/{flow_id}/thumbnail", node_commands.ThumbnailHandler,
              {"GET": R("node_state", "viewer", **n)}, summary="Latest flow (or ?input_id=) thumbnail, image/jpeg."),
        Route("/api/v1/device-types", nodes.DeviceTypesHandler, {"GET": R("device_type", "viewer")},
              summary="Every registered driver: commands, roles, features, metrics."),
    ]
    # The convenience routes of api.md §7.3: one collection and one item route per entity kind.
    for kind, options in (("flows", flows), ("inputs", inputs), ("outputs", outputs)):
        command = R("node_command", "operator", **n, audit="node.command")
        routes.append(Route(f"/api/v1/nodes/{{id}}/{kind}", node_commands.EntityCollectionHandler,
                            {"POST": command}, body_limit=post_limit, handler_kwargs=options,
                            summary=options["create"]))
        routes.append(Route(f"/api/v1/nodes/{{id}}/{kind}/{{{options['id_arg']}}}", node_commands.EntityItemHandler,
                            {"PUT": command, "DELETE": command}, body_limit=cmd_limit, handler_kwargs=options,
                            summary=f"{options['update']} / {options['delete']}"))
    for verb, action in (("start", "start_flow"), ("stop", "stop_flow"), ("restart", "restart_flow"),
                         ("activate-input", "activate_input")):
        routes.append(Route(f"/api/v1/nodes/{{id}}/flows/{{flow_id}}/{verb}", node_commands.FlowVerbHandler,
                            {"POST": R("node_command", "operator", **n, audit="node.command")},
                            body_limit=post_limit, handler_kwargs={**flows, "verb": action}, summary=action))
    return routes


def _topology_routes() -> list[Route]:
    own_n = R("topology_position", OWN, node=True)
    return [
        Route("/api/v1/topology", topology.TopologyHandler, {"GET": R("topology", "viewer", node=True)},
              summary="Nodes, ports, external endpoints, inferred links and tunnels (?hide_offline=true)."),
        Route("/api/v1/topology/positions", topology.PositionsHandler,
              {"GET": own_n, "PUT": own_n, "DELETE": own_n},
              summary="The caller's saved card positions for one view (?view=graph|flow)."),
        Route("/api/v1/preferences", preferences.PreferencesHandler, {"GET": R("preference", OWN)},
              summary="All of the caller's preferences."),
        Route("/api/v1/preferences/{key}", preferences.PreferenceHandler,
              {"GET": R("preference", OWN), "PUT": R("preference", OWN), "DELETE": R("preference", OWN)},
              summary="One of the caller's preferences, as {\"value\": ...}."),
    ]


def _ai_routes() -> list[Route]:
    """The assistant (api.md §12). Keys, threads and discard are the caller's own records; apply
    needs operator and then the driver's requires_role for the action (checked by CommandService)."""
    own = R("ai_thread", OWN)
    return [
        Route("/api/v1/ai/providers", ai.AIProvidersHandler, {"GET": R("ai_provider", "viewer")},
              summary="Providers with status, models and the caller's key state (?refresh=true skips the caches)."),
        Route("/api/v1/ai/keys", ai.AIKeysHandler,
              {"GET": R("ai_key", OWN), "POST": R("ai_key", OWN, audit="ai.key.set"),
               "DELETE": R("ai_key", OWN, audit="ai.key.delete")},
              summary="The caller's cloud provider keys (never returned) / store one / remove one by body."),
        Route("/api/v1/ai/keys/{provider}", ai.AIKeyHandler, {"DELETE": R("ai_key", OWN, audit="ai.key.delete")},
              summary="Remove the caller's key for one provider."),
        Route("/api/v1/ai/chat", ai.AIChatHandler, {"POST": R("ai_chat", "viewer", node=True)},
              summary="Ask the assistant. JSON reply by default; with Accept: text/event-stream the reply streams "
                      "as SSE events start, delta {text}, repair, then done (the JSON body) or error."),
        Route("/api/v1/ai/threads", ai.AIThreadsHandler, {"GET": own},
              summary="The caller's threads, newest first (?limit=1-200)."),
        Route("/api/v1/ai/threads/{id}", ai.AIThreadHandler, {"GET": own, "DELETE": own},
              summary="One of the caller's threads with its messages and proposals / delete it."),
        Route("/api/v1/ai/proposals/{id}/apply", ai.AIProposalApplyHandler,
              {"POST": R("ai_proposal", "operator", node=True, audit="ai.proposal.apply")},
              summary="Apply one of the caller's proposals (optionally an edited action) after every check again."),
        Route("/api/v1/ai/proposals/{id}/discard", ai.AIProposalDiscardHandler,
              {"POST": R("ai_proposal", OWN, audit="ai.proposal.discard")},
              summary="Discard one of the caller's pending proposals."),
    ]


def _backup_routes() -> list[Route]:
    """Encrypted backup (api.md §13): super_admin only; the passphrase comes in X-Backup-Passphrase."""
    return [
        Route("/api/v1/export", backup.ExportHandler,
              {"GET": R("backup", "super_admin", audit="backup.export")},
              summary="Download an encrypted backup (?include_events=true&include_audit=true)."),
        Route("/api/v1/import", backup.ImportHandler,
              {"POST": R("backup", "super_admin", audit="backup.import")}, body_limit={"POST": 32 * 1024 * KIB},
              summary="Restore a backup file (?force=true to replace a non-empty manager); revokes every session."),
    ]


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
        *_node_routes(),
        *_topology_routes(),
        *_ai_routes(),
        *_backup_routes(),
        # -- events --------------------------------------------------------------------
        Route("/api/v1/events", events.EventsHandler, {"GET": R("event", "viewer", node=True)},
              summary="Events with filters and paging (newest first)."),
        Route("/api/v1/events/count", events.EventCountHandler, {"GET": R("event", "viewer", node=True)},
              summary="Unacknowledged alarms the caller can see."),
        Route("/api/v1/events/export", events.EventExportHandler, {"GET": R("event", "viewer", node=True)},
              summary="The filtered events as CSV (at most 100 000 rows)."),
        Route("/api/v1/events/ack", events.EventBulkAckHandler,
              {"POST": R("event", "operator", node=True, audit="event.ack_bulk")},
              summary="Acknowledge events by ids or by filter."),
        Route("/api/v1/events/{id}/ack", events.EventAckHandler,
              {"POST": R("event", "operator", node=True, audit="event.ack")}, summary="Acknowledge one event."),
        # -- WebSockets ----------------------------------------------------------------
        Route("/ws/dashboard", ws_dashboard.DashboardSocketHandler, {"GET": R("dashboard_socket", "viewer", node=True)},
              kind="ws", summary="Browser live feed: snapshot, coalesced updates, events, node status."),
        Route("/ws/node", ws_node.NodeSocketHandler, {"GET": R("node_socket", PUBLIC)}, kind="ws",
              summary="Node WebSocket (node-protocol.md): authentication is the first frame."),
        # -- pages ---------------------------------------------------------------------
        Route("/", pages.RootHandler, {"GET": R("page", PUBLIC)}, kind="page", summary="Redirects to /dashboard."),
        Route("/login", pages.LoginPageHandler, {"GET": R("page", PUBLIC)}, kind="page", summary="Sign-in page."),
        *_pages(),
    ]
    return routes + (extra or [])
