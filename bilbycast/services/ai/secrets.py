"""Secret masking for the assistant (product.md §8.3).

* Context: every secret of a node config becomes ``{{secret:<ref>}}``; the thread keeps the map
  ref → (node id, path) — never the value. The path names array elements by their id, so a
  re-ordered config still resolves to the right entity.
* Proposals: a secret the model wrote in clear becomes ``{{secret:new-N}}``; the value is kept
  encrypted with the proposal (domain ``ai-proposal``) and scrubbed from the reply text.
* Placeholders are resolved only when a proposal is validated or applied, and only at secret
  positions of the action: a placeholder in a name or description is refused, so a hostile
  model cannot copy a passphrase into a field that is shown or fed back to it.
* Before any request leaves the process, `Redactor` replaces every known secret value (from the
  visible nodes' configs and the thread's proposals) wherever it appears: a secret that a node
  echoed into a flow name or an event message still does not reach a provider.
"""

from __future__ import annotations

import re
import secrets as _random
from typing import Any, Callable, Iterable

from ...drivers.secrets import SECRET_PLACEHOLDER

REF_RE = re.compile(r"\{\{secret:([A-Za-z0-9_-]{1,40})\}\}")
FULL_REF_RE = re.compile(r"^\{\{secret:([A-Za-z0-9_-]{1,40})\}\}$")
_PEM_BLOCK_RE = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----", re.DOTALL)
MIN_REDACT_LEN = 4


