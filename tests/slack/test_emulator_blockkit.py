"""Block Kit validation: Slack's documented limits, as pure functions and as API errors."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from emulators.slack import SlackEmulator
from emulators.slack.blockkit import validate_blocks, validate_view


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def button(text: str = "Accept", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain(text), "action_id": "accept", **extra}


def option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": plain(text or value), "value": value}


def section(text: str = "hello") -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def input_block(element: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "input", "block_id": "in", "label": plain("Label"), "element": element, **extra}


def modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    view = {"type": "modal", "title": plain("Title"), "submit": plain("Save"), "blocks": blocks}
    return {**view, **extra}


VALID_BLOCKS = [
    {"type": "header", "text": plain("New MQL")},
    {
        "type": "section",
        "block_id": "who",
        "text": {"type": "mrkdwn", "text": "*Ada Lovelace*"},
        "fields": [{"type": "mrkdwn", "text": f"f{i}"} for i in range(10)],
        "accessory": {"type": "image", "image_url": "https://x.io/a.png", "alt_text": "logo"},
    },
    {"type": "divider"},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
    {
        "type": "actions",
        "block_id": "lead-42",
        "elements": [
            button("Accept", value="42", style="primary"),
            {**button("Reject", value="42", style="danger"), "action_id": "reject"},
        ],
    },
]


def test_a_realistic_message_is_valid() -> None:
    assert validate_blocks(VALID_BLOCKS) == []


def test_a_realistic_modal_is_valid() -> None:
    select = {
        "type": "static_select",
        "action_id": "reason",
        "options": [option(f"r{i}") for i in range(100)],
    }
    view = modal(
        [
            input_block(select),
            {**input_block({"type": "plain_text_input", "action_id": "c", "max_length": 3000})}
            | {"block_id": "comment"},
        ],
        private_metadata="x" * 3000,
        callback_id="c" * 255,
    )
    assert validate_view(view) == []


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section()] * 51, "/blocks"),
        ([section("x" * 3001)], "/blocks/0/text/text"),
        ([{"type": "section", "fields": [plain("f")] * 11}], "/blocks/0/fields"),
        ([{"type": "section", "fields": [plain("x" * 2001)]}], "/blocks/0/fields/0/text"),
        ([{"type": "header", "text": plain("x" * 151)}], "/blocks/0/text/text"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "/blocks/0/text/type"),
        ([{"type": "actions", "elements": [button("x" * 76)]}], "/blocks/0/elements/0/text/text"),
        (
            [{"type": "actions", "elements": [button(action_id="a" * 256)]}],
            "/blocks/0/elements/0/action_id",
        ),
        (
            [{"type": "actions", "elements": [button(value="v" * 2001)]}],
            "/blocks/0/elements/0/value",
        ),
        ([{**section(), "block_id": "b" * 256}], "/blocks/0/block_id"),
        (
            [{**section(), "block_id": "same"}, {**section(), "block_id": "same"}],
            "/blocks/1/block_id",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [{**button(), "action_id": f"a{i}"} for i in range(26)],
                }
            ],
            "/blocks/0/elements",
        ),
        ([{"type": "actions", "elements": [button(), button()]}], "/blocks/0/elements"),
        ([{"type": "context", "elements": [plain("c")] * 11}], "/blocks/0/elements"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([{"type": "section"}], "/blocks/0"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "static_select",
                            "action_id": "s",
                            "options": [option(f"o{i}") for i in range(101)],
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/options",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "checkboxes", "action_id": "c", "options": [option("o")] * 11}
                    ],
                }
            ],
            "/blocks/0/elements/0/options",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "radio_buttons",
                            "action_id": "r",
                            "options": [option("o", "x" * 76)],
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/options/0/text/text",
        ),
        ([{"type": "input", "element": {"type": "plain_text_input"}}], "/blocks/0/label"),
        ([{"type": "input", "label": plain("L")}], "/blocks/0/element"),
        (
            [input_block({"type": "plain_text_input", "action_id": "t", "max_length": 3001})],
            "/blocks/0/element/max_length",
        ),
    ],
)
def test_limit_violations_name_the_offending_value(
    blocks: list[dict[str, Any]], pointer: str
) -> None:
    errors = validate_blocks(blocks)

    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in errors), errors


def test_radio_buttons_allow_ten_options_not_eleven() -> None:
    def radios(n: int) -> list[dict[str, Any]]:
        element = {
            "type": "radio_buttons",
            "action_id": "r",
            "options": [option(f"o{i}") for i in range(n)],
        }
        return [input_block(element)]

    assert validate_blocks(radios(10)) == []
    assert validate_blocks(radios(11)) != []


@pytest.mark.parametrize(
    ("view", "pointer"),
    [
        (modal([section()] * 101), "/view/blocks"),
        (modal([], title=plain("x" * 25)), "/view/title/text"),
        (modal([], submit=plain("x" * 25)), "/view/submit/text"),
        (modal([], close=plain("x" * 25)), "/view/close/text"),
        (modal([], private_metadata="x" * 3001), "/view/private_metadata"),
        (modal([], callback_id="x" * 256), "/view/callback_id"),
        ({**modal([input_block({"type": "plain_text_input"})]), "submit": None}, "/view/submit"),
        ({"type": "sheet", "blocks": []}, "/view/type"),
        ({"type": "home", "blocks": [section()] * 101}, "/view/blocks"),
    ],
)
def test_view_violations(view: dict[str, Any], pointer: str) -> None:
    errors = validate_view(view)

    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in errors), errors


def test_the_api_answers_invalid_blocks_like_slack(slack_emulator: SlackEmulator) -> None:
    slack_emulator.add_channel("C0EMEA", name="emea")
    client = WebClient(base_url=slack_emulator.api_url, token=slack_emulator.bot_token)

    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C0EMEA", text="x", blocks=[section("x" * 3001)])

    assert info.value.response.data == {
        "ok": False,
        "error": "invalid_blocks",
        "errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"],
        "response_metadata": {
            "messages": [
                "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
            ]
        },
    }
    assert slack_emulator.messages("C0EMEA") == []


def test_the_api_answers_invalid_views_with_invalid_arguments(
    slack_emulator: SlackEmulator,
) -> None:
    slack_emulator.add_user("U0REP1", name="rep1")
    client = WebClient(base_url=slack_emulator.api_url, token=slack_emulator.bot_token)
    trigger = slack_emulator.mint_trigger("U0REP1")

    with pytest.raises(SlackApiError) as info:
        client.views_open(
            trigger_id=trigger, view=modal([], title=plain("A title far too long for Slack"))
        )

    assert info.value.response["error"] == "invalid_arguments"
    assert info.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]
    # the trigger was not spent on an invalid view
    client.views_open(trigger_id=trigger, view=modal([]))
    assert len(slack_emulator.views("U0REP1")) == 1
