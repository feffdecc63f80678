"""The action catalogue the model is given (product.md §8.2 item 5), in a compact notation.

The drivers' argument schemas are JSON Schema 2020-12 subsets; the edge ones are large (an input
is a 23-way tagged union). Sent verbatim they would fill a local model's whole context, so the
catalogue renders each schema in a compact, lossless-enough notation the model reads easily:

    {"input": "Input"}                     a shared type, defined once under `types`
    {"flow_id": "id", "latency_ms?": "int>=0", "mode": "caller|listener|rendezvous"}

`?` marks an optional field, `id` is a 1–64 character entity id, `a|b` an enum, `[T]` an array of
T. Sub-schemas that occur more than once (Input, Output, Flow) are hoisted into `types`. The
server validates every proposal against the real schema anyway, so the notation only has to
guide the model, never to be the authority.
"""

from __future__ import annotations

import json
from typing import Any

ID_PATTERN = "^[A-Za-z0-9._-]+$"
_HOIST_MIN_CHARS = 300


def _canon(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _type_name(key: str, taken: set[str]) -> str:
    base = "".join(part.capitalize() for part in key.rstrip("s").split("_") if part) or "Type"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}{n}", n + 1
    return name


class Compactor:
    """Renders schemas compactly, hoisting repeated large sub-schemas into named types."""

    def __init__(self, detail: int = 1) -> None:
        self.detail = detail            # 1: every field; 2: required fields only
        self.types: dict[str, Any] = {}
        self._names: dict[str, str] = {}
        self._counts: dict[str, int] = {}

    # -- pass 1: find repeated sub-schemas ----------------------------------------------------
    def count(self, schema: Any) -> None:
        if isinstance(schema, dict):
            if _is_big(schema):
                key = _canon(schema)
                self._counts[key] = self._counts.get(key, 0) + 1
            for value in schema.values():
                self.count(value)
        elif isinstance(schema, list):
            for item in schema:
                self.count(item)

    # -- pass 2: render ---------------------------------------------------------------------
    def render(self, schema: Any, key: str = "") -> Any:
        if not isinstance(schema, dict):
            return "any"
        canon = _canon(schema) if _is_big(schema) else None
        if canon is not None and self._counts.get(canon, 0) > 1:
            name = self._names.get(canon)
            if name is None:
                name = _type_name(key or "type", set(self.types))
                self._names[canon] = name
                self.types[name] = None          # reserve before recursing
                self.types[name] = self._render(schema)
            return name
        return self._render(schema)

    def _render(self, schema: dict) -> Any:
        if "const" in schema:
            return json.dumps(schema["const"])
        if "enum" in schema:
            return "|".join(str(v) if not isinstance(v, str) else v for v in schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return "|".join(str(k) for k in kind)
        if kind == "string":
            if schema.get("pattern") == ID_PATTERN:
                return "id"
            text = "string"
            low, high = schema.get("minLength"), schema.get("maxLength")
            if self.detail == 1 and (low or high) and (high or 0) < 2048:
                text += f"({low or 0}-{high})" if high else f"(>={low})"
            if self.detail == 1 and schema.get("pattern"):
                text += f" /{schema['pattern']}/"
            return text
        if kind in ("integer", "number"):
            text = "int" if kind == "integer" else "number"
            low = schema.get("minimum", schema.get("exclusiveMinimum"))
            high = schema.get("maximum")
            if low is not None and high is not None:
                text += f" {low}-{high}"
            elif low is not None:
                text += f">={low}" if "minimum" in schema else f">{low}"
            elif high is not None:
                text += f"<={high}"
            return text
        if kind == "boolean":
            return "bool"
        if kind == "null":
            return "null"
        if kind == "array":
            return [self.render(schema.get("items") or {}, "item")]
        if "oneOf" in schema and kind != "object":
            return " or ".join(str(self._render(branch)) for branch in schema["oneOf"] if isinstance(branch, dict))
        if kind == "object" or "properties" in schema:
            return self._object(schema)
        return "any"

    def _object(self, schema: dict) -> Any:
        props = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if self.detail >= 2 and name not in required and not _is_tag(sub):
                continue
            out[name if name in required else name + "?"] = self.render(sub, name)
        branches = [b for b in schema.get("oneOf") or () if isinstance(b, dict)]
        tags = [_tag_of(b) for b in branches]
        if branches and all(tags):
            variants = {}
            for tag, branch in zip(tags, branches):
                inner = {k: v for k, v in (branch.get("properties") or {}).items() if k != "type"}
                variants[tag] = self._object({"properties": inner, "required": [
                    r for r in branch.get("required") or () if r != "type"]})
            out["...fields by type"] = variants
        elif branches:
            out["...one of"] = [self._render(b) for b in branches]
        if not out:
            return "object"
        return out


def _is_big(schema: dict) -> bool:
    return ("properties" in schema or "oneOf" in schema) and len(_canon(schema)) >= _HOIST_MIN_CHARS


def _is_tag(schema: Any) -> bool:
    return isinstance(schema, dict) and ("const" in schema or "enum" in schema)


def _tag_of(branch: dict) -> str | None:
    tag = (branch.get("properties") or {}).get("type")
    if isinstance(tag, dict) and isinstance(tag.get("const"), str):
        return tag["const"]
    return None


def build_catalogue(drivers: list[Any], role_ok, *, detail: int = 1) -> dict[str, Any]:
    """{"actions": {device_type: {name: {...}}}, "types": {...}} for the drivers present.

    `role_ok(role)` says whether the user meets a role; viewers therefore get no actions."""
    entries: list[tuple[str, dict]] = []
    for driver in drivers:
        for spec in driver.ai_actions(role_ok):
            entries.append((driver.device_type, spec))
    compactor = Compactor(detail)
    for _, spec in entries:
        compactor.count(spec["args_schema"])
    actions: dict[str, dict[str, Any]] = {}
    for device_type, spec in entries:
        item: dict[str, Any] = {"description": spec["description"],
                                "args": compactor.render(spec["args_schema"])}
        if spec.get("destructive"):
            item["destructive"] = True
        if spec.get("requires_role") not in (None, "operator"):
            item["role"] = spec["requires_role"]
        if spec.get("requires_capability"):
            item["needs_capability"] = spec["requires_capability"]
        actions.setdefault(device_type, {})[spec["name"]] = item
    return {"actions": actions, "types": compactor.types}


def action_names(drivers: list[Any], role_ok) -> list[str]:
    names: list[str] = []
    for driver in drivers:
        for spec in driver.ai_actions(role_ok):
            if spec["name"] not in names:
                names.append(spec["name"])
    return names
