"""Wire helpers shared by every simulated node: one JSON encoder, timestamps, acks.

Real nodes (serde_json) emit compact JSON with keys sorted alphabetically at every level
(node-protocol §3.4) and stamp messages with UTC RFC 3339 timestamps carrying a ``+00:00``
suffix (§3.2).  One module-level encoder is shared by every node of a fleet.
"""

from __future__ import annotations

import json
import random
import struct
import time
from typing import Any

from tornado.util import _websocket_mask as websocket_mask

EDGE_VERSION, EDGE_PROTOCOL = "0.106.0", 4
RELAY_VERSION, RELAY_PROTOCOL = "0.10.6", 1
APPEARX_VERSION, APPEARX_PROTOCOL = "0.11.8", 1

# ensure_ascii=True is the fast path of the C encoder; a \u2014 escape is the same JSON string
# as serde's raw UTF-8 to every parser
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)

#: the sentinel "argument not given" (``None`` is a legitimate JSON value)
MISSING: Any = object()


def dumps(obj: Any) -> str:
    """Encode one frame like a node does: compact, keys sorted."""
    return _ENCODER.encode(obj)


_rand = random.Random()


def ws_text_frame(text: str | bytes) -> bytes:
    """One masked client→server text frame (RFC 6455 §5.2), FIN set, no extensions.

    Built here rather than through tornado's ``write_message`` so that a ticker can hand one
    ``stream.write`` several frames at once and no per-message task is created — the two
    biggest per-frame costs when one process simulates thousands of nodes.
    """
    data = text.encode() if isinstance(text, str) else text
    n = len(data)
    if n < 126:
        header = struct.pack("!BB", 0x81, 0x80 | n)
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    mask = _rand.randbytes(4)
    return header + mask + websocket_mask(mask, data)


_second_cache: list = [None, ""]


def utc_timestamp(ns: int | None = None) -> str:
    """``2026-05-01T10:15:30.123456789+00:00`` (9 fractional digits, like the edge)."""
    if ns is None:
        ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    cache = _second_cache
    if cache[0] != sec:
        cache[0] = sec
        cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{cache[1]}.{frac:09d}+00:00"


def envelope(msg_type: str, payload: Any, timestamp: str | None = None) -> dict:
    """The §3.1 envelope ``{type, timestamp, payload}``."""
    return {"type": msg_type, "timestamp": timestamp or utc_timestamp(), "payload": payload}


class CommandError(Exception):
    """A command failure: ``error`` is the human text, ``code`` the optional ``error_code``."""

    def __init__(self, message: str, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


def ack_success(command_id: str, data: Any = MISSING) -> dict:
    payload: dict = {"command_id": command_id, "success": True}
    if data is not MISSING and data is not None:
        payload["data"] = data
    return envelope("command_ack", payload)


def ack_failure(command_id: str, error: str, code: str | None = None,
                details: dict | None = None) -> dict:
    payload: dict = {"command_id": command_id, "success": False, "error": error}
    if code:
        payload["error_code"] = code
    if details:
        payload["details"] = details
    return envelope("command_ack", payload)


def event(severity: str, category: str, message: str, *, details: dict | None = None,
          flow_id: str | None = None, input_id: str | None = None,
          output_id: str | None = None) -> dict:
    """An ``event`` payload (§4.4); optional scope keys are omitted when absent."""
    payload: dict = {"severity": severity, "category": category, "message": message}
    if details:
        payload["details"] = details
    if flow_id is not None:
        payload["flow_id"] = flow_id
    if input_id is not None:
        payload["input_id"] = input_id
    if output_id is not None:
        payload["output_id"] = output_id
    return payload
