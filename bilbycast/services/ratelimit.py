"""In-memory limiters: a sliding window (login per IP) and a token bucket (API per user)."""

from __future__ import annotations

import math
import time
from collections import deque


class SlidingWindow:
    """At most `limit` hits per `window` seconds per key; every attempt counts."""

    def __init__(self, max_keys: int = 100_000):
        self._hits: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def hit(self, key: str, limit: int, window: float, now: float | None = None) -> float | None:
        """Count one attempt. Returns None when allowed, else seconds until the next is allowed."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self._max_keys:
                self._evict(now, window)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return max(1.0, math.ceil(hits[0] + window - now))
        hits.append(now)
        return None

    def _evict(self, now: float, window: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - window]:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:  # still full: drop the oldest half
            for key in list(self._hits)[: self._max_keys // 2]:
                del self._hits[key]


class TokenBucket:
    """`rate` tokens per second, up to `burst`, per key."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float | None = None) -> float | None:
        """Take one token. Returns None when allowed, else seconds until a token is available."""
        now = time.monotonic() if now is None else now
        tokens, stamp = self._state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens < 1:
            self._state[key] = (tokens, now)
            return max(1.0, math.ceil((1 - tokens) / self.rate))
        self._state[key] = (tokens - 1, now)
        return None
