"""Webhook deliveries -> receivers, signed per the Standard Webhooks specification.

Kept apart from the Slack notifier on purpose: its own threads, its own queue
(``webhook_deliveries``), so a receiver that hangs for the full timeout never delays a Slack
message or another receiver. Inside one process:
- at most one attempt per endpoint is in flight, so a dead endpoint holds one thread at most;
- after a failed attempt an endpoint *rests* (its other due rows wait for the next round), so a
  receiver that is down costs one timeout per round, not one per queued event.
The bookkeeping (claim, lease, schedule, disabling) is core.services.webhook_delivery's.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks import Webhook

from bot.runtime import Runtime
from bot.workers.worker import DeliveryWorker
from core import webhooks
from core.services import webhook_delivery
from core.services.webhook_delivery import Attempt
from core.webhooks import Resolver

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
THREADS = 4
MAX_ANSWER = 500  # characters of a failed answer kept as its error
USER_AGENT = "leadbot-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(attempt: Attempt, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers. The timestamp is the real time of sending (receivers
    compare it with their clock), whatever clock the delivery's schedule follows."""
    signature = Webhook(attempt.secret).sign(attempt.message_id, at, attempt.body)
    return {
        "webhook-id": attempt.message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def resolve(host: str, port: int) -> Sequence[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``url`` sent to ``address`` (an address :func:`core.webhooks.check_target` allowed) with
    the name kept for the Host header and TLS, so a name that resolves elsewhere by the time we
    connect (DNS rebinding) cannot redirect the delivery."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == address or host.strip("[]") == address:
        return url, {}, {}
    shown = f"[{address}]" if ":" in address else address
    netloc = shown + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"host": parts.netloc}, extensions


def send(attempt: Attempt, timeout: float, resolver: Resolver = resolve) -> Outcome:
    """One POST; never raises for what the network or the receiver does. The target is checked
    again first (what a name resolves to can change after ``webhook add``), and ``timeout``
    bounds the whole attempt, however slowly the receiver trickles its answer."""
    try:
        addresses = webhooks.check_target(
            attempt.url, resolver, allow_private=attempt.allow_private
        )
    except webhooks.BadEndpoint as exc:
        return Outcome(None, f"refused target: {exc}"[:MAX_ANSWER])
    url, host, extensions = pinned(attempt.url, addresses[0])
    headers = {**signed_headers(attempt, datetime.now(UTC)), **host}
    client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False)
    # The whole attempt's deadline: closing the client ends any read still waiting.
    deadline = threading.Timer(timeout, client.close)
    deadline.daemon = True
    deadline.start()
    try:
        with client.stream(
            "POST", url, content=attempt.body.encode(), headers=headers, extensions=extensions
        ) as response:
            if 200 <= response.status_code < 300:
                return Outcome(response.status_code, None)
            answer = b""
            for chunk in response.iter_bytes():
                answer += chunk
                if len(answer) >= MAX_ANSWER:
                    break
    except httpx.TimeoutException as exc:
        return Outcome(None, f"timed out ({type(exc).__name__})")
    except (httpx.HTTPError, RuntimeError, OSError) as exc:
        if not deadline.is_alive():
            return Outcome(None, f"timed out (no answer within {timeout:g} s)")
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:MAX_ANSWER])
    finally:
        deadline.cancel()
        client.close()
    text = answer.decode("utf-8", "replace")[:MAX_ANSWER].strip()
    return Outcome(response.status_code, f"HTTP {response.status_code}: {text}".strip(": "))


