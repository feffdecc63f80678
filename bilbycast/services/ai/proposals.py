"""Proposals, not actions (product.md §8.4): every item the model proposes is checked by the
server, as the requesting user, with exactly the checks of a REST command plus the assistant's
own (the node is visible, the action is offered to the assistant, placeholders are in secret
fields and resolve). The preview is always the driver's diff of the current config, never the
model's text. A failing proposal is kept as `invalid` with its reasons and can never be applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ...drivers.base import ROLE_LEVELS, ActionError
from ...drivers.secrets import SECRET_PLACEHOLDER, SecretMasker
from ...hub.config_cache import config_hash
from ...timeutil import iso, utcnow
from ..rbac import role_at_least
from .limits import PROPOSAL_EXPIRY_SECS
from .reply import item_problems
from .secrets import (Redactor, SecretRefs, extract_new_secrets, misplaced_placeholders,
                      resolve_placeholders)

SHOWN_SECRET = "••••••"
_GENERIC = SecretMasker(())


def required_role(spec: Any) -> str:
    return max(("operator", spec.requires_role), key=ROLE_LEVELS.__getitem__)


def problem(path: str, message: str, code: str = "validation_failed") -> dict:
    return {"path": path, "message": message, "code": code}


def action_error_problems(exc: ActionError) -> list[dict]:
    if exc.fields:
        return [problem(f.get("path", ""), f.get("message", exc.message), exc.code) for f in exc.fields]
    return [problem("/action", exc.message, exc.code)]


def _flatten(path: str, before: Any, after: Any, out: list[dict]) -> None:
    if isinstance(before, dict) or isinstance(after, dict):
        b = before if isinstance(before, dict) else {}
        a = after if isinstance(after, dict) else {}
        if (before is None or isinstance(before, dict)) and (after is None or isinstance(after, dict)):
            for key in list(b) + [k for k in a if k not in b]:
                _flatten(f"{path}/{key}", b.get(key), a.get(key), out)
            return
    if before == after:
        return
    if path.endswith("/id") and path.rsplit("/", 2)[-2] == str(after if after is not None else before):
        return    # the entity's own id is already in its path
    op = "add" if before is None else "remove" if after is None else "change"
    shown = lambda v: SHOWN_SECRET if v == SECRET_PLACEHOLDER else v  # noqa: E731
    out.append({"path": path, "op": op, "before": shown(before), "after": shown(after)})


def shape_preview(preview: dict) -> dict:
    """The driver's preview with whole-entity additions and removals split into field changes,
    an `op` per change, and secrets shown as ••••••."""
    changes: list[dict] = []
    for change in preview.get("changes") or []:
        _flatten(change.get("path", ""), change.get("before"), change.get("after"), changes)
    return {"kind": _kind(preview.get("kind")), "entity": preview.get("entity"),
            "entity_id": preview.get("entity_id"), "changes": changes}


def _kind(kind: Any) -> str:
    return kind if kind in ("create", "update", "delete") else "command"


@dataclass
class Checked:
    """The outcome of checking one proposal (column values for ai_proposals)."""
    node_id: str | None
    node_name: str | None
    device_type: str | None
    action: Any                         # placeholders only, never a secret value
    title: str
    summary: str | None
    requires_role: str | None
    errors: list[dict] = field(default_factory=list)
    preview: dict | None = None
    config_hash: str | None = None
    new_secrets: dict[str, str] = field(default_factory=dict)
    resolved: dict | None = None        # in memory only: the action with secrets put back

    @property
    def ok(self) -> bool:
        return not self.errors

    def columns(self, provider: str, model: str) -> dict:
        stamp = utcnow()
        return {"node_id": self.node_id, "node_name": self.node_name, "device_type": self.device_type,
                "action": self.action, "title": self.title, "summary": self.summary,
                "requires_role": self.requires_role, "status": "pending" if self.ok else "invalid",
                "validation": {"ok": self.ok, "errors": self.errors}, "preview": self.preview,
                "config_hash": self.config_hash, "provider": provider, "model": model,
                "expires_at": iso(stamp + timedelta(seconds=PROPOSAL_EXPIRY_SECS)),
                "new_secrets": (dict(self.new_secrets) or None) if self.ok else None}


class ProposalChecker:
    """Checks proposals for one user against the hub's cached state (no node is contacted)."""

    def __init__(self, *, hub: Any, drivers: Any, principal: Any, refs: SecretRefs,
                 configs: dict[str, Any], redactor: Redactor) -> None:
        self.hub = hub
        self.drivers = drivers
        self.principal = principal
        self.refs = refs
        self.configs = configs          # node id -> cached config (visible nodes only)
        self.redactor = redactor

    def visible(self, node_id: Any) -> Any:
        if not isinstance(node_id, str):
            return None
        allowed = self.principal.allowed_node_ids
        live = self.hub.live.get(node_id)
        if live is None or (allowed is not None and node_id not in allowed):
            return None
        return live

    def check(self, item: Any, *, extract: bool = True, stored_secrets: dict[str, str] | None = None) -> Checked:
        raw = item if isinstance(item, dict) else {}
        title = raw.get("title") if isinstance(raw.get("title"), str) and raw.get("title") else "Untitled proposal"
        summary = raw.get("summary") if isinstance(raw.get("summary"), str) else None
        action = raw.get("action") if isinstance(raw.get("action"), dict) else None
        node_id = raw.get("node_id") if isinstance(raw.get("node_id"), str) else None
        checked = Checked(node_id=(node_id or "")[:64] or None, node_name=None, device_type=None,
                          action=action if action is not None else raw.get("action"),
                          title=self.redactor.text(title[:200]),
                          summary=self.redactor.text(summary[:1000]) if summary else None, requires_role=None)
        shape = item_problems(item)
        if shape:
            checked.errors = [problem(p["path"], p["message"]) for p in shape]
            checked.action = self._safe(checked.action)
            return checked
        live = self.visible(node_id)
        if live is None:
            checked.errors = [problem("/node_id", "not a node you can see (unknown, or outside your node access)",
                                      "not_found")]
            checked.action = self._safe(action)
            return checked
        checked.node_name, checked.device_type = live.name, live.device_type
        driver = self.drivers.get(live.device_type)
        if driver is None:
            checked.errors = [problem("/node_id", f"no driver for device type {live.device_type}",
                                      "unknown_device_type")]
            checked.action = self._safe(action)
            return checked
        if extract:
            action, new = extract_new_secrets(driver, action, self.refs)
            checked.new_secrets = new
            for ref, value in new.items():
                self.redactor.add(value, "{{secret:%s}}" % ref)
        checked.action = action
        new_values = {**(stored_secrets or {}), **checked.new_secrets}
        spec = driver.command(action["type"]) if isinstance(action.get("type"), str) else None
        if spec is None:
            checked.errors = [problem("/action/type", f"unknown action '{str(action.get('type'))[:64]}' for "
                                                      f"device type {live.device_type}", "unknown_action")]
            return checked
        if spec.reserved or not spec.ai_exposed:
            checked.errors = [problem("/action/type", f"action {spec.name} is not offered to the assistant",
                                      "action_not_allowed")]
            return checked
        checked.requires_role = required_role(spec)
        if not role_at_least(self.principal.role, checked.requires_role):
            checked.errors = [problem("/action/type", f"{spec.name} requires role {checked.requires_role}",
                                      "insufficient_role")]
            return checked
        misplaced = misplaced_placeholders(driver, action)
        if misplaced:
            checked.errors = [problem("/action" + p["path"], p["message"]) for p in misplaced]
            return checked
        resolved, unresolved = resolve_placeholders(driver, action, self.refs, new_values, self._config_of)
        if unresolved:
            checked.errors = [problem("/action" + p["path"], p["message"]) for p in unresolved]
            return checked
        config = self.configs.get(live.id)
        try:
            driver.check_action(resolved, role_level_ok=lambda role: role_at_least(self.principal.role, role),
                                capabilities=live.capabilities, config=config,
                                protocol_version=live.protocol_version)
        except ActionError as exc:
            checked.errors = [dict(p, path="/action" + p["path"] if p["path"] else "/action")
                              for p in action_error_problems(exc)]
            return checked
        checked.resolved = resolved
        checked.preview = shape_preview(driver.preview(config, resolved))
        checked.config_hash = config_hash(config) if config is not None else None
        return checked

    def _config_of(self, node_id: str) -> Any:
        return self.configs.get(node_id) if self.visible(node_id) is not None else None

    def _safe(self, value: Any) -> Any:
        """A rejected action is still shown: keep it, minus anything that looks secret (known
        values, and any value under a credential-like key, as product.md §8.3 lists them)."""
        if not isinstance(value, (dict, list, str)):
            return value
        return _GENERIC.mask(self.redactor.value(value))
