"""Slack-like rate limits: per-method tiers plus chat.postMessage's per-channel limit.

Token buckets refilled from the emulator's clock. A refused call gets the whole seconds to
wait, which the server sends as ``Retry-After`` with HTTP 429 and ``"error": "ratelimited"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from emulators.slack.workspace import Clock

# Calls per minute for Slack's documented tiers.
TIER_PER_MINUTE: dict[int, float] = {1: 1, 2: 20, 3: 50, 4: 100}

METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "views.open": 4,
    "views.update": 4,
    "views.push": 4,
    "views.publish": 4,
    "conversations.open": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
}


@dataclass
class RateLimitConfig:
    """Off by default; tests and the sandbox turn it on.

    ``burst`` is how many calls a tier allows back to back before the per-minute rate applies.
    chat.postMessage is limited per channel to ``post_message_per_second`` with a burst of
    ``post_message_burst``, as Slack documents ("about one message per second, short bursts").
    """

    enabled: bool = False
    tier_per_minute: dict[int, float] = field(default_factory=lambda: dict(TIER_PER_MINUTE))
    burst: int = 10
    post_message_per_second: float = 1.0
    post_message_burst: int = 3


@dataclass
class _Bucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


class RateLimiter:
    def __init__(self, config: RateLimitConfig, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def check(self, method: str, channel: str | None = None) -> int | None:
        """``None`` if the call may proceed, else the ``Retry-After`` seconds (at least 1)."""
        if not self.config.enabled:
            return None
        now = self._clock()
        if method == "chat.postMessage":
            key = (method, channel or "")
            capacity = float(self.config.post_message_burst)
            rate = self.config.post_message_per_second
        else:
            tier = METHOD_TIERS.get(method, 3)
            key = (method, "")
            capacity = float(self.config.burst)
            rate = self.config.tier_per_minute[tier] / 60
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, rate, capacity, now)
        wait = bucket.take(now)
        if wait <= 0:
            return None
        return max(1, math.ceil(wait))

    def reset(self) -> None:
        self._buckets.clear()
