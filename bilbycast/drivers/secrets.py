"""Secret masking and restoring for node configs and command actions.

Patterns (a driver's `secret_paths`) are dotted paths with two wildcards:
`inputs[*].passphrase` (any array element) and `**.bearer_token` (any depth). On top of the
patterns, any *string* under a key that looks like a credential (product.md §8.3) is masked too,
so a field a node adds later is not leaked just because no driver knows it yet.

Restoring puts `{{secret}}` placeholders back from the current config, matched by entity id and
field name, never by array position (api.md §7.1): re-ordering inputs in an editor must not give
one input another's passphrase.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

SECRET_PLACEHOLDER = "{{secret}}"
AUDIT_MASK = "••••••"

# product.md §8.3: credential-like keys, matched case-insensitively.
SECRET_KEY_RE = re.compile(r"passphrase|password|secret|token|stream_key|api_key|bearer|psk|private_key",
                           re.IGNORECASE)
_PEM_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")

Path = tuple  # of str keys and int indices


def parse_pattern(pattern: str) -> tuple[str, ...]:
    """`inputs[*].passphrase` -> ("inputs", "[*]", "passphrase")."""
    tokens: list[str] = []
    for part in pattern.split("."):
        while "[*]" in part:
            head, _, part = part.partition("[*]")
            if head:
                tokens.append(head)
            tokens.append("[*]")
        if part:
            tokens.append(part)
    return tuple(tokens)


def _matches(pattern: tuple[str, ...], path: Path) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, path[skip:]) for skip in range(len(path) + 1))
    if not path:
        return False
    step = path[0]
    if head == "[*]":
        ok = isinstance(step, int)
    elif head == "*":
        ok = isinstance(step, str)
    else:
        ok = step == head
    return ok and _matches(rest, path[1:])


class SecretMasker:
    """Masks and restores secrets for one driver."""

    def __init__(self, patterns: Iterable[str], *, id_keys: Iterable[str] = ("id",),
                 key_regex: re.Pattern | None = SECRET_KEY_RE) -> None:
        self.patterns = tuple(parse_pattern(p) for p in patterns)
        self.id_keys = tuple(id_keys)
        self.key_regex = key_regex

    # -- detection ---------------------------------------------------------------------------

    def is_secret(self, path: Path, value: Any) -> bool:
        if value is None or value == "" or value == SECRET_PLACEHOLDER:
            return False
        if any(_matches(pattern, path) for pattern in self.patterns):
            return not isinstance(value, bool)
        if not isinstance(value, str):
            return False
        last_key = next((step for step in reversed(path) if isinstance(step, str)), None)
        if self.key_regex is not None and last_key is not None and self.key_regex.search(last_key):
            return True
        return bool(_PEM_RE.search(value))

    # -- masking -----------------------------------------------------------------------------

    def mask(self, document: Any, *, prefix: Path = (), replacement: str = SECRET_PLACEHOLDER) -> Any:
        """A deep copy with every secret value replaced."""
        return self._mask(copy.deepcopy(document), prefix, replacement)

    def _mask(self, value: Any, path: Path, replacement: str) -> Any:
        if self.is_secret(path, value):
            return replacement
        if isinstance(value, dict):
            for key in list(value):
                value[key] = self._mask(value[key], path + (key,), replacement)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                value[index] = self._mask(item, path + (index,), replacement)
        return value

    # -- restoring ---------------------------------------------------------------------------

    def restore(self, new: Any, current: Any) -> tuple[Any, list[Path]]:
        """Deep copy of `new` with placeholders filled from `current`, plus the paths (inside
        `new`) of placeholders that had nothing to match."""
        result = copy.deepcopy(new)
        locations = list(_placeholder_paths(result, ()))
        if not locations:
            return result, []
        known = dict(self._semantic_index(current)) if current is not None else {}
        unmatched: list[Path] = []
        for path in locations:
            key = self._semantic_path(result, path)
            value = known.get(key) if key is not None else None
            if value is None or value == SECRET_PLACEHOLDER:
                unmatched.append(path)
            elif not path:
                result = copy.deepcopy(value)
            else:
                _set(result, path, copy.deepcopy(value))
        return result, unmatched

    # -- command actions ---------------------------------------------------------------------
    # `entities` maps an action field to (config collection, id argument, holds a list); the
    # collection "" stands for the whole config (update_config's `config`).

    def mask_action(self, action: Any, entities: dict, *, replacement: str = SECRET_PLACEHOLDER) -> Any:
        """Mask an action's arguments as if each entity body sat in its config collection, so the
        config-relative patterns (`inputs[*].username`) apply to `input.username` too."""
        if not isinstance(action, dict):
            return self.mask(action, replacement=replacement)
        masked = {}
        for key, value in action.items():
            collection, _, many = entities.get(key, (None, None, False))
            if collection is None:
                prefix: Path = (key,)
            elif collection == "":
                prefix = ()
            else:
                prefix = (collection,) if many else (collection, 0)
            masked[key] = self.mask(value, prefix=prefix, replacement=replacement)
        return masked

    def restore_action(self, action: dict, entities: dict, current: Any) -> tuple[dict, list[Path]]:
        """The action with placeholders restored from `current`, plus unmatched paths (inside the
        action). A body's id comes from the id argument when there is one (the node does the same)."""
        if not has_placeholder(action):
            return action, []
        result = dict(action)
        unmatched: list[Path] = []
        for key, value in action.items():
            if not has_placeholder(value):
                continue
            collection, id_arg, many = entities.get(key, (None, None, False))
            if collection is None:       # not an entity body: nothing to match it against
                unmatched.extend((key,) + path for path in self.restore(value, None)[1])
            elif collection == "":
                result[key], missing = self.restore(value, current)
                unmatched.extend((key,) + path for path in missing)
            elif many:
                view, missing = self.restore({collection: value}, current)
                result[key] = view[collection]
                unmatched.extend((key,) + path[1:] for path in missing)
            else:
                entity = dict(value) if isinstance(value, dict) else value
                if isinstance(entity, dict) and id_arg and isinstance(action.get(id_arg), str):
                    entity["id"] = action[id_arg]
                view, missing = self.restore({collection: [entity]}, current)
                restored = view[collection][0]
                if isinstance(restored, dict) and isinstance(value, dict) and "id" not in value:
                    restored.pop("id", None)
                result[key] = restored
                unmatched.extend((key,) + path[2:] for path in missing)
        return result, unmatched

    def _element_id(self, element: Any) -> tuple | None:
        if isinstance(element, dict):
            for key in self.id_keys:
                ident = element.get(key)
                if isinstance(ident, (str, int)) and not isinstance(ident, bool) and ident != "":
                    return (key, ident)
        return None

    def _semantic_path(self, document: Any, path: Path) -> tuple | None:
        """Replace array indices by the element's id; None if some element has no id."""
        out: list = []
        node = document
        for step in path:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return None
                ident = self._element_id(node[step])
                if ident is None:
                    return None
                out.append(("#",) + ident)
                node = node[step]
            else:
                out.append(step)
                node = node.get(step) if isinstance(node, dict) else None
        return tuple(out)

    def _semantic_index(self, document: Any, path: tuple = ()) -> Iterable[tuple[tuple, Any]]:
        yield path, document
        if isinstance(document, dict):
            for key, value in document.items():
                yield from self._semantic_index(value, path + (key,))
        elif isinstance(document, list):
            seen: set = set()
            for element in document:
                ident = self._element_id(element)
                # An element without an id, or a duplicate id, cannot be matched safely.
                if ident is None or ident in seen:
                    continue
                seen.add(ident)
                yield from self._semantic_index(element, path + (("#",) + ident,))


def _placeholder_paths(value: Any, path: Path) -> Iterable[Path]:
    if value == SECRET_PLACEHOLDER:
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _placeholder_paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _placeholder_paths(item, path + (index,))


def has_placeholder(value: Any) -> bool:
    return next(iter(_placeholder_paths(value, ())), None) is not None


def _set(document: Any, path: Path, value: Any) -> None:
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
