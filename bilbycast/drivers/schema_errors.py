"""Turn JSON-schema validation errors into api.md §1.3 `fields` entries.

Two things the stock jsonschema messages get wrong for an API:

* `oneOf` failures ("is not valid under any of the given schemas") hide the real problem. Our
  schemas tell `oneOf` branches apart by a `type` const or a JSON type (product.md §6), so we
  pick the branch the document meant and report that branch's errors.
* Messages echo the offending value; for a passphrase that would put a secret into an error
  body and the audit log. Messages here never include the value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

JSON_TYPE_NAMES = {"string", "integer", "number", "boolean", "object", "array", "null"}


def pointer(parts: Iterable[Any]) -> str:
    """RFC 6901 JSON pointer from path parts ("" is the whole document)."""
    out = []
    for part in parts:
        out.append(str(part).replace("~", "~0").replace("/", "~1"))
    return "".join("/" + part for part in out)


def make_validator(schema: dict, *, check: bool = False) -> Draft202012Validator:
    """A validator for one command's arguments. The built-in catalogues are fixed code, checked
    against the metaschema by the driver tests (`check=True`) rather than at every start, where
    it cost about a second of a laptop's cold start."""
    if check:
        Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_fields(validator: Draft202012Validator, instance: Any, *,
                  base: tuple = ()) -> list[dict]:
    """All problems of `instance`, as [{"path", "message"}], sorted by path, deduplicated."""
    fields: list[dict] = []
    for error in validator.iter_errors(instance):
        fields.extend(_explain(error, base))
    seen: set[tuple[str, str]] = set()
    unique = []
    for field in sorted(fields, key=lambda f: f["path"]):
        key = (field["path"], field["message"])
        if key not in seen:
            seen.add(key)
            unique.append(field)
    return unique


def _explain(error: ValidationError, base: tuple) -> list[dict]:
    path = base + tuple(error.absolute_path)
    kind = error.validator
    if kind == "oneOf":
        return _explain_one_of(error, base)
    if kind == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [{"path": pointer(path + (name,)), "message": "is required"} for name in missing]
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = [name for name in error.instance if name not in allowed]
        return [{"path": pointer(path + (name,)), "message": "is not an allowed field"}
                for name in extra]
    return [{"path": pointer(path), "message": _message(error)}]


def _explain_one_of(error: ValidationError, base: tuple) -> list[dict]:
    path = base + tuple(error.absolute_path)
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    if not branches:   # valid under several branches: the schema is ambiguous for this value
        return [{"path": pointer(path), "message": "matches more than one allowed form"}]
    depth = len(error.absolute_path)
    chosen = [errors for errors in branches.values()
              if not any(_is_discriminator_failure(sub, depth) for sub in errors)]
    if len(chosen) == 1:
        fields: list[dict] = []
        for sub in chosen[0]:
            fields.extend(_explain(sub, base))
        return fields
    options = _branch_labels(error.validator_value)
    instance = error.instance
    if isinstance(instance, dict) and options["consts"]:
        message = ("must be one of: " + ", ".join(options["consts"])) if "type" in instance else "is required"
        return [{"path": pointer(path + ("type",)), "message": message}]
    if options["types"]:
        return [{"path": pointer(path), "message": "must be of type " + " or ".join(options["types"])}]
    return [{"path": pointer(path), "message": "does not match any allowed form"}]


def _is_discriminator_failure(error: ValidationError, depth: int) -> bool:
    """A branch was not meant for this value when its `type` const or JSON type fails."""
    relative = list(error.absolute_path)[depth:]
    if error.validator == "type" and not relative:
        return True
    if error.validator in ("const", "enum") and relative == ["type"]:
        return True
    if error.validator == "required" and not relative and "type" in error.validator_value \
            and isinstance(error.instance, dict) and "type" not in error.instance:
        return True
    return False


def _branch_labels(branches: list[dict]) -> dict[str, list[str]]:
    consts, types = [], []
    for branch in branches:
        const = branch.get("properties", {}).get("type", {}).get("const")
        if isinstance(const, str):
            consts.append(const)
        json_type = branch.get("type")
        if isinstance(json_type, str) and json_type in JSON_TYPE_NAMES and json_type not in types:
            types.append(json_type)
    return {"consts": consts, "types": types}


_MESSAGES: dict[str, Callable[[Any], str]] = {
    "type": lambda v: "must be of type " + (" or ".join(v) if isinstance(v, list) else str(v)),
    "enum": lambda v: "must be one of: " + ", ".join(str(item) for item in v),
    "const": lambda v: f"must be {v!r}" if not isinstance(v, str) else f"must be '{v}'",
    "minimum": lambda v: f"must be at least {v}",
    "maximum": lambda v: f"must be at most {v}",
    "exclusiveMinimum": lambda v: f"must be greater than {v}",
    "exclusiveMaximum": lambda v: f"must be less than {v}",
    "minLength": lambda v: f"must be at least {v} characters long",
    "maxLength": lambda v: f"must be at most {v} characters long",
    "pattern": lambda v: "has an invalid format",
    "minItems": lambda v: f"must have at least {v} items",
    "maxItems": lambda v: f"must have at most {v} items",
    "uniqueItems": lambda v: "must not contain duplicates",
    "minProperties": lambda v: f"must have at least {v} entries",
    "maxProperties": lambda v: f"must have at most {v} entries",
    "propertyNames": lambda v: "has an invalid key",
}


def _message(error: ValidationError) -> str:
    custom = error.schema.get("x-message") if isinstance(error.schema, dict) else None
    if isinstance(custom, str):
        return custom
    build = _MESSAGES.get(str(error.validator))
    return build(error.validator_value) if build else "is invalid"
