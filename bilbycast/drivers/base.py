"""The device-driver contract (product.md §6) and the command-check pipeline (api.md §7.2).

A driver is a pure, deterministic object: it never does I/O, never imports the web framework
or the database, and never raises on malformed node payloads. The hub and the API call it with
the payloads they hold and act on what it returns.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import secrets as _secrets
from .payload import as_dict, as_dicts, as_list, as_str, rfc3339_ms
from .netaddr import parse_ip, parse_socket_addr
from .config_diff import diff
from .schema_errors import make_validator, pointer, schema_fields

log = logging.getLogger(__name__)

SECRET_PLACEHOLDER = _secrets.SECRET_PLACEHOLDER
ROLE_LEVELS = {"viewer": 0, "operator": 1, "admin": 2, "super_admin": 3}
FEATURES = ("flows", "inputs_outputs", "thumbnails", "config_editor", "stats_history",
            "secret_rotation", "target_status", "topology_ports")
ICONS = ("edge", "relay", "gateway", "generic")
HEALTH_RANK = {"healthy": 0, "warning": 1, "critical": 2}
DEVICE_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
MAX_TIMEOUT_SECS = 60
# History samples for the node itself have no entity id; "" keeps (entity, id) a usable key.
NODE_ENTITY_ID = ""

# (entity, entity_id, entity_name, metric, value, is_counter) — counters are stored as rates.
Sample = tuple[str, str, str | None, str, float, bool]


class ActionError(Exception):
    """A refusal the API turns into an error body (api.md §1.3)."""

    def __init__(self, status: int, code: str, message: str, *, fields: list[dict] | None = None,
                 required_role: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields or [])
        self.required_role = required_role

    def to_body(self) -> dict:
        body: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.fields:
            body["fields"] = self.fields
        if self.required_role:
            body["required_role"] = self.required_role
        return body

    def __repr__(self) -> str:
        return f"ActionError({self.status}, {self.code!r}, {self.message!r})"


def object_schema(properties: dict | None = None, required: Iterable[str] = (), *,
                  additional: bool = False) -> dict:
    """An object schema in the subset product.md §6 allows."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": additional,
                              "properties": dict(properties or {})}
    required = list(required)
    if required:
        schema["required"] = required
    return schema


@dataclass(frozen=True)
class CommandSpec:
    """One catalogue entry. `args_schema` describes the action object without its `type`."""

    name: str
    display_name: str
    description: str
    requires_role: str = "operator"
    args_schema: dict = field(default_factory=object_schema, compare=False, hash=False)
    ai_exposed: bool = False
    destructive: bool = False
    requires_capability: str | None = None
    timeout_secs: int = 10
    config_changing: bool = False
    reserved: bool = False               # manager-internal (rotate_secret): never callable
    min_protocol_version: int | None = None
    preview_kind: str = "action"         # create | update | delete | replace | action | read
    preview_entity: str | None = None    # flow | input | output | tunnel | config | ...
    composite: bool = False              # expanded by the driver into node commands (deploy_flow)

    def __post_init__(self) -> None:
        if self.requires_role not in ROLE_LEVELS or self.requires_role == "viewer":
            raise ValueError(f"{self.name}: requires_role must be operator, admin or super_admin")
        if not 0 < self.timeout_secs <= MAX_TIMEOUT_SECS:
            raise ValueError(f"{self.name}: timeout_secs must be in (0, {MAX_TIMEOUT_SECS}]")
        if self.args_schema.get("type") != "object":
            raise ValueError(f"{self.name}: args_schema must describe an object")

    def describe(self) -> dict:
        """The api.md §7.4 `supported_commands` entry."""
        return {"name": self.name, "display_name": self.display_name,
                "description": self.description, "requires_role": self.requires_role,
                "args_schema": copy.deepcopy(self.args_schema), "ai_exposed": self.ai_exposed,
                "destructive": self.destructive, "requires_capability": self.requires_capability,
                "timeout_secs": self.timeout_secs}


def problem(path: str, message: str, code: str = "validation_failed") -> dict:
    """One driver-check finding (product.md §6 `validate`)."""
    return {"path": path, "message": message, "code": code}


