"""The one worker loop behind every delivery queue (Slack messages, webhooks, CRM writes).

``threads`` background threads each run ``work(pause)`` again and again: at once while it
reports that it did something, else after a wake-up (a commit that queued rows calls
:meth:`DeliveryWorker.wake`) or after ``interval`` seconds, for retries that came due. ``work``
may itself wait with ``pause(seconds)`` (a channel Slack asked us to slow down in): new rows or
:meth:`stop` cut the wait short, and ``pause`` returns True once the worker is stopping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Pause = Callable[[float], bool]
Work = Callable[[Pause], bool]


class DeliveryWorker:
    def __init__(
        self,
        name: str,
        work: Work,
        *,
        threads: int = 1,
        interval: float = 5.0,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self.on_stop = on_stop
        self._wake = threading.Condition()
        self._woken = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{n}", daemon=True)
            for n in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        with self._wake:
            self._woken += 1
            self._wake.notify_all()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self.on_stop:
            self.on_stop()

    def pause(self, seconds: float) -> bool:
        """Wait up to ``seconds``, less when woken; True when the worker is stopping."""
        with self._wake:
            if not self._stop.is_set():
                self._wake.wait(seconds)
        return self._stop.is_set()

    def _run(self) -> None:
        seen = -1
        while not self._stop.is_set():
            try:
                busy = self.work(self.pause)
            except Exception:  # a database hiccup must not end the thread; the row stays queued
                log.exception("%s: delivery failed; will try again", self.name)
                busy = False
            if busy:
                continue
            with self._wake:
                if self._woken == seen and not self._stop.is_set():
                    self._wake.wait(self.interval)
                seen = self._woken
