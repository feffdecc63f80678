"""GET /api/v1/openapi.json against the route table and the spec (api.md §1.3, §3.4, §14.3).

The document is fetched from a running manager, anonymously, exactly as a script would; the
route table is imported only to know what the document must say.
"""

from __future__ import annotations

import re

import pytest

from bilbycast.routes import build_routes
from bilbycast.services.rbac import OWN, PUBLIC
from manager_process import REPO

ROUTES = build_routes()
SPEC = REPO.parent / "shared" / "spec" / "api.md"

# Every error code of api.md §1.3, by status, copied from the spec's table.
SPEC_ERROR_CODES = {
    400: ["invalid_json", "invalid_query"],
    401: ["unauthenticated", "invalid_credentials"],
    403: ["forbidden", "insufficient_role", "csrf_failed", "cross_site_request", "node_access_restricted",
          "account_disabled", "account_expired", "metrics_forbidden"],
    404: ["not_found", "no_thumbnail"],
    405: ["method_not_allowed"],
    409: ["username_taken", "last_super_admin", "node_not_registered", "config_changed", "proposal_not_pending",
          "proposal_stale", "import_target_not_empty"],
    413: ["payload_too_large"],
    415: ["unsupported_media_type"],
    422: ["validation_failed", "unknown_field", "immutable_field", "unknown_device_type", "unknown_action",
          "action_not_allowed", "capability_missing", "not_supported", "port_conflict", "node_rejected",
          "self_modification", "current_password_incorrect", "backup_invalid", "backup_decrypt_failed",
          "ai_provider_not_configured"],
    429: ["rate_limited", "account_locked", "node_busy"],
    500: ["internal_error"],
    502: ["node_not_connected", "node_disconnected", "ai_provider_error"],
    503: ["unavailable"],
    504: ["node_timeout", "ai_provider_timeout"],
}


@pytest.fixture(scope="module")
def document(manager) -> dict:
    with manager.client() as client:
        response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {(path, method.upper()): op for path, item in document["paths"].items()
            for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")}


def test_document_is_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] and document["info"]["version"]


def test_document_lists_every_route_and_method_and_nothing_else(document):
    expected = {(route.template, method) for route in ROUTES for method in route.rules}
    listed = set(operations(document))
    assert listed - expected == set(), "the document lists operations the server does not have"
    assert expected - listed == set(), "the document is missing operations of the route table"


def test_each_operation_carries_the_tables_role_rule_and_node_scope(document):
    ops = operations(document)
    wrong = []
    for route in ROUTES:
        for method, rule in route.rules.items():
            op = ops[(route.template, method)]
            if op.get("x-min-role") != rule.min_role or op.get("x-node-scoped") is not rule.node_scoped:
                wrong.append(f"{method} {route.template}: {op.get('x-min-role')}/{op.get('x-node-scoped')} "
                             f"!= {rule.min_role}/{rule.node_scoped}")
    assert not wrong, "\n".join(wrong)


def test_path_parameters_are_declared(document):
    for (path, method), op in operations(document).items():
        names = re.findall(r"\{(\w+)\}", path)
        declared = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        assert declared == names, f"{method} {path}"


def test_error_schema_lists_exactly_the_specs_error_codes(document):
    enum = document["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
    spec_codes = {code for codes in SPEC_ERROR_CODES.values() for code in codes}
    assert len(enum) == len(set(enum)), "duplicate codes"
    assert set(enum) == spec_codes
    assert set(document["components"]["schemas"]["Error"]["required"]) >= {"error", "code"}
    for status in SPEC_ERROR_CODES:
        assert f"Error{status}" in document["components"]["responses"], status


# -- the route table against the spec's permission table --------------------------------------------

def spec_permission_rows() -> dict[tuple[str, str], tuple[str, bool, str]]:
    """{(path, METHOD): (min_role, node_scoped, audit cell)} parsed from api.md §3.4."""
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("### 3.4 Permission table", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 8 or cells[0] in ("Method", "---") or set(cells[0]) <= {"-"}:
            continue
        methods = [m.strip() for m in cells[0].split(",")]
        paths = re.findall(r"`([^`]+)`", cells[1])
        full = [paths[0]]
        for extra in paths[1:]:
            if extra.startswith("/api/") or extra.startswith("/ws/") or extra in ("/health", "/metrics"):
                full.append(extra)
            else:  # "`.../start`, `/stop`": a sibling of the first path
                full.append(paths[0].rsplit("/", 1)[0] + extra)
        roles = [re.sub(r"[¹²³⁴⁵]", "", c) for c in cells[2:6]]
        if roles[0] == "public" or "loopback" in roles[0]:
            min_role = PUBLIC
        elif roles[0] == "own":  # every signed-in user, limited to their own records (admins: all)
            min_role = OWN
        else:
            allowed = [r == "✓" or r.startswith("own") or r == "D" for r in roles]
            min_role = ("viewer", "operator", "admin", "super_admin")[allowed.index(True)]
        for path in full:
            for method in methods:
                rows[(shape(path), method)] = (min_role, cells[6] == "N", cells[7])
    return rows


def shape(path: str) -> str:
    """The URL shape without parameter names: /nodes/{id}/flows/{flow_id} -> /nodes/{}/flows/{}."""
    return re.sub(r"\{\w+\}", "{}", path)


@pytest.mark.skipif(not SPEC.exists(), reason="the shared spec is not checked out beside the repository")
def test_route_table_rules_agree_with_the_specs_permission_table():
    spec = spec_permission_rows()
    assert len(spec) > 50, "the permission table did not parse"
    wrong = []
    for route in ROUTES:
        if route.kind == "page" or route.template == "/ws/node":
            continue  # pages are not in the table; nodes authenticate by node-protocol.md, not roles
        for method, rule in route.rules.items():
            row = spec.get((shape(route.template), method))
            if row is None:
                wrong.append(f"{method} {route.template}: not in api.md §3.4")
                continue
            min_role, node_scoped, audit_cell = row
            if rule.min_role != min_role:
                wrong.append(f"{method} {route.template}: min role {rule.min_role}, spec {min_role}")
            if route.kind == "api" and rule.node_scoped != node_scoped:
                wrong.append(f"{method} {route.template}: node_scoped {rule.node_scoped}, spec {node_scoped}")
            if rule.audit and rule.audit not in audit_cell:
                wrong.append(f"{method} {route.template}: audit {rule.audit} not in spec {audit_cell!r}")
    assert not wrong, "\n".join(wrong)
