"""The emulator must start in well under a second (tests start one per test)."""

from __future__ import annotations

import time

from slack_sdk import WebClient

from emulators.slack import SlackEmulator


def test_starts_answers_and_stops_in_well_under_a_second() -> None:
    started = time.perf_counter()
    emulator = SlackEmulator().start()
    try:
        answer = WebClient(base_url=emulator.api_url, token=emulator.bot_token).auth_test()
        elapsed = time.perf_counter() - started
    finally:
        emulator.stop()
    stopped = time.perf_counter() - started

    print(
        f"emulator start + first call: {elapsed * 1000:.1f} ms, with stop: {stopped * 1000:.1f} ms"
    )
    assert answer["ok"] is True
    assert elapsed < 1.0


def test_listens_on_loopback_on_a_free_port_and_two_can_run_at_once() -> None:
    with SlackEmulator() as first, SlackEmulator() as second:
        assert first.api_url.startswith("http://127.0.0.1:")
        assert first.port != second.port
        assert first.api_url.endswith("/api/")
        for emulator in (first, second):
            assert WebClient(base_url=emulator.api_url, token=emulator.bot_token).auth_test()["ok"]