@dataclass
class WebhookReport:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Claims, sends and records deliveries; shared by the threads of one process."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        timeout: float | None = None,
        rest: float | None = None,
        threads: int = THREADS,
        resolver: Resolver = resolve,
    ) -> None:
        self.runtime = runtime
        self.threads = threads
        self.resolver = resolver
        self.timeout = timeout if timeout is not None else runtime.settings.webhook_timeout
        # Longer than an attempt can take, so a live attempt's row is never taken over.
        self.lease = timedelta(seconds=3 * self.timeout + 5)
        self.rest = rest  # seconds an endpoint rests after a failure; None: until reset()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._failing_in_flight: set[int] = set()
        self._resting: dict[int, float] = {}
        self.report = WebhookReport()

    def close(self) -> None:
        """Nothing to release: each attempt has a connection of its own."""

    def reset(self) -> None:
        """A new round: every endpoint may be tried again."""
        with self._lock:
            self._resting.clear()

    def _excluded(self) -> set[int]:
        clock = time.monotonic()
        for endpoint, until in list(self._resting.items()):
            if until <= clock:
                del self._resting[endpoint]
        return self._in_flight | set(self._resting)

    def step(self) -> bool:
        """Deliver one due row; False when none could be claimed."""
        return self._step(None) is not None

    def deliver(self, delivery_id: int) -> Outcome | None:
        """Deliver this row now, if it is due and nobody else has it; its outcome."""
        return self._step(delivery_id)

    def _step(self, only: int | None) -> Outcome | None:
        with self._lock:  # claims are serialised in-process so the exclusions hold
            with self.runtime.db.transaction() as session:
                attempt = webhook_delivery.claim(
                    session,
                    self.runtime.now(),
                    lease=self.lease,
                    exclude=self._excluded(),
                    only=only,
                    # Endpoints that keep failing share all threads but one, which is kept for
                    # the healthy ones: slow receivers never starve a healthy endpoint.
                    healthy_only=len(self._failing_in_flight) >= self.threads - 1,
                )
            if attempt is None:
                return None
            self._in_flight.add(attempt.endpoint_id)
            if attempt.failing:
                self._failing_in_flight.add(attempt.endpoint_id)
        try:
            outcome = send(attempt, self.timeout, self.resolver)
            self._record(attempt, outcome)
        finally:
            with self._lock:
                self._in_flight.discard(attempt.endpoint_id)
                self._failing_in_flight.discard(attempt.endpoint_id)
        return outcome

    def _record(self, attempt: Attempt, outcome: Outcome) -> None:
        now = self.runtime.now()
        if outcome.ok:
            assert outcome.status is not None
            with self.runtime.db.transaction() as session:
                webhook_delivery.delivered(session, attempt, outcome.status, now)
            with self._lock:
                self.report.delivered += 1
        else:
            error = outcome.error or "failed"
            log.warning(
                "webhook %s (endpoint %s, %s) attempt %s failed: %s",
                attempt.message_id,
                attempt.endpoint_id,
                attempt.event_type,
                attempt.attempts,
                error,
            )
            with self.runtime.db.transaction() as session:
                recorded = webhook_delivery.failed(
                    session, attempt, status=outcome.status, error=error, now=now
                )
            with self._lock:
                self.report.failed += 1
                self.report.errors.append(
                    f"webhook {attempt.endpoint_id} {attempt.event_type} "
                    f"({attempt.message_id}): {error}"
                )
                rest = float("inf") if self.rest is None else self.rest
                self._resting[attempt.endpoint_id] = time.monotonic() + rest
            if recorded.disabled:
                log.error("webhook endpoint %s disabled: %s", attempt.endpoint_id, error)
                self.runtime.outbox_changed()  # marketing is told through the Slack outbox
        self.runtime.attempted("webhooks", "delivered" if outcome.ok else "failed")

    def drain(self, threads: int | None = None) -> WebhookReport:
        """One round: deliver everything due (each failing endpoint tried once), in parallel
        across endpoints; returns what happened in this round."""
        self.reset()
        self.report = WebhookReport()

        def loop() -> None:
            while self.step():
                pass

        workers = [
            threading.Thread(target=loop, name=f"leadbot-webhooks-drain-{n}", daemon=True)
            for n in range(threads or self.threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return self.report


def webhook_worker(
    dispatcher: Dispatcher, *, threads: int = THREADS, interval: float = 2.0
) -> DeliveryWorker:
    """``threads`` background threads that deliver webhooks one row at a time: woken after a
    commit that queued something, and every ``interval`` seconds for retries that came due (a
    failed endpoint rests that long)."""
    dispatcher.rest = interval
    dispatcher.threads = threads
    return DeliveryWorker(
        "leadbot-webhooks",
        lambda _pause: dispatcher.step(),
        threads=threads,
        interval=interval,
        on_stop=dispatcher.close,
    )
