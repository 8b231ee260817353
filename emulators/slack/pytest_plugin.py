"""Pytest fixtures for tests that talk to Slack: a fresh emulator per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulators.slack.emulator import SlackEmulator


@pytest.fixture
def slack_emulator() -> Iterator[SlackEmulator]:
    """A running ``SlackEmulator`` on a free loopback port, stopped after the test."""
    emulator = SlackEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()
