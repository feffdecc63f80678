"""The AI numbers of product.md §13, in one place, and the environment overrides.

Environment variables (read once at startup; an unparseable value stops startup):

* ``BILBYCAST_OPENAI_BASE_URL``, ``BILBYCAST_ANTHROPIC_BASE_URL``, ``BILBYCAST_GEMINI_BASE_URL``:
  the origin (``scheme://host[:port]``, optionally with a path prefix) the cloud provider's API is
  reached at. The manager appends the API paths (``/v1/chat/completions``, ``/v1/messages``,
  ``/v1beta/models/...``). Unset means the provider's fixed official host. Meant for tests (fake
  providers) and for an egress proxy that forwards to the official hosts; never set per user.
* ``BILBYCAST_AI_TIMEOUT_SECS``: replaces both provider timeouts (120 s Ollama / 60 s cloud), 1–600.
  A diagnostic and test knob; leave unset in production.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ...config import ConfigError

MESSAGE_MAX_CHARS = 10_000
REPLY_MAX_CHARS = 20_000
MAX_PROPOSALS = 10
PROPOSAL_EXPIRY_SECS = 30 * 60
REPAIR_ROUNDS = 1
OLLAMA_TIMEOUT_SECS = 120.0
CLOUD_TIMEOUT_SECS = 60.0
OLLAMA_CHECK_TIMEOUT_SECS = 2.0
CLOUD_CHECK_TIMEOUT_SECS = 5.0
OLLAMA_CHECK_CACHE_SECS = 30.0
CLOUD_CHECK_CACHE_SECS = 300.0
OLLAMA_PROMPT_BUDGET_TOKENS = 12_000
OLLAMA_NUM_CTX = 16_384
CLOUD_PROMPT_BUDGET_TOKENS = 48_000
MAX_OUTPUT_TOKENS = 4096
THREAD_MAX_MESSAGES = 200
CHAT_PER_MINUTE = 10
FOCUS_ALARMS = 20
TITLE_MAX_CHARS = 80
KEY_MAX_CHARS = 4096
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
RETRY_ATTEMPTS = 3                     # one try plus two retries, all inside the timeout
RETRY_AFTER_CAP_SECS = 10.0

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
BASE_URL_ENV = {
    "openai": "BILBYCAST_OPENAI_BASE_URL",
    "anthropic": "BILBYCAST_ANTHROPIC_BASE_URL",
    "gemini": "BILBYCAST_GEMINI_BASE_URL",
}
TIMEOUT_ENV = "BILBYCAST_AI_TIMEOUT_SECS"


def base_urls(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    out = {}
    for provider, default in DEFAULT_BASE_URLS.items():
        name = BASE_URL_ENV[provider]
        raw = env.get(name)
        if raw is None or raw == "":
            out[provider] = default
            continue
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
                or len(raw) > 2048:
            raise ConfigError(f"{name}={raw!r} is not an http(s) base URL (scheme://host[:port][/prefix])")
        out[provider] = raw.rstrip("/")
    return out


def timeout_override(environ: dict[str, str] | None = None) -> float | None:
    env = os.environ if environ is None else environ
    raw = env.get(TIMEOUT_ENV)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if not 1 <= value <= 600:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r} must be between 1 and 600 seconds")
    return value
