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

from core.refusals import LeadbotError

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


#: Why an endpoint was disabled when its receiver said it is gone for good.
GONE = "the receiver answered 410 Gone"


class BadEndpoint(LeadbotError, ValueError):
    """The URL or the event types cannot be used; the message says why, in one line."""


class BadTarget(BadEndpoint):
    """The URL's host is, or resolves to, an address webhooks must not reach."""


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


def check_url(url: str, resolve: Resolver, *, allow_private: bool = False) -> list[str]:
    """Refuse a URL an endpoint must not have (raise :class:`BadEndpoint`); return warnings.

    ``resolve(host, port)`` returns the host's addresses, or raises ``OSError`` when it does
    not resolve. Credentials in the URL are refused because they would be stored and shown in
    ``webhook list``; receivers authenticate leadbot by the signature instead. Every address
    the host has must pass :func:`address_problem` (private and loopback ones only with
    ``allow_private``).
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
    addresses = _checked_addresses(host, port, resolve, allow_private=allow_private)
    warnings = []
    if parts.scheme.lower() == "http" and not all(_local(a) for a in addresses):
        warnings.append(
            f"plain http to {host}, which is not on this machine or a private network: "
            "anyone on the way can read the payloads (use https)"
        )
    return warnings


def check_target(url: str, resolve: Resolver, *, allow_private: bool) -> list[str]:
    """The addresses a delivery to ``url`` may connect to, resolved now, or
    :class:`BadTarget` (a :class:`BadEndpoint`) saying why none may be: call it again before
    every attempt, since what a name resolves to can change after ``webhook add``, and connect
    only to an address it returned."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise BadTarget(f"{url!r} is not a URL ({exc})") from exc
    if not host:
        raise BadTarget(f"{url!r} has no host")
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    return _checked_addresses(host, port, resolve, allow_private=allow_private)


def _checked_addresses(
    host: str, port: int, resolve: Resolver, *, allow_private: bool
) -> list[str]:
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = list(resolve(host, port))
        except (OSError, UnicodeError) as exc:
            raise BadEndpoint(f"the host {host!r} does not resolve ({exc})") from exc
        if not addresses:
            raise BadEndpoint(f"the host {host!r} does not resolve")
    for address in addresses:
        problem = address_problem(address, allow_private=allow_private)
        if problem:
            shown = host if address == host else f"{host} ({address})"
            raise BadTarget(f"{shown} is {problem}; webhooks may not be sent there")
    return addresses


#: Cloud providers' instance metadata services, which hand out credentials to whoever asks.
METADATA = frozenset(
    ipaddress.ip_address(text)
    for text in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
# Carrier-grade NAT space: neither public nor routable from the internet.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


def literal_address(host: str) -> str | None:
    """The address ``host`` spells, in its canonical form, or None for a name. Besides the
    usual forms this reads what C's ``inet_aton`` reads (and so what a connection would go
    to): ``2852039166``, ``0xA9FEA9FE``, ``0251.0376.0251.0376``, ``169.254.43518``."""
    text = host.strip().strip("[]").split("%", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        lowered = part.lower()
        try:
            if lowered.startswith("0x"):
                numbers.append(int(lowered[2:] or "0", 16))
            elif len(lowered) > 1 and lowered.startswith("0"):
                numbers.append(int(lowered, 8))
            else:
                numbers.append(int(lowered, 10) if lowered.isdigit() else -1)
        except ValueError:
            return None
        if numbers[-1] < 0:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return str(ipaddress.IPv4Address(value))


def address_problem(address: str, *, allow_private: bool) -> str | None:
    """Why a webhook must not be sent to ``address`` (an IP address as resolved), or None.

    Never: cloud metadata services, link-local, multicast, unspecified ("this network") and
    reserved addresses, in any spelling, IPv4-mapped IPv6 included. Private, shared (CGNAT)
    and loopback ranges only when ``allow_private`` (the operator said so at ``webhook add``).
    """
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            address.split("%", 1)[0]
        )
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo:
            embedded = ip.teredo[1]
        if embedded is None and ip.packed[:12] == bytes(12) and int(ip) > 1:
            embedded = ipaddress.IPv4Address(ip.packed[12:])  # IPv4-compatible ::a.b.c.d
        if embedded is not None:
            problem = address_problem(str(embedded), allow_private=allow_private)
            return f"{problem} (as {embedded})" if problem else None
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "an unspecified address"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if ip.is_reserved and not ip.is_loopback:
        return "a reserved address"
    private = (
        ip.is_loopback or ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
    )
    if private and not allow_private:
        kind = "a loopback" if ip.is_loopback else "a private"
        return f"{kind} address (add the endpoint with --allow-private if that is meant)"
    return None


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
