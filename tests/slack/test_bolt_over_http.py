"""A real Bolt app behind the project's FastAPI mount, served by uvicorn, driven by the emulator."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import fastapi
import pytest
import uvicorn
from slack_bolt import App

from bot.http.slack_route import mount_slack
from bot.slack.client import build_web_client
from bot.slack.payloads import Screen
from emulators.slack import SlackDriver, SlackEmulator

SECRET = "bolt-test-signing-secret"

REJECT_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "reject",
    "title": {"type": "plain_text", "text": "Reject lead"},
    "submit": {"type": "plain_text", "text": "Reject"},
    "private_metadata": "lead-42",
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {
                "type": "static_select",
                "action_id": "reason",
                "options": [
                    {"text": {"type": "plain_text", "text": "Competitor"}, "value": "competitor"},
                    {"text": {"type": "plain_text", "text": "No budget"}, "value": "no_budget"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "comment",
            "optional": True,
            "label": {"type": "plain_text", "text": "Comment"},
            "element": {"type": "plain_text_input", "action_id": "comment"},
        },
    ],
}


def build_bolt_app(emulator: SlackEmulator, seen: dict[str, Any]) -> App:
    client = build_web_client(emulator.bot_token, emulator.api_url)
    app = App(client=client, signing_secret=SECRET, token_verification_enabled=False)

    @app.command("/lead")
    def lead(ack: Any, command: dict[str, Any]) -> None:
        ack(f"Looking up {command['text']}")

    @app.action("accept")
    def accept(ack: Any, body: dict[str, Any], client: Any) -> None:
        ack()
        client.chat_update(
            channel=body["channel"]["id"],
            ts=body["message"]["ts"],
            text=f"Accepted by <@{body['user']['id']}>",
            blocks=[],
        )

    @app.action("reject")
    def reject(ack: Any, body: dict[str, Any], client: Any) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=REJECT_MODAL)

    @app.view("reject")
    def submitted(ack: Any, view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        seen["reason"] = values["reason"]["reason"]["selected_option"]["value"]
        seen["metadata"] = view["private_metadata"]
        if not values["comment"]["comment"]["value"]:
            ack(response_action="errors", errors={"comment": "Tell marketing why"})
            return
        ack()

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: Any) -> None:
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Your leads"}}],
            },
        )

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def seen() -> dict[str, Any]:
    return {}


@pytest.fixture
def events_url(slack_emulator: SlackEmulator, seen: dict[str, Any]) -> Iterator[str]:
    api = fastapi.FastAPI()
    screen = Screen(actions=frozenset({"accept", "reject"}), views=frozenset({"reject"}))
    mount_slack(api, build_bolt_app(slack_emulator, seen), signing_secret=SECRET, screen=screen)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/slack/events"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def slack(slack_emulator: SlackEmulator, events_url: str) -> Iterator[SlackDriver]:
    slack_emulator.add_user("U0REP1", name="rep1", tz="Europe/Berlin")
    slack_emulator.add_channel("C0EMEA", name="emea", members=["U0REP1"])
    driver = SlackDriver(slack_emulator, events_url, SECRET)
    yield driver
    driver.close()


def post_lead_alert(emulator: SlackEmulator) -> dict[str, Any]:
    client = build_web_client(emulator.bot_token, emulator.api_url)
    client.chat_postMessage(
        channel="C0EMEA",
        text="New MQL: Ada Lovelace",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Ada Lovelace*, Acme"}},
            {
                "type": "actions",
                "block_id": "lead-42",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "accept",
                        "text": {"type": "plain_text", "text": "Accept"},
                        "value": "42",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "action_id": "reject",
                        "text": {"type": "plain_text", "text": "Reject"},
                        "value": "42",
                    },
                ],
            },
        ],
    )
    return emulator.messages("C0EMEA")[-1]


def test_slash_command_reply_is_an_ephemeral_message(slack: SlackDriver) -> None:
    reply = slack.command("/lead", "lookup acme", user="U0REP1", channel="C0EMEA")

    assert reply.status == 200
    assert reply.text == "Looking up lookup acme"
    assert [e.text for e in slack.ephemerals(user="U0REP1")] == ["Looking up lookup acme"]
    assert slack.messages("C0EMEA") == []


def test_bolt_authorizes_against_the_emulator(
    slack: SlackDriver, slack_emulator: SlackEmulator
) -> None:
    slack.command("/lead", "help", user="U0REP1", channel="C0EMEA")

    (auth,) = slack.calls("auth.test")
    assert auth.ok
    assert "chat:write" in auth.headers["x-oauth-scopes"]


def test_app_home_opened_publishes_the_home_tab(
    slack: SlackDriver, slack_emulator: SlackEmulator
) -> None:
    reply = slack.event("app_home_opened", user="U0REP1")

    assert reply.status == 200
    slack.wait_for_calls("views.publish")
    home = slack.home("U0REP1")
    assert home is not None
    assert home["blocks"][0]["text"]["text"] == "Your leads"


def test_button_click_updates_the_message_through_the_web_api(
    slack: SlackDriver, slack_emulator: SlackEmulator
) -> None:
    alert = post_lead_alert(slack_emulator)

    reply = slack.click(alert, "Accept", user="U0REP1")

    assert reply.status == 200
    (update,) = slack.wait_for_calls("chat.update")
    assert update.args["ts"] == alert["ts"]
    assert update.args["channel"] == "C0EMEA"
    assert update.ok
    assert slack_emulator.message(alert["ts"])["text"] == "Accepted by <@U0REP1>"


def test_view_submission_with_errors_keeps_the_modal_open_then_closes(
    slack: SlackDriver, slack_emulator: SlackEmulator, seen: dict[str, Any]
) -> None:
    alert = post_lead_alert(slack_emulator)
    slack.click(alert, "Reject", user="U0REP1")
    slack.wait_for_calls("views.open")
    (modal,) = slack.views("U0REP1")

    first = slack.submit(modal, {"reason": "competitor"}, user="U0REP1")

    assert first.response_action == "errors"
    assert first.errors == {"comment": "Tell marketing why"}
    assert [v["id"] for v in slack.views("U0REP1")] == [modal["id"]]
    assert seen == {"reason": "competitor", "metadata": "lead-42"}

    second = slack.submit(modal, {"reason": "No budget", "comment": "uses X"}, user="U0REP1")

    assert second.status == 200
    assert second.closed
    assert slack.views("U0REP1") == []
    assert seen["reason"] == "no_budget"


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"signature": "v0=" + "0" * 64}, "forged signature"),
        ({"timestamp": int(time.time()) - 6 * 60}, "stale timestamp"),
    ],
)
def test_bad_signatures_are_refused_with_401(
    slack: SlackDriver, overrides: dict[str, Any], why: str
) -> None:
    reply = slack.command("/lead", "help", user="U0REP1", channel="C0EMEA", **overrides)

    assert reply.status == 401, why
    assert slack.ephemerals() == []
