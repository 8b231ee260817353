"""The notifier's pacer: a 429 holds back only the key it was for, for as long as Slack said."""

from __future__ import annotations

import pytest

from bot.slack.pacing import COOLDOWN, POST_INTERVAL, Pacer, rate_key

EMEA = rate_key("chat.postMessage", "C0EMEA")
NA = rate_key("chat.postMessage", "C0NA")
UPDATE = rate_key("chat.update", "C0EMEA")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_posts_count_per_channel_other_methods_per_method() -> None:
    assert EMEA != NA
    assert UPDATE == rate_key("chat.update", "C0NA") == "chat.update"


def test_a_refusal_holds_back_its_key_for_retry_after_and_nothing_else(clock: Clock) -> None:
    pacer = Pacer(clock)
    assert pacer.ready_at(EMEA) <= clock.now

    pacer.refused(EMEA, 7)

    assert pacer.ready_at(EMEA) == clock.now + 7
    assert pacer.ready_at(NA) <= clock.now
    assert pacer.ready_at(UPDATE) <= clock.now


@pytest.mark.parametrize(
    ("key", "spaced"),
    [(EMEA, True), (UPDATE, False)],
    ids=["a post is spaced a second from the last", "another method only waits Retry-After"],
)
def test_after_a_refusal(clock: Clock, key: str, spaced: bool) -> None:
    pacer = Pacer(clock)
    pacer.refused(key, 1)
    clock.now += 1.5
    pacer.called(key)
    assert (pacer.ready_at(key) > clock.now) is spaced
    if spaced:
        assert pacer.ready_at(key) == clock.now + POST_INTERVAL


def test_a_channel_not_refused_for_a_while_is_no_longer_spaced(clock: Clock) -> None:
    pacer = Pacer(clock)
    pacer.refused(EMEA, 1)
    clock.now += COOLDOWN + 1
    pacer.called(EMEA)
    assert pacer.ready_at(EMEA) <= clock.now
    pacer.called(EMEA)
    assert pacer.ready_at(EMEA) <= clock.now


def test_a_key_never_refused_is_never_held_back(clock: Clock) -> None:
    pacer = Pacer(clock)
    for _ in range(100):
        pacer.called(EMEA)
    assert pacer.ready_at(EMEA) <= clock.now
