"""Outgoing webhooks, the pure part: event types, secrets and message ids, which URLs an
endpoint may have, and the retry schedule. No database, no clock, no network (name resolution
is passed in)."""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

LEAD_QUALIFIED = "lead.qualified"
LEAD_STAGE_CHANGED = "lead.stage_changed"
LEAD_OWNER_CHANGED = "lead.owner_changed"
LEAD_REJECTED = "lead.rejected"
LEAD_OPPORTUNITY_RECORDED = "lead.opportunity_recorded"
LEAD_ERASED = "lead.erased"
WEBHOOK_TEST = "webhook.test"

#: What an endpoint can subscribe to (all of them when ``--events`` is not given).
LEAD_EVENTS: tuple[str, ...] = (
    LEAD_QUALIFIED,
    LEAD_STAGE_CHANGED,
    LEAD_OWNER_CHANGED,
    LEAD_REJECTED,
    LEAD_OPPORTUNITY_RECORDED,
    LEAD_ERASED,
)
EVENT_TYPES: tuple[str, ...] = (*LEAD_EVENTS, WEBHOOK_TEST)

SECRET_PREFIX = "whsec_"
MAX_URL = 2000

#: Delays after each failed attempt, as in the Standard Webhooks schedule (5 s, 5 min, 30 min,
#: 2 h, 5 h, 10 h); after the last one, every 10 h again until the delivery is 3 days old.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
RETRY_FOR = timedelta(days=3)
#: An endpoint whose deliveries have failed without a single success for this long is disabled.
DISABLE_AFTER = RETRY_FOR


class BadEndpoint(ValueError):
    """The URL or the event types cannot be used; the message says why, in one line."""


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """The ``webhook-id`` of one event: the same on every endpoint and every retry."""
    return "msg_" + secrets.token_hex(16)


def check_events(types: Iterable[str] | None) -> list[str]:
    """The subscribed event types, in the canonical order; all lead events when ``types`` is
    None. A list that names none (``--events ,``) is a mistake, not a wish for everything."""
    if types is None:
        return list(LEAD_EVENTS)
    chosen = [t.strip() for t in types if t.strip()]
    if not chosen:
        raise BadEndpoint(f"name at least one event type: {', '.join(LEAD_EVENTS)}")
    unknown = [t for t in chosen if t not in LEAD_EVENTS]
    if unknown:
        raise BadEndpoint(
            f"unknown event type {unknown[0]!r}; choose from {', '.join(LEAD_EVENTS)}"
        )
    return [t for t in LEAD_EVENTS if t in chosen]


Resolver = Callable[[str, int], Sequence[str]]


def check_url(url: str, resolve: Resolver) -> list[str]:
    """Refuse a URL an endpoint must not have (raise :class:`BadEndpoint`); return warnings.

    ``resolve(host, port)`` returns the host's addresses, or raises ``OSError`` when it does
    not resolve. Credentials in the URL are refused because they would be stored and shown in
    ``webhook list``; receivers authenticate leadbot by the signature instead.
    """
    text = url.strip()
    if not text or len(text) > MAX_URL:
        raise BadEndpoint(f"a webhook URL has 1 to {MAX_URL} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise BadEndpoint(f"{text!r} is not a URL (it contains spaces or control characters)")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # an unclosed "[" of an IPv6 host, for one
        raise BadEndpoint(f"{text!r} is not a URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise BadEndpoint(f"{text!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise BadEndpoint(
            "the URL has credentials in it; leave them out (receivers verify the signature)"
        )
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise BadEndpoint(f"{text!r} has a bad port") from exc
    if not host:
        raise BadEndpoint(f"{text!r} has no host")
    if parts.fragment:
        raise BadEndpoint(f"{text!r} has a #fragment, which is never sent; leave it out")
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = list(resolve(host, port))
    except (OSError, UnicodeError) as exc:
        raise BadEndpoint(f"the host {host!r} does not resolve ({exc})") from exc
    if not addresses:
        raise BadEndpoint(f"the host {host!r} does not resolve")
    warnings = []
    if parts.scheme.lower() == "http" and not all(_local(a) for a in addresses):
        warnings.append(
            f"plain http to {host}, which is not on this machine or a private network: "
            "anyone on the way can read the payloads (use https)"
        )
    return warnings


def _local(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


def next_attempt(attempts: int, created_at: datetime, now: datetime) -> datetime | None:
    """When to try again after the ``attempts``-th attempt failed at ``now``; None once the
    delivery has been tried for :data:`RETRY_FOR` (the last try lands on that mark exactly)."""
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1] if attempts >= 1 else timedelta()
    end = created_at + RETRY_FOR
    if now >= end:
        return None
    return min(now + delay, end)


def schedule(created_at: datetime) -> list[datetime]:
    """Every attempt a delivery gets when each one fails at once (for the docs and tests)."""
    times = [created_at]
    while True:
        following = next_attempt(len(times), created_at, times[-1])
        if following is None:
            return times
        times.append(following)
