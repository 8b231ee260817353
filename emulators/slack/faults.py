"""Injected failures: the next N calls of a method answer with an error instead of working, or
(``performed``) work and then answer with an error, as Slack sometimes does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Fault:
    """One planned failure.

    ``status`` is the HTTP status (500, 503, 429, or 200 with ``error`` for a Slack-level
    error such as ``"channel_not_found"``). ``timeout`` holds the connection for
    ``hold_seconds`` and then closes it without an answer. ``performed`` carries the call out
    first (the message is stored, the view opened) and only then fails or hangs: a client that
    trusts the answer and simply tries again does it twice.
    """

    status: int = 500
    error: str | None = None
    retry_after: int | None = None
    timeout: bool = False
    hold_seconds: float = 5.0
    performed: bool = False

    @property
    def error_code(self) -> str:
        if self.error:
            return self.error
        if self.status == 429:
            return "ratelimited"
        return "internal_error" if self.status >= 500 else "fatal_error"


class FaultPlan:
    """Queued faults per method; not thread-safe on its own (the workspace lock guards it)."""

    def __init__(self) -> None:
        self._queue: dict[str, list[Fault]] = {}

    def add(self, method: str, fault: Fault, times: int) -> None:
        self._queue.setdefault(method, []).extend([fault] * times)

    def take(self, method: str) -> Fault | None:
        queue = self._queue.get(method)
        if not queue:
            return None
        return queue.pop(0)

    def clear(self) -> None:
        self._queue.clear()
