"""What a running leadbot holds: settings, the workspace config, the database, the clock, and
the hooks that wake background workers after a commit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.config import Settings, WorkspaceConfig
from core.db import Database


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    config: WorkspaceConfig
    db: Database
    clock: Callable[[], datetime] = utcnow
    #: Called after a commit that added outbox rows (the notifier wakes up and drains them).
    outbox_listeners: list[Callable[[], None]] = field(default_factory=list)
    #: Reps whose Slack status says they are away, and why (``[routing] use_slack_status``);
    #: set by the Slack side, read before a transaction that may offer a lead.
    away_by_status: Callable[[], Mapping[str, str]] = lambda: {}
    #: Called with (queue, result) after each delivery attempt of any queue: ``slack`` or
    #: ``webhooks``, and ``delivered``, ``failed`` or ``given_up`` (the metrics count them).
    delivery_listeners: list[Callable[[str, str], None]] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock()

    def attempted(self, queue: str, result: str) -> None:
        for listener in self.delivery_listeners:
            listener(queue, result)

    def outbox_changed(self) -> None:
        for listener in self.outbox_listeners:
            listener()