def _walk(value: Any, path: tuple = ()) -> Iterable[tuple[tuple, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, path + (index,))


def _set(document: Any, path: tuple, value: Any) -> None:
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def semantic_to_json(path: tuple) -> list:
    return [list(step) if isinstance(step, tuple) else step for step in path]


def resolve_semantic(document: Any, path: list) -> Any:
    """Follow a path whose array steps are ["#", id_key, id] (or plain indices)."""
    node = document
    for step in path:
        if isinstance(step, list) and len(step) == 3 and step[0] == "#":
            if not isinstance(node, list):
                return None
            node = next((e for e in node if isinstance(e, dict) and e.get(step[1]) == step[2]), None)
        elif isinstance(step, int) and not isinstance(step, bool):
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
        elif isinstance(step, str):
            node = node.get(step) if isinstance(node, dict) else None
        else:
            return None
        if node is None:
            return None
    return node


def readable_path(path: list) -> str:
    out = []
    for step in path:
        out.append(str(step[2]) if isinstance(step, list) and len(step) == 3 else str(step))
    return "/".join(out)


class SecretRefs:
    """A thread's placeholder map: ref -> {"node_id", "path"} (never a value)."""

    def __init__(self, data: Any = None) -> None:
        self.refs: dict[str, dict] = dict(data.get("refs", {})) if isinstance(data, dict) else {}
        self.next_new = int(data.get("next_new", 1)) if isinstance(data, dict) else 1
        self._by_place = {(v.get("node_id"), repr(v.get("path"))): k for k, v in self.refs.items()
                          if isinstance(v, dict)}
        self.changed = False

    def to_json(self) -> dict:
        return {"refs": self.refs, "next_new": self.next_new}

    def ref_for(self, node_id: str, path: list) -> str:
        key = (node_id, repr(path))
        ref = self._by_place.get(key)
        if ref is None:
            ref = _random.token_hex(4)
            while ref in self.refs:
                ref = _random.token_hex(4)
            self.refs[ref] = {"node_id": node_id, "path": path}
            self._by_place[key] = ref
            self.changed = True
        return ref

    def new_ref(self) -> str:
        ref = f"new-{self.next_new}"
        self.next_new += 1
        self.changed = True
        return ref

    def lookup(self, ref: str) -> dict | None:
        return self.refs.get(ref)


def config_secrets(driver: Any, config: Any) -> list[tuple[tuple, Any]]:
    """[(path, value)] of every secret in a node config, by the driver's rules."""
    if not isinstance(config, (dict, list)):
        return []
    masker = driver.masker
    found = []
    for path, value in _walk(config):
        if path and not isinstance(value, (dict, list)) and masker.is_secret(path, value):
            if value != SECRET_PLACEHOLDER and not (isinstance(value, str) and FULL_REF_RE.match(value)):
                found.append((path, value))
    return found


def mask_config(driver: Any, node_id: str, config: Any, refs: SecretRefs,
                redactor: "Redactor", found: list | None = None) -> tuple[Any, dict[str, str]]:
    """(config with {{secret:<ref>}} placeholders, {readable path: placeholder}). `found` is
    config_secrets(driver, config) when the caller already has it."""
    masked = _copy(config)
    index: dict[str, str] = {}
    for path, value in (found if found is not None else config_secrets(driver, config)):
        semantic = driver.masker._semantic_path(config, path)
        steps = semantic_to_json(semantic) if semantic is not None else list(path)
        placeholder = "{{secret:%s}}" % refs.ref_for(node_id, steps)
        _set(masked, path, placeholder)
        index[readable_path(steps)] = placeholder
        redactor.add(value, placeholder)
    return masked, index


class Redactor:
    """Replaces known secret values (and PEM blocks) in any text about to leave the process."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def add(self, value: Any, placeholder: str = SECRET_PLACEHOLDER) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and len(value) >= MIN_REDACT_LEN and not FULL_REF_RE.match(value) \
                and value != SECRET_PLACEHOLDER:
            self._values.setdefault(value, placeholder)

    def __len__(self) -> int:
        return len(self._values)

    def text(self, text: str) -> str:
        if not text:
            return text
        if "-----BEGIN" in text:
            text = _PEM_BLOCK_RE.sub(SECRET_PLACEHOLDER, text)
        # Longest first, so a secret that contains another is replaced whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, self._values[value])
        return text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


def action_secret_positions(driver: Any, action: dict) -> list[tuple[tuple, Any]]:
    """[(path inside the action, value)] of the values at secret positions of an action, with
    config-relative patterns applied to entity bodies (as the driver masks them)."""
    masker = driver.masker
    found = []
    for key, value in action.items():
        if key == "type":
            continue
        collection, _, many = driver.action_entities.get(key, (None, None, False))
        if collection is None:
            prefix: tuple = (key,)
        elif collection == "":
            prefix = ()
        else:
            prefix = (collection,) if many else (collection, 0)
        for sub, item in _walk(value):
            if isinstance(item, (dict, list)):
                continue
            if masker.is_secret(prefix + sub, item) or (isinstance(item, str) and FULL_REF_RE.match(item)
                                                        and masker.is_secret(prefix + sub, "x")):
                found.append(((key,) + sub, item))
    return found


def extract_new_secrets(driver: Any, action: dict, refs: SecretRefs) -> tuple[dict, dict[str, str]]:
    """Replace secrets the model wrote in clear with {{secret:new-N}}.

    Returns (action with placeholders, {ref: value})."""
    result = _copy(action)
    new: dict[str, str] = {}
    for path, value in action_secret_positions(driver, action):
        if not isinstance(value, str) or value == SECRET_PLACEHOLDER or FULL_REF_RE.match(value):
            continue
        ref = refs.new_ref()
        new[ref] = value
        _set(result, path, "{{secret:%s}}" % ref)
    return result, new


def misplaced_placeholders(driver: Any, action: dict) -> list[dict]:
    """Placeholders anywhere except at a secret position (an exfiltration attempt, or a mistake)."""
    allowed = {path for path, _ in action_secret_positions(driver, action)}
    problems = []
    for path, value in _walk(action):
        if isinstance(value, str) and REF_RE.search(value) and path not in allowed:
            pointer = "".join("/" + str(step) for step in path)
            problems.append({"path": pointer, "message": "a secret placeholder may only be used as the value "
                                                         "of a secret field"})
    return problems


def resolve_placeholders(driver: Any, action: dict, refs: SecretRefs, new_values: dict[str, str],
                         lookup_config: Callable[[str], Any]) -> tuple[dict, list[dict]]:
    """(action with every {{secret:<ref>}} replaced by its value, problems). `lookup_config(node_id)`
    returns that node's current config, or None when the node is not one the caller can see."""
    result = _copy(action)
    problems = []
    for path, value in action_secret_positions(driver, action):
        if not isinstance(value, str):
            continue
        match = FULL_REF_RE.match(value)
        if not match:
            continue
        ref = match.group(1)
        pointer = "".join("/" + str(step) for step in path)
        if ref in new_values:
            _set(result, path, new_values[ref])
            continue
        place = refs.lookup(ref)
        config = lookup_config(place["node_id"]) if place else None
        secret = resolve_semantic(config, place["path"]) if place and config is not None else None
        if not isinstance(secret, (str, int)) or secret == SECRET_PLACEHOLDER:
            problems.append({"path": pointer, "message": f"the secret placeholder {{{{secret:{ref}}}}} "
                                                         "does not resolve to a current value"})
            continue
        _set(result, path, secret)
    return result, problems
