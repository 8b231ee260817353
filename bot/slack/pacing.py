"""When the notifier may call Slack again, per rate-limit key, as Slack itself said.

Slack limits ``chat.postMessage`` per channel (about one message a second, short bursts
allowed) and every other method per workspace by its tier; a refused call is answered 429 with
``Retry-After``. A key that was refused waits that long, and no other key waits with it. For a
little while after a refusal, posts to that channel are also spaced one second apart, measured
from the end of the previous post, so a backlog drains at the rate Slack allows instead of
being refused every other call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

POST_MESSAGE = "chat.postMessage"
#: Slack's documented pace for chat.postMessage in one channel.
POST_INTERVAL = 1.0
#: How long after a refusal a channel's posts stay spaced at that pace.
COOLDOWN = 60.0


def rate_key(method: str, channel: str | None = None) -> str:
    """What Slack counts a call against: the method, and for a post also its channel."""
    return f"{method} {channel}" if method == POST_MESSAGE and channel else method


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._ready: dict[str, float] = {}
        self._refused: dict[str, float] = {}

    def ready_at(self, key: str) -> float:
        """The monotonic moment ``key`` may be called (in the past when it may be now)."""
        return self._ready.get(key, 0.0)

    def refused(self, key: str, retry_after: float | None) -> None:
        now = self.clock()
        self._refused[key] = now
        self._ready[key] = max(self.ready_at(key), now + (retry_after or 1.0))

    def called(self, key: str) -> None:
        """A call on ``key`` just succeeded."""
        now = self.clock()
        refused = self._refused.get(key)
        if refused is None:
            return
        if now - refused > COOLDOWN:
            del self._refused[key]
            self._ready.pop(key, None)
        elif key.startswith(POST_MESSAGE + " "):
            self._ready[key] = max(self.ready_at(key), now + POST_INTERVAL)
