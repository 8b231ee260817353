"""The pure part of outgoing webhooks: URLs, event types, secrets, the retry schedule."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from core import webhooks
from core.config import Settings
from core.webhooks import BadEndpoint, check_events, check_url, next_attempt, schedule

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def resolver(addresses):
    def resolve(host, port):
        if addresses is None:
            raise OSError("Name or service not known")
        return addresses

    return resolve


@pytest.mark.parametrize(
    ("url", "addresses", "error"),
    [
        ("ftp://crm.example.com/hook", ["93.184.216.34"], "is not an http(s) URL"),
        ("crm.example.com/hook", ["93.184.216.34"], "is not an http(s) URL"),
        ("https://user:pw@crm.example.com/hook", ["93.184.216.34"], "credentials"),
        ("https://token@crm.example.com/hook", ["93.184.216.34"], "credentials"),
        ("https://nowhere.invalid/hook", None, "does not resolve"),
        ("https://crm.example.com:99999/hook", ["93.184.216.34"], "bad port"),
        ("https://[::1/hook", ["::1"], "is not a URL"),
        ("https:///hook", ["93.184.216.34"], "has no host"),
        ("https://crm.example.com/a b", ["93.184.216.34"], "spaces or control characters"),
        ("https://crm.example.com/#x", ["93.184.216.34"], "#fragment"),
        ("", [], "1 to 2000 characters"),
        ("https://crm.example.com/" + "x" * 2000, ["93.184.216.34"], "1 to 2000 characters"),
    ],
)
def test_refused_urls(url, addresses, error):
    with pytest.raises(BadEndpoint, match=re.escape(error)):
        check_url(url, resolver(addresses))


@pytest.mark.parametrize(
    ("url", "addresses", "warned"),
    [
        ("https://crm.example.com/hook", ["93.184.216.34"], False),
        ("http://crm.example.com/hook", ["93.184.216.34"], True),
        ("http://127.0.0.1:8080/hook", ["127.0.0.1"], False),
        ("http://localhost/hook", ["::1", "127.0.0.1"], False),
        ("http://crm.internal/hook", ["10.1.2.3"], False),
        ("http://mixed.example.com/hook", ["10.1.2.3", "93.184.216.34"], True),
    ],
)
def test_plain_http_off_the_machine_or_private_network_is_a_warning(url, addresses, warned):
    warnings = check_url(url, resolver(addresses), allow_private=True)
    assert bool(warnings) is warned
    if warned:
        assert "plain http" in warnings[0]


METADATA_SPELLINGS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0xA9FEA9FE/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
]


@pytest.mark.parametrize("url", METADATA_SPELLINGS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_cloud_metadata_is_refused_in_every_spelling(url, allow_private):
    # The resolver is never asked for an address literal, whatever it would say.
    with pytest.raises(webhooks.BadTarget, match="a cloud metadata address"):
        check_url(url, resolver(["93.184.216.34"]), allow_private=allow_private)


@pytest.mark.parametrize(
    ("addresses", "problem"),
    [
        (["169.254.169.254"], "a cloud metadata address"),
        (["93.184.216.34", "169.254.10.1"], "a link-local address"),
        (["fe80::1%eth0"], "a link-local address"),
        (["224.0.0.251"], "a multicast address"),
        (["ff02::1"], "a multicast address"),
        (["0.0.0.0"], "an unspecified address"),
        (["0.1.2.3"], "an unspecified address"),
        (["::"], "an unspecified address"),
        (["255.255.255.255"], "the broadcast address"),
        (["240.0.0.1"], "a reserved address"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_a_name_that_resolves_to_a_forbidden_address_is_refused(addresses, problem, allow_private):
    with pytest.raises(webhooks.BadTarget, match=re.escape(problem)):
        check_url("https://crm.example.com/hook", resolver(addresses), allow_private=allow_private)


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["::1"], ["10.1.2.3"], ["172.16.0.9"], ["192.168.1.1"], ["100.64.0.1"],
     ["fd12:3456::1"], ["93.184.216.34", "192.168.1.1"]],
)  # fmt: skip
def test_private_and_loopback_need_allow_private(addresses):
    with pytest.raises(webhooks.BadTarget, match="--allow-private"):
        check_url("https://crm.example.com/hook", resolver(addresses))
    assert check_url("https://crm.example.com/hook", resolver(addresses), allow_private=True) == []


def test_the_delivery_check_resolves_again_and_returns_the_addresses_to_use():
    url = "https://crm.example.com/hook"
    assert webhooks.check_target(url, resolver(["93.184.216.34"]), allow_private=False) == [
        "93.184.216.34"
    ]
    # The name now points at the metadata service (DNS rebinding): the delivery is refused.
    with pytest.raises(webhooks.BadTarget, match="metadata"):
        webhooks.check_target(url, resolver(["169.254.169.254"]), allow_private=True)
    with pytest.raises(webhooks.BadTarget, match="--allow-private"):
        webhooks.check_target(url, resolver(["10.0.0.5"]), allow_private=False)
    assert webhooks.check_target(url, resolver(["10.0.0.5"]), allow_private=True) == ["10.0.0.5"]


@pytest.mark.parametrize(
    ("host", "address"),
    [("2852039166", "169.254.169.254"), ("0xA9FEA9FE", "169.254.169.254"),
     ("0251.0376.0251.0376", "169.254.169.254"), ("0x7f.1", "127.0.0.1"),
     ("127.1", "127.0.0.1"), ("[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe"),
     ("crm.example.com", None), ("08.1.1.1", None), ("1.2.3.4.5", None),
     ("256.1.1.1", None), ("4294967296", None)],
)  # fmt: skip
def test_literal_addresses_read_as_inet_aton_reads_them(host, address):
    assert webhooks.literal_address(host) == address


def test_event_types():
    assert check_events(None) == list(webhooks.LEAD_EVENTS)
    for nothing in ([], ["", " "]):  # `--events ,` names no event: refused, not "all"
        with pytest.raises(BadEndpoint, match="name at least one event type"):
            check_events(nothing)
    assert check_events(["lead.rejected", "lead.qualified", "lead.rejected"]) == [
        "lead.qualified",
        "lead.rejected",
    ]
    with pytest.raises(BadEndpoint, match=re.escape("unknown event type 'lead.won'")):
        check_events(["lead.qualified", "lead.won"])
    with pytest.raises(BadEndpoint, match=re.escape("unknown event type 'webhook.test'")):
        check_events(["webhook.test"])  # sent by `webhook test` only


def test_secret_and_message_ids_work_with_standardwebhooks():
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and secret != webhooks.new_secret()
    message_id = webhooks.new_message_id()
    assert message_id.startswith("msg_") and len(message_id) <= 40
    hook = Webhook(secret)
    now = datetime.now(UTC)
    body = '{"type": "webhook.test"}'
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": hook.sign(message_id, now, body),
    }
    assert hook.verify(body, headers) == {"type": "webhook.test"}


def test_schedule_follows_standard_webhooks_then_every_10_hours_for_3_days():
    times = schedule(T0)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:6] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
    ]
    assert all(gap == timedelta(hours=10) for gap in gaps[6:-1])
    assert gaps[-1] <= timedelta(hours=10)
    assert times[-1] == T0 + timedelta(days=3)
    assert len(times) == 13
    assert next_attempt(len(times), T0, times[-1]) is None


def test_a_late_failure_is_retried_no_later_than_the_3_day_mark():
    assert next_attempt(6, T0, T0 + timedelta(days=2, hours=23)) == T0 + timedelta(days=3)
    assert next_attempt(1, T0, T0 + timedelta(hours=1)) == T0 + timedelta(hours=1, seconds=5)
    assert next_attempt(9, T0, T0 + timedelta(days=4)) is None


def test_the_attempt_timeout_is_10_seconds_unless_set():
    assert Settings().webhook_timeout == 10
    assert Settings(LEADBOT_WEBHOOK_TIMEOUT="2.5").webhook_timeout == 2.5