def raise_for_problems(problems: list[dict], summary: str) -> None:
    """Raise the 422 for driver findings; validation problems win over port conflicts."""
    if not problems:
        return
    codes = [p.get("code", "validation_failed") for p in problems]
    code = "validation_failed" if "validation_failed" in codes else codes[0]
    firsts = [p for p in problems if p.get("code", "validation_failed") == code]
    message = firsts[0]["message"] if len(firsts) == 1 else f"{summary}: {firsts[0]['message']}"
    raise ActionError(422, code, message,
                      fields=[{"path": p["path"], "message": p["message"]} for p in problems])


def worst_health(values: Iterable[str | None]) -> str | None:
    known = [v for v in values if v in HEALTH_RANK]
    return max(known, key=HEALTH_RANK.__getitem__) if known else None


class Driver:
    """Base class of every device driver. Subclasses declare class attributes and override the
    `_summarise`, `_history_samples`, `validate`, port and AI hooks they need."""

    device_type: str = ""
    display_name: str = ""
    color: str = "#94a3b8"
    accent: str | None = None
    icon: str = "generic"
    features: frozenset[str] = frozenset()
    protocol_version: int | None = None
    known_protocol_versions: frozenset[int] = frozenset()
    stale_after_secs: int = 10
    sequential_commands: bool = False
    default_timeout_secs: int = 10
    commands: dict[str, CommandSpec] = {}
    history_metrics: tuple[dict, ...] = ()
    summary_metrics: tuple[dict, ...] = ()
    secret_paths: tuple[str, ...] = ()
    entity_id_keys: tuple[str, ...] = ("id",)
    # action field -> (config collection, id argument, holds a list). Collection "" = whole config.
    action_entities: dict[str, tuple[str, str | None, bool]] = {}
    editor: str = "generic"               # edge_forms | generic
    detail_panels: tuple[str, ...] = ()
    entity_schemas: dict[str, dict] = {}
    config_schema: dict | None = None
    ai_description: str = ""

    def __init__(self) -> None:
        if not DEVICE_TYPE_RE.match(self.device_type):
            raise ValueError(f"invalid device_type {self.device_type!r}")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"{self.device_type}: unknown features {sorted(unknown)}")
        if self.icon not in ICONS:
            raise ValueError(f"{self.device_type}: unknown icon {self.icon!r}")
        for name, spec in self.commands.items():
            if name != spec.name:
                raise ValueError(f"{self.device_type}: catalogue key {name!r} != {spec.name!r}")
        self._validators = {name: make_validator(spec.args_schema)
                            for name, spec in self.commands.items()}
        self.masker = _secrets.SecretMasker(self.secret_paths, id_keys=self.entity_id_keys)

    # -- identity ----------------------------------------------------------------------------

    @property
    def reserved_actions(self) -> frozenset[str]:
        return frozenset(name for name, spec in self.commands.items() if spec.reserved)

    @property
    def sequential(self) -> bool:
        return self.sequential_commands

    def command(self, name: str) -> CommandSpec | None:
        return self.commands.get(name)

    def supported_commands(self) -> list[CommandSpec]:
        return [spec for spec in self.commands.values() if not spec.reserved]

    def describe(self) -> dict:
        """The api.md §7.4 `device_types` entry."""
        return {"device_type": self.device_type, "display_name": self.display_name,
                "color": self.color, "accent": self.accent, "icon": self.icon,
                "features": sorted(self.features),
                "history_metrics": [dict(m) for m in self.history_metrics],
                "summary_metrics": [dict(m) for m in self.summary_metrics],
                "supported_commands": [spec.describe() for spec in self.supported_commands()],
                "ui": self.ui()}

    def ui(self) -> dict:
        """UI hints (product.md §6 `ui`): editor kind, card metrics, node-detail panels."""
        return {"editor": self.editor, "summary_metrics": [dict(m) for m in self.summary_metrics],
                "panels": list(self.detail_panels)}

    def ai_actions(self, role_level_ok: Callable[[str], bool] | None = None) -> list[dict]:
        """The AI action catalogue for one user (product.md §8.2 item 5): ai_exposed commands
        whose role the user meets, with description and argument schema."""
        return [spec.describe() for spec in self.supported_commands()
                if spec.ai_exposed and (role_level_ok is None or role_level_ok(
                    max(("operator", spec.requires_role), key=ROLE_LEVELS.__getitem__)))]

    def is_known_protocol_version(self, version: int | None) -> bool:
        """False means: accept, but raise a `compatibility` warning (node-protocol.md §2.9)."""
        return version is None or version in self.known_protocol_versions

    # -- command checks (api.md §7.2) --------------------------------------------------------

    def check_action(self, action: Any, *, role_level_ok: Callable[[str], bool] | None = None,
                     capabilities: Iterable[str] | None = None, config: dict | None = None,
                     protocol_version: int | None = None) -> CommandSpec:
        """Run every pre-send check in the order api.md §7.2 gives; raise ActionError or
        return the command's spec. `config` is the cached node config (None when unknown);
        `capabilities` None means the node advertised none (capability gating fails closed)."""
        if not isinstance(action, dict):
            raise ActionError(422, "validation_failed", "The action must be a JSON object",
                              fields=[{"path": "", "message": "must be of type object"}])
        action_type = action.get("type")
        if not isinstance(action_type, str) or not action_type:
            raise ActionError(422, "validation_failed", "The action has no type",
                              fields=[{"path": "/type", "message": "is required"}])
        spec = self.commands.get(action_type)
        if spec is None:
            raise ActionError(422, "unknown_action",
                              f"Unknown action '{action_type[:64]}' for device type {self.device_type}")
        if spec.reserved:
            raise ActionError(422, "action_not_allowed",
                              f"Action {spec.name} is reserved for the manager's own use")
        # api.md §3.3: every command needs at least operator, whatever the driver says.
        required = max(("operator", spec.requires_role), key=ROLE_LEVELS.__getitem__)
        if role_level_ok is not None and not role_level_ok(required):
            raise ActionError(403, "insufficient_role", f"Command {spec.name} requires role {required}",
                              required_role=required)
        args = {key: value for key, value in action.items() if key != "type"}
        fields = schema_fields(self._validators[spec.name], args)
        if fields:
            raise ActionError(422, "validation_failed", f"Arguments of {spec.name} failed validation",
                              fields=fields)
        advertised = set(capabilities or ())
        needed = ([(spec.requires_capability, "")] if spec.requires_capability else [])
        needed += self.required_capabilities(action)
        missing = [(cap, path) for cap, path in needed if cap not in advertised]
        if missing:
            cap = missing[0][0]
            raise ActionError(422, "capability_missing",
                              f"{spec.name} needs the node capability '{cap}', which this node does not advertise",
                              fields=[{"path": path, "message": f"needs capability '{c}'"}
                                      for c, path in missing if path])
        if spec.min_protocol_version is not None and protocol_version is not None \
                and protocol_version < spec.min_protocol_version:
            raise ActionError(422, "not_supported",
                              f"{spec.name} needs protocol version {spec.min_protocol_version}; "
                              f"the node speaks {protocol_version}")
        raise_for_problems(self.validate(action, config), f"{spec.name} was refused")
        return spec

    def required_capabilities(self, action: dict) -> list[tuple[str, str]]:
        """Field-level capability gates: [(capability, JSON pointer of the field)]."""
        return []

    def validate(self, action: dict, config: dict | None) -> list[dict]:
        """Checks the schema cannot express (product.md §6): address syntax, port conflicts,
        references. Returns problems made with `problem()`. `action` already passed its schema."""
        return []

    def timeout_for(self, action_type: str) -> float:
        spec = self.commands.get(action_type)
        secs = spec.timeout_secs if spec is not None else self.default_timeout_secs
        return float(min(secs, MAX_TIMEOUT_SECS))

    def is_config_changing(self, action_type: str) -> bool:
        spec = self.commands.get(action_type)
        return bool(spec and spec.config_changing)

    def expand(self, action: dict) -> list[dict]:
        """The node commands a (checked) action turns into; composite actions override this."""
        return [action]

    # -- config ------------------------------------------------------------------------------

    def validate_config(self, config: Any) -> None:
        """Validate a full config for PUT /config; raise ActionError (422)."""
        raise ActionError(422, "not_supported",
                          f"Device type {self.device_type} does not accept a full configuration")

    def check_secret_rotation(self, *, health: dict | None, registered_at: datetime | None,
                              now: datetime) -> None:
        """Refuse POST /rotate-secret when the driver cannot rotate now (api.md §5.2)."""
        if "secret_rotation" not in self.features:
            raise ActionError(422, "not_supported",
                              f"Device type {self.device_type} does not support secret rotation")

    # -- secrets -----------------------------------------------------------------------------

    def mask_config(self, config: Any) -> Any:
        """Deep copy with every secret replaced by "{{secret}}" (api.md §7.1)."""
        return self.masker.mask(config)

    def restore_secrets(self, new_config: Any, current_config: Any) -> Any:
        """Put "{{secret}}" values back from the current config, by entity id and field."""
        restored, unmatched = self.masker.restore(new_config, current_config)
        self._raise_unmatched([pointer(path) for path in unmatched])
        return restored

    def mask_action(self, action: Any, *, replacement: str = SECRET_PLACEHOLDER) -> Any:
        """The action with secrets masked, for audit rows, logs and AI context."""
        return self.masker.mask_action(action, self.action_entities, replacement=replacement)

    def restore_action_secrets(self, action: dict, current_config: Any) -> dict:
        """Step 6 of api.md §7.2: resolve "{{secret}}" in an action's entity bodies."""
        result, unmatched = self.masker.restore_action(action, self.action_entities, current_config)
        self._raise_unmatched([pointer(path) for path in unmatched])
        return result

    @staticmethod
    def _raise_unmatched(pointers: list[str]) -> None:
        if pointers:
            raise ActionError(422, "validation_failed",
                              "A {{secret}} placeholder has no current value to keep",
                              fields=[{"path": p, "message": "no current value to keep for this "
                                       "secret; enter the value again"} for p in pointers])

    # -- live state --------------------------------------------------------------------------

    def summarise(self, stats: Any, health: Any, *, now: datetime, prev: dict | None = None) -> dict:
        """NodeSummary (api.md §5.1). Never raises: a malformed payload gives nulls."""
        try:
            return self._summarise(as_dict(stats) if stats is not None else None,
                                   as_dict(health) if health is not None else None,
                                   now, prev if isinstance(prev, dict) else None)
        except Exception:   # noqa: BLE001 — the contract is "never raise"; keep the card alive
            log.debug("summarise failed for %s", self.device_type, exc_info=True)
            return self.empty_summary(now)

    def _summarise(self, stats: dict | None, health: dict | None, now: datetime,
                   prev: dict | None) -> dict:
        return self.empty_summary(now)

    def empty_summary(self, now: datetime) -> dict:
        return {"flows_total": None, "flows_running": None, "bitrate_bps": None,
                "cpu_percent": None, "ram_percent": None, "uptime_secs": None, "health": None,
                "health_reasons": [], "target": None, "metrics": self.metrics({}),
                "updated_at": rfc3339_ms(now)}

    def metrics(self, values: dict[str, Any]) -> list[dict]:
        """The summary's `metrics`, in `summary_metrics` order."""
        return [{"key": m["key"], "label": m["label"], "value": values.get(m["key"]),
                 "unit": m.get("unit")} for m in self.summary_metrics]

    def merge_health(self, prev: dict | None, report: Any, *, received_at: datetime | None = None) -> dict | None:
        """How a new health report combines with the last one (default: it replaces it)."""
        return report if isinstance(report, dict) else prev

    def event_dedupe_key(self, event: Any) -> str | None:
        return None

    @staticmethod
    def normalise_severity(severity: Any) -> str:
        """Sidecar `minor`/`major` map to `warning`/`critical`; anything unknown is `info`."""
        mapped = {"minor": "warning", "major": "critical"}.get(severity, severity)
        return mapped if mapped in ("info", "warning", "critical") else "info"

    def history_samples(self, stats: Any) -> list[Sample]:
        try:
            return self._history_samples(as_dict(stats))
        except Exception:   # noqa: BLE001 — a broken frame must not stop the recorder
            log.debug("history_samples failed for %s", self.device_type, exc_info=True)
            return []

    def _history_samples(self, stats: dict) -> list[Sample]:
        return []

    def health_samples(self, health: Any) -> list[Sample]:
        """Series that only the health report carries (default none)."""
        return []

    # -- topology and endpoints --------------------------------------------------------------

    def topology_ports(self, config: Any, stats: Any, health: Any = None) -> list[dict]:
        """api.md §10.1 port objects."""
        return []

    def tunnels(self, config: Any, stats: Any) -> list[dict]:
        """Tunnel ends this node holds, for tunnel_id / relay_pairing link inference."""
        return []

    def addresses(self, health: Any) -> list[str]:
        """The node's own IPs (interfaces and api_addr), for wildcard-listener matching."""
        report = as_dict(health)
        found: list[str] = []
        for iface in as_dicts(report.get("network_interfaces")):
            for key in ("ipv4", "ipv6"):
                for text in as_list(iface.get(key)):
                    ip = parse_ip(text) if isinstance(text, str) else None
                    if ip is not None and not ip.is_loopback and str(ip) not in found:
                        found.append(str(ip))
        api = parse_socket_addr(as_str(report.get("api_addr")), allow_hostname=False)
        if api is not None and not api.is_wildcard and str(api.ip) not in found:
            found.append(str(api.ip))
        return found

    def endpoints(self, config: Any, stats: Any = None) -> list[dict]:
        """api.md §7.5 `flows` entries (address fields only)."""
        return []

    # -- previews and AI ---------------------------------------------------------------------

    def preview(self, config: Any, action: dict) -> dict:
        """The diff a command preview or AI proposal shows, secrets masked."""
        action_type = action.get("type") if isinstance(action, dict) else None
        spec = self.commands.get(action_type) if isinstance(action_type, str) else None
        if spec is None:
            return {"kind": "action", "entity": None, "entity_id": None, "changes": []}
        if config:
            try:   # a kept secret ("{{secret}}") is not a change
                action = self.restore_action_secrets(action, config)
            except ActionError:
                pass
        try:
            entity_id, before, after, prefix = self._preview_states(as_dict(config) if config else None,
                                                                    action, spec)
            changes = diff(before, after, self.entity_id_keys,
                           shown=(self.masker.mask(before, prefix=prefix),
                                  self.masker.mask(after, prefix=prefix)))
        except Exception:   # noqa: BLE001 — previews are for checked actions; never break on others
            log.debug("preview failed for %s", self.device_type, exc_info=True)
            entity_id, changes = None, []
        return {"kind": spec.preview_kind, "entity": spec.preview_entity,
                "entity_id": entity_id, "changes": changes}

    def _preview_states(self, config: dict | None, action: dict,
                        spec: CommandSpec) -> tuple[str | None, Any, Any, tuple]:
        """(entity id, state before, state after, secret-path prefix of those states)."""
        return None, None, None, ()

    def ai_primer(self) -> str:
        return self.ai_description[:8000]

    def ai_state(self, config: Any, stats: Any, health: Any, *, now: datetime) -> dict:
        """Compact, secret-masked description of one node for prompts. Never raises."""
        try:
            return self._ai_state(config, stats, health, now)
        except Exception:   # noqa: BLE001 — a broken cache entry must not break the assistant
            log.debug("ai_state failed for %s", self.device_type, exc_info=True)
            return self._summary_state(stats, health, now)

    def _ai_state(self, config: Any, stats: Any, health: Any, now: datetime) -> dict:
        return self._summary_state(stats, health, now)

    def _summary_state(self, stats: Any, health: Any, now: datetime) -> dict:
        summary = self.summarise(stats, health, now=now)
        return {"device_type": self.device_type,
                "summary": {k: v for k, v in summary.items() if k != "updated_at"}}
