"""``SlackDriver``: the tests' voice of Slack users, in readable one-liners.

slack = SlackDriver(emulator, "http://127.0.0.1:3000/slack/events", signing_secret)
reply = slack.command("/lead", "lookup acme", user="U0REP1", channel="C0EMEA")
slack.click(slack.messages("C0EMEA")[-1], "Accept", user="U0REP1")
slack.submit(slack.views("U0REP1")[-1], {"reason": "competitor"}, user="U0REP1")
"""

from __future__ import annotations

from typing import Any

from emulators.slack.delivery import (
    ActionReply,
    AppConnection,
    AppReply,
    CommandReply,
    SubmissionReply,
)
from emulators.slack.emulator import SlackEmulator
from emulators.slack.webapi import CallRecord
from emulators.slack.workspace import Ephemeral, Message


class SlackDriver:
    def __init__(
        self,
        emulator: SlackEmulator,
        events_url: str,
        signing_secret: str | None = None,
        *,
        timeout: float = 3.0,
    ) -> None:
        self.emulator = emulator
        self.connection = AppConnection(
            emulator, events_url, signing_secret=signing_secret, timeout=timeout
        )

    def close(self) -> None:
        self.connection.close()

    # what people do --------------------------------------------------------------------------

    def command(
        self, command: str, text: str = "", *, user: str, channel: str, **signing: Any
    ) -> CommandReply:
        """Run a slash command; the reply holds the ephemeral (or in-channel) answer."""
        return self.connection.command(command, text, user=user, channel=channel, **signing)

    def click(
        self,
        target: Message | Ephemeral | dict[str, Any],
        button: str,
        *,
        user: str,
        block_id: str | None = None,
        **signing: Any,
    ) -> ActionReply:
        """Click the button labelled (or with action_id) ``button`` in a message or a view
        (in the block ``block_id``, when several blocks repeat the button)."""
        if isinstance(target, dict) and target.get("type") in ("modal", "home") and "id" in target:
            return self.connection.click_view(
                target, button, user=user, block_id=block_id, **signing
            )
        return self.connection.click_message(
            target, button, user=user, block_id=block_id, **signing
        )

    def submit(
        self,
        view: dict[str, Any],
        values: dict[str, Any] | None = None,
        *,
        user: str,
        **signing: Any,
    ) -> SubmissionReply:
        """Submit a modal; ``values`` keyed by block_id or action_id, selects by option value."""
        return self.connection.submit(view, values, user=user, **signing)

    def event(self, event_type: str, **fields: Any) -> AppReply:
        return self.connection.event(event_type, **fields)

    def url_verification(self, challenge: str = "sandbox-challenge") -> AppReply:
        return self.connection.url_verification(challenge)

    # what Slack saw --------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[CallRecord]:
        return self.emulator.calls(method)

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Message]:
        return self.emulator.messages(channel, include_replies=include_replies)

    def ephemerals(self, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        return self.emulator.ephemerals(user=user, channel=channel)

    def views(self, user: str) -> list[dict[str, Any]]:
        """The user's open modals, top of the stack last."""
        return self.emulator.views(user)

    def home(self, user: str) -> dict[str, Any] | None:
        return self.emulator.home_view(user)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 3.0) -> list[CallRecord]:
        return self.emulator.wait_for_calls(method, count, timeout)
