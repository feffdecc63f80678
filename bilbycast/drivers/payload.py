"""Defensive readers for node payloads.

Drivers must never raise on malformed input (product.md §6: "unknown parts become null"), so
every read of a node-supplied value goes through these helpers instead of indexing directly.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_dicts(value: Any) -> list[dict]:
    """The dict items of a list, skipping anything else a broken node put there."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def as_number(value: Any) -> float | int | None:
    """A finite int or float; bools and strings are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def as_int(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None else None


def as_numeric_string(value: Any) -> int | None:
    """Appear X encodes 64-bit values as strings ("8021504"); accept those and plain ints."""
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        return None
    return as_int(value)


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def dig(value: Any, *keys: str) -> Any:
    """Follow dict keys; None as soon as a level is missing or not a dict."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def utc(now: datetime) -> datetime:
    """Treat a naive datetime as UTC so comparisons never raise."""
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def rfc3339_ms(moment: datetime) -> str:
    """api.md §1.2: RFC 3339, UTC, millisecond precision, `Z` suffix."""
    moment = utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_rfc3339(text: Any) -> datetime | None:
    """Parse node and manager timestamps (up to 9 fractional digits, `Z` or offsets)."""
    if not isinstance(text, str) or not text:
        return None
    candidate = text.strip()
    # Python's parser takes at most 6 fractional digits; nodes send up to 9 (§3.2).
    if "." in candidate:
        head, _, rest = candidate.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        candidate = f"{head}.{digits[:6].ljust(6, '0')}{rest}" if digits else head + rest
    try:
        return utc(datetime.fromisoformat(candidate.replace("Z", "+00:00")))
    except ValueError:
        return None
