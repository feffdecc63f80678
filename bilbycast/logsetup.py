"""Logging: one line per event, text or JSON, files 0600 rotating at 10 MiB x 5.

A redaction filter is the last line of defence: the code never logs secrets on purpose, and
anything that looks like a bearer token, JWT, cookie or key=value secret is masked anyway.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path

_REDACT = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "[redacted-jwt]"),
    (re.compile(r'(?i)("?(?:password|passphrase|secret|token|api_key|node_secret|registration_token|stream_key|cookie)"?\s*[:=]\s*"?)([^",\s}]+)'),
     r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _REDACT:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False))


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding)


def configure(level: str, fmt: str, log_dir: Path | None) -> Path | None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else RedactingFormatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    log_file = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_file = log_dir / "manager.log"
        handler = _PrivateRotatingFileHandler(log_file, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8")
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Tornado's access log duplicates ours (and would print full URLs); keep its errors only.
    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    # peewee logs every query with its parameters at debug (hashes, tokens): never below info.
    logging.getLogger("peewee").setLevel(max(logging.INFO, root.level))
    return log_file
