"""The request side: what the emulator sends to an app and how it reads the app's replies.

The app here is a tiny stdlib HTTP server that checks every signature with slack_sdk's
``SignatureVerifier``, keeps what it received and answers with whatever the test queued.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from emulators.slack import SlackDriver, SlackEmulator
from emulators.slack.signing import signed_headers

SECRET = "requests-test-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    verified: bool

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body))

    @property
    def payload(self) -> dict[str, Any]:
        raw = self.form["payload"] if self.body.startswith("payload=") else self.body
        decoded: dict[str, Any] = json.loads(raw)
        return decoded


@dataclass
class FakeApp:
    url: str
    received: list[Received] = field(default_factory=list)
    replies: list[tuple[int, str, str]] = field(default_factory=list)

    def reply(self, body: Any = "", status: int = 200) -> None:
        if isinstance(body, str):
            self.replies.append((status, body, "text/plain"))
        else:
            self.replies.append((status, json.dumps(body), "application/json"))


@pytest.fixture
def app() -> Iterator[FakeApp]:
    verifier = SignatureVerifier(SECRET)
    holder: dict[str, FakeApp] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake = holder["app"]
            fake.received.append(Received(headers, body, verifier.is_valid_request(body, headers)))
            status, text, kind = fake.replies.pop(0) if fake.replies else (200, "", "text/plain")
            raw = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["app"] = FakeApp(f"http://127.0.0.1:{server.server_address[1]}/slack/events")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield holder["app"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def emu(slack_emulator: SlackEmulator) -> SlackEmulator:
    slack_emulator.add_user("U0REP1", name="rep1", tz="Europe/Berlin")
    slack_emulator.add_channel("C0EMEA", name="emea", members=["U0REP1"])
    return slack_emulator


@pytest.fixture
def slack(emu: SlackEmulator, app: FakeApp) -> Iterator[SlackDriver]:
    driver = SlackDriver(emu, app.url, SECRET)
    yield driver
    driver.close()


ALERT_BLOCKS: list[dict[str, Any]] = [
    {"type": "section", "block_id": "who", "text": {"type": "mrkdwn", "text": "*Ada*"}},
    {
        "type": "actions",
        "block_id": "lead-42",
        "elements": [
            {
                "type": "button",
                "action_id": "accept",
                "text": {"type": "plain_text", "text": "Accept"},
                "value": "42",
            },
            {
                "type": "button",
                "action_id": "reject",
                "text": {"type": "plain_text", "text": "Reject"},
                "value": "42",
            },
        ],
    },
]

FORM_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "qualify",
    "title": {"type": "plain_text", "text": "Qualify"},
    "submit": {"type": "plain_text", "text": "Save"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {
                "type": "static_select",
                "action_id": "reason_select",
                "options": [
                    {"text": {"type": "plain_text", "text": "Competitor"}, "value": "competitor"},
                    {"text": {"type": "plain_text", "text": "Timing"}, "value": "timing"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "bant",
            "optional": True,
            "label": {"type": "plain_text", "text": "BANT"},
            "element": {
                "type": "checkboxes",
                "action_id": "met",
                "options": [
                    {"text": {"type": "plain_text", "text": "Budget"}, "value": "budget"},
                    {"text": {"type": "plain_text", "text": "Need"}, "value": "need"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "close",
            "optional": True,
            "label": {"type": "plain_text", "text": "Close date"},
            "element": {"type": "datepicker", "action_id": "date"},
        },
        {
            "type": "input",
            "block_id": "amount",
            "optional": True,
            "label": {"type": "plain_text", "text": "Amount"},
            "element": {"type": "number_input", "action_id": "n", "is_decimal_allowed": False},
        },
        {
            "type": "input",
            "block_id": "owner",
            "optional": True,
            "label": {"type": "plain_text", "text": "Owner"},
            "element": {"type": "users_select", "action_id": "u"},
        },
        {
            "type": "input",
            "block_id": "comment",
            "optional": True,
            "label": {"type": "plain_text", "text": "Comment"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        },
    ],
}


def open_modal(
    emu: SlackEmulator, user: str = "U0REP1", view: dict[str, Any] | None = None
) -> dict[str, Any]:
    client = WebClient(base_url=emu.api_url, token=emu.bot_token)
    opened: dict[str, Any] = client.views_open(
        trigger_id=emu.mint_trigger(user), view=view or FORM_MODAL
    )["view"]
    return opened


# signing --------------------------------------------------------------------------------------


def test_emulator_signatures_verify_with_slack_sdk_and_forgeries_do_not() -> None:
    body = "token=x&command=%2Flead&text=help"
    now = int(time.time())
    headers = {k.lower(): v for k, v in signed_headers(SECRET, now, body, "text/plain").items()}
    verifier = SignatureVerifier(SECRET)

    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + "&extra=1", headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    forged = {**headers, "x-slack-signature": "v0=" + "0" * 64}
    assert not verifier.is_valid_request(body, forged)


# slash commands -------------------------------------------------------------------------------


def test_slash_command_is_a_signed_form_with_every_field(slack: SlackDriver, app: FakeApp) -> None:
    slack.command("/lead", "lookup acme", user="U0REP1", channel="C0EMEA")

    (request,) = app.received
    assert request.verified
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = request.form
    assert {k: form[k] for k in ("command", "text", "user_id", "user_name", "channel_id")} == {
        "command": "/lead",
        "text": "lookup acme",
        "user_id": "U0REP1",
        "user_name": "rep1",
        "channel_id": "C0EMEA",
    }
    assert form["channel_name"] == "emea"
    assert form["team_id"] == "T0SANDBOX"
    assert form["team_domain"] == "sandbox"
    assert form["api_app_id"] == "A0LEADBOT"
    assert form["token"] == "sandbox-verification-token"
    assert form["response_url"].startswith("http://127.0.0.1:")
    assert form["trigger_id"].count(".") == 2


@pytest.mark.parametrize(
    ("body", "text", "ephemeral"),
    [
        ("plain words", "plain words", True),
        ({"text": "json words"}, "json words", True),
        ({"text": "for all", "response_type": "in_channel"}, "for all", False),
    ],
)
def test_command_replies_become_messages(
    slack: SlackDriver, app: FakeApp, body: Any, text: str, ephemeral: bool
) -> None:
    app.reply(body)

    reply = slack.command("/lead", "help", user="U0REP1", channel="C0EMEA")

    assert reply.text == text
    assert [e.text for e in slack.ephemerals(user="U0REP1")] == ([text] if ephemeral else [])
    assert [m["text"] for m in slack.messages("C0EMEA")] == ([] if ephemeral else [text])


def test_command_reply_blocks_are_validated(slack: SlackDriver, app: FakeApp) -> None:
    app.reply({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]})

    reply = slack.command("/lead", "help", user="U0REP1", channel="C0EMEA")

    assert reply.problems == ["must be less than 151 characters [json-pointer:/blocks/0/text/text]"]
    assert slack.ephemerals() == []


def test_empty_command_reply_then_response_url(slack: SlackDriver, app: FakeApp) -> None:
    reply = slack.command("/lead", "mine", user="U0REP1", channel="C0EMEA")
    assert reply.ephemeral is None

    httpx.post(reply.response_url, json={"text": "Your leads: none"})

    assert [e.text for e in slack.ephemerals(user="U0REP1")] == ["Your leads: none"]
    assert slack.calls("response_url")[0].args["text"] == "Your leads: none"


def test_failing_app_is_a_failed_delivery(slack: SlackDriver, app: FakeApp) -> None:
    app.reply("boom", status=500)

    reply = slack.command("/lead", "help", user="U0REP1", channel="C0EMEA")

    assert (reply.status, reply.error, reply.ok) == (500, "http_service_error", False)
    assert slack.ephemerals() == []


# block_actions --------------------------------------------------------------------------------


def post_alert(emu: SlackEmulator) -> dict[str, Any]:
    client = WebClient(base_url=emu.api_url, token=emu.bot_token)
    client.chat_postMessage(channel="C0EMEA", text="New MQL", blocks=ALERT_BLOCKS)
    return emu.messages("C0EMEA")[-1]


def test_click_sends_block_actions_built_from_the_stored_message(
    slack: SlackDriver, emu: SlackEmulator, app: FakeApp
) -> None:
    alert = post_alert(emu)

    reply = slack.click(alert, "Reject", user="U0REP1")

    (request,) = app.received
    assert request.verified
    payload = request.payload
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0REP1"
    assert payload["team"] == {"id": "T0SANDBOX", "domain": "sandbox"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": alert["ts"],
        "channel_id": "C0EMEA",
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": "C0EMEA", "name": "emea"}
    assert payload["message"] == alert
    (action,) = payload["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type")} == {
        "action_id": "reject",
        "block_id": "lead-42",
        "value": "42",
        "type": "button",
    }
    assert action["text"]["text"] == "Reject"
    assert payload["trigger_id"] == reply.trigger_id
    assert payload["response_url"] == reply.response_url


def test_click_by_action_id_and_unknown_button(
    slack: SlackDriver, emu: SlackEmulator, app: FakeApp
) -> None:
    alert = post_alert(emu)

    slack.click(alert, "accept", user="U0REP1")

    assert app.received[0].payload["actions"][0]["action_id"] == "accept"
    with pytest.raises(LookupError, match="Accept"):
        slack.click(alert, "Maybe", user="U0REP1")


def test_response_url_from_a_click_replaces_the_original(
    slack: SlackDriver, emu: SlackEmulator
) -> None:
    alert = post_alert(emu)
    reply = slack.click(alert, "Accept", user="U0REP1")

    assert reply.response_url is not None
    httpx.post(reply.response_url, json={"replace_original": True, "text": "Accepted by rep1"})

    assert emu.message(alert["ts"])["text"] == "Accepted by rep1"


def test_click_in_a_view_has_a_view_container(
    slack: SlackDriver, emu: SlackEmulator, app: FakeApp
) -> None:
    view = open_modal(emu, view={**FORM_MODAL, "blocks": ALERT_BLOCKS, "submit": None})

    slack.click(view, "Accept", user="U0REP1")

    payload = app.received[0].payload
    assert payload["container"] == {"type": "view", "view_id": view["id"]}
    assert payload["view"]["id"] == view["id"]
    assert "response_url" not in payload


# view_submission ------------------------------------------------------------------------------


def test_submission_state_values_are_shaped_per_element(
    slack: SlackDriver, emu: SlackEmulator, app: FakeApp
) -> None:
    view = open_modal(emu)

    slack.submit(
        view,
        {
            "reason": "competitor",
            "met": ["budget", "Need"],
            "close": "2026-12-31",
            "amount": 12000,
            "owner": "U0REP1",
            "text": "uses X",
        },
        user="U0REP1",
    )

    payload = app.received[0].payload
    assert payload["type"] == "view_submission"
    assert payload["view"]["callback_id"] == "qualify"
    values = payload["view"]["state"]["values"]
    assert values["reason"]["reason_select"]["selected_option"]["value"] == "competitor"
    assert [o["value"] for o in values["bant"]["met"]["selected_options"]] == ["budget", "need"]
    assert values["close"]["date"] == {"type": "datepicker", "selected_date": "2026-12-31"}
    assert values["amount"]["n"] == {"type": "number_input", "value": "12000"}
    assert values["owner"]["u"] == {"type": "users_select", "selected_user": "U0REP1"}
    assert values["comment"]["text"] == {"type": "plain_text_input", "value": "uses X"}


def test_empty_reply_closes_the_modal(slack: SlackDriver, emu: SlackEmulator) -> None:
    view = open_modal(emu)

    reply = slack.submit(view, {"reason": "timing"}, user="U0REP1")

    assert reply.closed and reply.view is None
    assert slack.views("U0REP1") == []


def test_errors_keep_the_modal_open(slack: SlackDriver, emu: SlackEmulator, app: FakeApp) -> None:
    view = open_modal(emu)
    app.reply({"response_action": "errors", "errors": {"comment": "Say why"}})

    reply = slack.submit(view, {"reason": "timing"}, user="U0REP1")

    assert reply.errors == {"comment": "Say why"}
    assert not reply.closed
    assert [v["id"] for v in slack.views("U0REP1")] == [view["id"]]


def test_update_push_and_clear(slack: SlackDriver, emu: SlackEmulator, app: FakeApp) -> None:
    view = open_modal(emu)
    thanks = {"type": "modal", "title": {"type": "plain_text", "text": "Thanks"}, "blocks": []}
    app.reply({"response_action": "update", "view": thanks})
    updated = slack.submit(view, {"reason": "timing"}, user="U0REP1")
    assert updated.view is not None and updated.view["title"]["text"] == "Thanks"
    assert updated.view["id"] == view["id"]

    second = open_modal(emu)  # views.open replaces whatever modal the user had open
    app.reply({"response_action": "push", "view": FORM_MODAL})
    pushed = slack.submit(second, {"reason": "timing"}, user="U0REP1")
    assert len(slack.views("U0REP1")) == 2
    assert pushed.view is not None and pushed.view["previous_view_id"] == second["id"]

    app.reply({"response_action": "clear"})
    cleared = slack.submit(slack.views("U0REP1")[-1], {"reason": "timing"}, user="U0REP1")
    assert cleared.closed
    assert slack.views("U0REP1") == []


def test_required_input_left_empty_is_not_sent(
    slack: SlackDriver, emu: SlackEmulator, app: FakeApp
) -> None:
    view = open_modal(emu)

    reply = slack.submit(view, {"comment": "no reason given"}, user="U0REP1")

    assert not reply.sent
    assert reply.errors == {"reason": "Please complete this required field."}
    assert app.received == []


def test_unknown_input_and_option_are_refused(slack: SlackDriver, emu: SlackEmulator) -> None:
    view = open_modal(emu)

    with pytest.raises(LookupError, match="reasn"):
        slack.submit(view, {"reasn": "timing"}, user="U0REP1")
    with pytest.raises(LookupError, match="budget_gone"):
        slack.submit(view, {"reason": "budget_gone"}, user="U0REP1")


# events ---------------------------------------------------------------------------------------


def test_app_home_opened_event_callback(
    slack: SlackDriver, emu: SlackEmulator, app: FakeApp
) -> None:
    client = WebClient(base_url=emu.api_url, token=emu.bot_token)
    client.views_publish(user_id="U0REP1", view={"type": "home", "blocks": []})

    reply = slack.event("app_home_opened", user="U0REP1")

    assert reply.ok
    (request,) = app.received
    assert request.verified
    assert request.headers["content-type"] == "application/json"
    envelope = request.payload
    assert envelope["type"] == "event_callback"
    assert envelope["team_id"] == "T0SANDBOX"
    assert envelope["api_app_id"] == "A0LEADBOT"
    assert envelope["event_id"].startswith("Ev")
    assert envelope["authorizations"][0]["user_id"] == "U0LEADBOT"
    event = envelope["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", "U0REP1", "home")
    assert event["channel"] == emu.dm_channel("U0REP1")
    assert event["view"]["type"] == "home"


def test_generic_event_and_url_verification(slack: SlackDriver, app: FakeApp) -> None:
    slack.event("member_joined_channel", user="U0REP1", channel="C0EMEA")
    app.reply({"challenge": "abc123"})
    good = slack.url_verification("abc123")
    app.reply({"challenge": "wrong"})
    bad = slack.url_verification("abc123")

    assert app.received[0].payload["event"]["channel"] == "C0EMEA"
    assert app.received[1].payload == {
        "token": "sandbox-verification-token",
        "challenge": "abc123",
        "type": "url_verification",
    }
    assert good.ok
    assert bad.error == "challenge_mismatch"
