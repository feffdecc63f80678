"""OpenAPI 3.1 document generated from the route table (api.md §14.3)."""

from __future__ import annotations

import re
from typing import Any

from . import __version__
from .routes import Route

ERROR_CODES: dict[int, tuple[str, ...]] = {
    400: ("invalid_json", "invalid_query"),
    401: ("unauthenticated", "invalid_credentials"),
    403: ("forbidden", "insufficient_role", "csrf_failed", "cross_site_request", "node_access_restricted",
          "account_disabled", "account_expired", "metrics_forbidden"),
    404: ("not_found", "no_thumbnail"),
    405: ("method_not_allowed",),
    409: ("username_taken", "last_super_admin", "node_not_registered", "config_changed", "proposal_not_pending",
          "proposal_stale", "import_target_not_empty"),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
    422: ("validation_failed", "unknown_field", "immutable_field", "unknown_device_type", "unknown_action",
          "action_not_allowed", "capability_missing", "not_supported", "port_conflict", "node_rejected",
          "self_modification", "current_password_incorrect", "backup_invalid", "backup_decrypt_failed",
          "ai_provider_not_configured"),
    429: ("rate_limited", "account_locked", "node_busy"),
    500: ("internal_error",),
    502: ("node_not_connected", "node_disconnected", "ai_provider_error"),
    503: ("unavailable",),
    504: ("node_timeout", "ai_provider_timeout"),
}

ALL_ERROR_CODES = sorted({code for codes in ERROR_CODES.values() for code in codes})

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string", "enum": ALL_ERROR_CODES},
        "fields": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}}}},
        "required_role": {"type": "string"},
        "node_error_code": {"type": ["string", "null"]},
        "node_error": {"type": "string"},
        "command_id": {"type": "string"},
        "retry_after_secs": {"type": "integer"},
        "request_id": {"type": "string"},
    },
}


def build_document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        item: dict[str, Any] = {}
        params = re.findall(r"\{(\w+)\}", route.template)
        for method, rule in route.rules.items():
            responses: dict[str, Any] = {"200": {"description": "Success"}}
            if route.kind == "page":
                responses = {"200": {"description": "HTML page", "content": {"text/html": {}}},
                             "307": {"description": "Not signed in: redirect to /login?next=…"}}
            for status in sorted(ERROR_CODES):
                responses.setdefault(str(status), {"$ref": f"#/components/responses/Error{status}"})
            op: dict[str, Any] = {
                "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.template.lower()).strip('_') or 'root'}",
                "summary": route.summary,
                "tags": [route.kind],
                "x-resource": rule.resource,
                "x-min-role": rule.min_role,
                "x-node-scoped": rule.node_scoped,
                "responses": responses,
            }
            if rule.audit:
                op["x-audit-action"] = rule.audit
            if rule.min_role != "public":
                op["security"] = [{"bearer": []}, {"cookie": []}]
            if method in ("POST", "PUT", "PATCH") and route.kind == "api":
                op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
                if method in route.body_limit:
                    op["x-body-limit-bytes"] = route.body_limit[method]
            if params:
                op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                                    for p in params]
            item[method.lower()] = op
        paths[route.template] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "bilbycast-manager API", "version": __version__,
                 "description": "REST API, health, metrics, pages and WebSockets of bilbycast-manager. "
                                "Every operation carries x-min-role and x-node-scoped (api.md §3.4)."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "responses": {f"Error{status}": {"description": ", ".join(codes), "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                for status, codes in ERROR_CODES.items()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
