"""Who is away by Slack status (``[routing] use_slack_status``): ``users.profile.get`` per rep,
cached for a few minutes, read before the transaction that may offer a lead. A Slack error or
timeout means "not known to be away": routing never fails because Slack did."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.runtime import Runtime
from core.routing import status_means_away

log = logging.getLogger(__name__)

#: How long a read status is trusted; its expiry time is honoured on every use regardless.
CACHE_SECONDS = 180.0
#: A slow Slack must not hold up intake for long.
TIMEOUT_SECONDS = 3

Status = tuple[str, str, int]  # text, emoji, expiration (Unix seconds, 0: never)


class SlackPresence:
    def __init__(
        self, runtime: Runtime, client: WebClient, *, cache_seconds: float = CACHE_SECONDS
    ) -> None:
        self.runtime = runtime
        self.client = client
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Status | None]] = {}
        self._lock = threading.Lock()

    def __call__(self) -> Mapping[str, str]:
        """The reps whose Slack status means away now, and why."""
        config = self.runtime.config
        if not config.routing.use_slack_status:
            return {}
        reps = dict.fromkeys(rep for team in config.teams for rep in team.reps)
        now = self.runtime.now()
        away: dict[str, str] = {}
        for rep in reps:
            status = self.status(rep)
            why = status and status_means_away(*status, config.routing.away_statuses, now)
            if why:
                away[rep] = why
        return away

    def status(self, user: str) -> Status | None:
        with self._lock:
            cached = self._cache.get(user)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        found: Status | None = None
        try:
            profile = self.client.users_profile_get(user=user)["profile"]
            found = (
                str(profile.get("status_text") or ""),
                str(profile.get("status_emoji") or ""),
                int(profile.get("status_expiration") or 0),
            )
        except (SlackClientError, OSError, KeyError, TypeError, ValueError) as exc:
            log.warning("Slack status of %s unknown (%s): taken as not away", user, exc)
        with self._lock:
            self._cache[user] = (time.monotonic(), found)
        return found

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


def presence_client(token: str, base_url: str) -> WebClient:
    """Its own client: a short timeout and no retries, since a failed read is harmless."""
    return WebClient(token=token, base_url=base_url, timeout=TIMEOUT_SECONDS)
