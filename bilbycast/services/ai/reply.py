"""The reply format (product.md §8.4): the schema, parsing a model's answer, and pulling the
`reply` text out of a JSON answer while it streams in."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .limits import MAX_PROPOSALS, REPLY_MAX_CHARS

REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["reply", "proposals"],
    "additionalProperties": False,
    "properties": {
        "reply": {"type": "string", "maxLength": REPLY_MAX_CHARS},
        "proposals": {
            "type": "array",
            "maxItems": MAX_PROPOSALS,
            "items": {
                "type": "object",
                "required": ["node_id", "action", "title"],
                "additionalProperties": False,
                "properties": {
                    "node_id": {"type": "string"},
                    "title": {"type": "string", "maxLength": 200},
                    "summary": {"type": "string", "maxLength": 1000},
                    "action": {"type": "object", "required": ["type"]},
                },
            },
        },
    },
}


def provider_schema(action_types: list[str]) -> dict[str, Any]:
    """The schema handed to the provider's structured output: §8.4's schema, with the action's
    `type` limited to the catalogue and other action fields explicitly allowed (grammar-based
    decoders such as Ollama's forbid properties a schema does not allow). With an empty
    catalogue (viewers) proposals must be an empty array."""
    schema = copy.deepcopy(REPLY_SCHEMA)
    item = schema["properties"]["proposals"]["items"]
    item["properties"]["action"] = {
        "type": "object", "required": ["type"], "additionalProperties": True,
        "properties": {"type": {"type": "string", "enum": list(action_types)}} if action_types
        else {"type": {"type": "string"}},
    }
    if not action_types:
        schema["properties"]["proposals"]["maxItems"] = 0
    return schema


@dataclass
class ParsedReply:
    reply: str
    proposals: list[Any] = field(default_factory=list)
    structured: bool = True          # False: the answer did not parse and is kept as markdown
    problems: list[str] = field(default_factory=list)
    dropped: int = 0                  # proposals over the maximum


_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _load_object(text: str) -> dict | None:
    candidates = [text]
    fence = _FENCE_RE.match(text)
    if fence:
        candidates.append(fence.group(1))
    first, last = text.find("{"), text.rfind("}")
    if 0 <= first < last:
        candidates.append(text[first:last + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_reply(text: str) -> ParsedReply:
    """Check a model's answer against REPLY_SCHEMA. An answer that is not a JSON object with a
    string `reply` is kept as plain markdown with no proposals."""
    value = _load_object(text or "")
    if value is None or not isinstance(value.get("reply"), str):
        return ParsedReply((text or "").strip()[:REPLY_MAX_CHARS], [], structured=False)
    parsed = ParsedReply(value["reply"][:REPLY_MAX_CHARS])
    extra = sorted(k for k in value if k not in ("reply", "proposals"))
    if extra:
        parsed.problems.append(f"unexpected top-level fields ignored: {', '.join(extra)[:200]}")
    proposals = value.get("proposals", [])
    if not isinstance(proposals, list):
        parsed.problems.append("`proposals` is not an array; ignored")
        proposals = []
    if len(proposals) > MAX_PROPOSALS:
        parsed.dropped = len(proposals) - MAX_PROPOSALS
        proposals = proposals[:MAX_PROPOSALS]
    parsed.proposals = proposals
    return parsed


def item_problems(item: Any) -> list[dict]:
    """Shape problems of one proposal item (§8.4 items schema), as validation errors."""
    if not isinstance(item, dict):
        return [{"path": "", "message": "a proposal must be an object"}]
    found = []
    for key in ("node_id", "title"):
        if not isinstance(item.get(key), str) or not item.get(key):
            found.append({"path": f"/{key}", "message": "is required and must be a string"})
    if isinstance(item.get("title"), str) and len(item["title"]) > 200:
        found.append({"path": "/title", "message": "must be at most 200 characters"})
    if "summary" in item and (not isinstance(item["summary"], str) or len(item["summary"]) > 1000):
        found.append({"path": "/summary", "message": "must be a string of at most 1000 characters"})
    action = item.get("action")
    if not isinstance(action, dict):
        found.append({"path": "/action", "message": "is required and must be an object"})
    elif not isinstance(action.get("type"), str) or not action.get("type"):
        found.append({"path": "/action/type", "message": "is required"})
    extra = [k for k in item if k not in ("node_id", "title", "summary", "action")]
    for key in extra[:5]:
        found.append({"path": f"/{str(key)[:64]}", "message": "unknown field"})
    return found


class ReplyStream:
    """Feed the raw answer as it streams; `feed` returns the new text of the `reply` field.

    Works for a JSON object (the reply is decoded from its string, escapes included, wherever
    the key sits) and for an answer that turns out not to be JSON (then the text is passed on
    as is)."""

    def __init__(self) -> None:
        self._buf = ""
        self._pos = 0
        self._mode: str | None = None       # None (undecided), "json", "text"
        self._depth = 0
        self._in_string = False
        self._escape = ""                    # pending escape sequence ("\\", "\\u12", ...)
        self._string_is_key = False
        self._current = []                   # characters of the string being read (keys only)
        self._last_key: str | None = None
        self._expect_value = False
        self._emitting = False
        self._high_surrogate: str | None = None
        self.emitted = 0

    def feed(self, chunk: str) -> str:
        if not chunk:
            return ""
        self._buf += chunk
        if self._mode is None:
            stripped = self._buf.lstrip()
            if not stripped:
                return ""
            if stripped.startswith("```"):
                if "\n" not in stripped:
                    return ""
                body = stripped.split("\n", 1)[1]
                self._mode = "json" if body.lstrip().startswith("{") or not body.strip() else "text"
            else:
                self._mode = "json" if stripped.startswith("{") else "text"
        if self._mode == "text":
            out = self._buf[self._pos:]
            self._pos = len(self._buf)
            self.emitted += len(out)
            return out
        return self._scan()

    def _scan(self) -> str:
        out: list[str] = []
        buf = self._buf
        i = self._pos
        n = len(buf)
        while i < n:
            c = buf[i]
            if self._in_string:
                if self._escape:
                    self._escape += c
                    decoded = self._decode_escape()
                    if decoded is None:
                        i += 1
                        continue
                    self._escape = ""
                    self._take(decoded, out)
                elif c == "\\":
                    self._escape = "\\"
                elif c == '"':
                    self._end_string()
                else:
                    self._take(c, out)
                i += 1
                continue
            if c == '"':
                self._in_string = True
                at_key_position = self._depth == 1 and not self._expect_value
                self._string_is_key = at_key_position
                self._emitting = (self._depth == 1 and self._expect_value and self._last_key == "reply")
                self._current = []
            elif c in "{[":
                self._depth += 1
                if self._depth == 2 and self._expect_value:
                    pass
            elif c in "}]":
                self._depth -= 1
                if self._depth == 1:
                    self._expect_value = False
            elif c == ":" and self._depth == 1:
                self._expect_value = True
            elif c == "," and self._depth == 1:
                self._expect_value = False
            i += 1
        self._pos = n
        text = "".join(out)
        self.emitted += len(text)
        return text

    def _decode_escape(self) -> str | None:
        seq = self._escape
        if len(seq) < 2:
            return None
        kind = seq[1]
        simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
        if kind in simple:
            return simple[kind]
        if kind == "u":
            if len(seq) < 6:
                return None
            try:
                code = int(seq[2:6], 16)
            except ValueError:
                return ""
            if 0xD800 <= code <= 0xDBFF:
                self._high_surrogate = chr(code)
                return ""
            if 0xDC00 <= code <= 0xDFFF and self._high_surrogate:
                pair = (self._high_surrogate + chr(code)).encode("utf-16", "surrogatepass").decode("utf-16")
                self._high_surrogate = None
                return pair
            return chr(code)
        return ""

    def _take(self, text: str, out: list[str]) -> None:
        if self._emitting:
            out.append(text)
        elif self._string_is_key:
            self._current.append(text)

    def _end_string(self) -> None:
        self._in_string = False
        if self._string_is_key:
            self._last_key = "".join(self._current)
        elif self._depth == 1:
            self._expect_value = False
        self._emitting = False
        self._string_is_key = False
