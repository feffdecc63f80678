"""Timestamps: RFC 3339 UTC with millisecond precision and a Z suffix, everywhere."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(utcnow())


def parse_rfc3339(text: str) -> datetime:
    """Parse any RFC 3339 timestamp (any offset); raise ValueError when it is not one."""
    if not isinstance(text, str) or "T" not in text.upper():
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp needs an offset or Z: {text!r}")
    return moment.astimezone(timezone.utc)


def iso_in(delta: timedelta) -> str:
    return iso(utcnow() + delta)
