"""Rate limits and injected faults, seen through slack_sdk and its retry handlers."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from emulators.slack import SlackEmulator


@pytest.fixture
def emu(slack_emulator: SlackEmulator) -> SlackEmulator:
    slack_emulator.add_user("U0REP1", name="rep1")
    slack_emulator.add_channel("C0EMEA", name="emea", members=["U0REP1"])
    slack_emulator.add_channel("C0NA", name="na")
    return slack_emulator


def plain_client(emu: SlackEmulator, **kwargs: Any) -> WebClient:
    return WebClient(base_url=emu.api_url, token=emu.bot_token, retry_handlers=[], **kwargs)


def test_rate_limits_are_off_by_default(emu: SlackEmulator) -> None:
    client = plain_client(emu)

    for i in range(20):
        client.chat_postMessage(channel="C0EMEA", text=f"m{i}")

    assert len(emu.messages("C0EMEA")) == 20


def test_post_message_is_limited_per_channel_with_a_short_burst(emu: SlackEmulator) -> None:
    emu.rate_limits.enabled = True
    emu.rate_limits.post_message_burst = 2
    client = plain_client(emu)
    client.chat_postMessage(channel="C0EMEA", text="1")
    client.chat_postMessage(channel="C0EMEA", text="2")

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C0EMEA", text="3")

    assert info.value.response.status_code == 429
    assert info.value.response["error"] == "ratelimited"
    assert info.value.response.headers["Retry-After"] == "1"
    client.chat_postMessage(channel="C0NA", text="other channel, own budget")
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["1", "2"]


def test_other_methods_are_limited_by_tier(emu: SlackEmulator) -> None:
    emu.rate_limits.enabled = True
    emu.rate_limits.burst = 3
    client = plain_client(emu)
    for _ in range(3):
        client.users_info(user="U0REP1")

    with pytest.raises(SlackApiError) as info:
        client.users_info(user="U0REP1")

    # Tier 4 refills 100 a minute: the next call is possible within a second.
    assert info.value.response.status_code == 429
    assert int(info.value.response.headers["Retry-After"]) == 1


def test_rate_limit_retry_handler_honours_retry_after(emu: SlackEmulator) -> None:
    emu.rate_limits.enabled = True
    emu.rate_limits.post_message_burst = 1
    client = WebClient(
        base_url=emu.api_url,
        token=emu.bot_token,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    client.chat_postMessage(channel="C0EMEA", text="first")

    answer = client.chat_postMessage(channel="C0EMEA", text="second")

    assert answer["ok"] is True
    statuses = [c.status for c in emu.calls("chat.postMessage")]
    assert statuses[0] == 200 and statuses[-1] == 200
    assert 429 in statuses
    limited = next(c for c in emu.calls("chat.postMessage") if c.status == 429)
    assert limited.headers["Retry-After"] == "1"
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["first", "second"]


def test_injected_server_error_then_success_with_retry(emu: SlackEmulator) -> None:
    emu.fail_next("chat.postMessage", times=2, status=500)
    client = WebClient(
        base_url=emu.api_url,
        token=emu.bot_token,
        retry_handlers=[
            ServerErrorRetryHandler(
                max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            )
        ],
    )

    answer = client.chat_postMessage(channel="C0EMEA", text="eventually")

    assert answer["ok"] is True
    assert [c.status for c in emu.calls("chat.postMessage")] == [500, 500, 200]
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["eventually"]


def test_injected_rate_limit_and_slack_error(emu: SlackEmulator) -> None:
    client = plain_client(emu)
    emu.fail_next("users.info", status=429, retry_after=7)
    emu.fail_next("chat.postMessage", status=200, error="channel_not_found")

    with pytest.raises(SlackApiError) as limited:
        client.users_info(user="U0REP1")
    with pytest.raises(SlackApiError) as failed:
        client.chat_postMessage(channel="C0EMEA", text="x")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert failed.value.response["error"] == "channel_not_found"
    assert client.users_info(user="U0REP1")["user"]["id"] == "U0REP1"


def test_injected_timeout_holds_past_the_client_timeout(emu: SlackEmulator) -> None:
    emu.fail_next("chat.postMessage", timeout=True, hold_seconds=2)
    client = plain_client(emu, timeout=0.3)  # type: ignore[arg-type]

    with pytest.raises(OSError):
        client.chat_postMessage(channel="C0EMEA", text="lost")

    assert client.chat_postMessage(channel="C0EMEA", text="next")["ok"] is True
    assert [c.status for c in emu.calls("chat.postMessage")] == [None, 200]
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["next"]
