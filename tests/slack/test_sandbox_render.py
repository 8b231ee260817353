"""The sandbox page's Block Kit and mrkdwn rendering: pure functions, safe HTML out."""

from emulators.slack.render import (
    Names,
    mrkdwn_html,
    render_blocks,
    render_conversation,
    render_view,
    text_html,
)

NAMES = Names(users={"U0REP1": "ada"}, channels={"C0EMEA": "leads-emea"})


def test_bold_italic_strike_and_line_breaks():
    assert mrkdwn_html("*New MQL*\n_soon_ ~old~") == "<b>New MQL</b><br><i>soon</i> <s>old</s>"


def test_markup_inside_words_and_code_is_left_alone():
    assert mrkdwn_html("snake_case_name 2*3*4") == "snake_case_name 2*3*4"
    assert mrkdwn_html("`*x*` and ```a\n*b*```") == "<code>*x*</code> and <pre>a\n*b*</pre>"


def test_html_is_escaped_and_slack_entities_decoded():
    assert mrkdwn_html("<script>alert(1)</script>") == ("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert mrkdwn_html("a &lt;b&gt; &amp; c") == "a &lt;b&gt; &amp; c"
    assert "<b>" not in text_html({"type": "plain_text", "text": "*not bold* <b>"})


def test_mentions_channels_and_links():
    html = mrkdwn_html(
        "*<@U0REP1>* in <#C0EMEA> <!here> <@U9|bob> <https://x.io/a_b_c|docs>", NAMES
    )
    assert html == (
        '<b><span class="mention">@ada</span></b> in '
        '<span class="mention">#leads-emea</span> <span class="mention">@here</span> '
        '<span class="mention">@bob</span> '
        '<a href="https://x.io/a_b_c" target="_blank" rel="noopener">docs</a>'
    )
    assert mrkdwn_html("<javascript:alert(1)|x>") == "&lt;javascript:alert(1)|x&gt;"
    assert 'href="https://e.io/?a=1&amp;b=&quot;' in mrkdwn_html('<https://e.io/?a=1&b="|e>')
    assert 'href="https://e.io/?a=1&amp;b=2"' in mrkdwn_html("<https://e.io/?a=1&amp;b=2|e>")


def test_emoji_and_quotes():
    assert mrkdwn_html(":white_check_mark: done\n> quoted") == "\u2705 done<br><q>quoted</q>"
    assert mrkdwn_html("at 12:30:45 :unknown_thing:") == "at 12:30:45 :unknown_thing:"


def test_blocks_become_text_buttons_and_inputs():
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Waiting"}},
        {
            "type": "section",
            "block_id": "s",
            "text": {"type": "mrkdwn", "text": "*#1*"},
            "accessory": {
                "type": "button",
                "action_id": "go",
                "text": {"type": "plain_text", "text": "Go"},
            },
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "a"}, {"type": "plain_text", "text": "b"}],
        },
        {"type": "divider"},
        {
            "type": "actions",
            "block_id": "handoff",
            "elements": [
                {
                    "type": "button",
                    "action_id": "lead_accept",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Accept"},
                }
            ],
        },
        {"type": "rich_text", "elements": []},
    ]
    out = render_blocks(blocks, NAMES)
    assert [b["type"] for b in out] == [
        "header",
        "section",
        "context",
        "divider",
        "actions",
        "context",
    ]
    assert out[1]["html"] == "<b>#1</b>"
    assert out[1]["buttons"][0] == {
        "type": "button",
        "label": "Go",
        "action_id": "go",
        "block_id": "s",
        "style": "",
        "url": "",
    }
    assert out[2]["html"] == "a b"
    assert out[4]["buttons"][0]["style"] == "primary"
    assert out[5]["html"] == "[rich_text block]"


def test_modal_inputs_keep_submitted_values_and_show_errors():
    view = {
        "id": "V1",
        "type": "modal",
        "hash": "h",
        "title": {"type": "plain_text", "text": "Reject lead"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "static_select",
                    "action_id": "reason",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Bad fit"}, "value": "bad_fit"}
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "close_date",
                "optional": True,
                "label": {"type": "plain_text", "text": "Close"},
                "element": {
                    "type": "datepicker",
                    "action_id": "close_date",
                    "initial_date": "2030-01-01",
                },
            },
            {
                "type": "input",
                "block_id": "owner",
                "label": {"type": "plain_text", "text": "Owner"},
                "element": {"type": "users_select", "action_id": "owner"},
            },
        ],
        "state": {
            "values": {
                "reason": {
                    "reason": {"type": "static_select", "selected_option": {"value": "bad_fit"}}
                },
                "owner": {"owner": {"type": "users_select", "selected_user": None}},
            }
        },
    }
    out = render_view(view, NAMES, {"owner": "Pick someone"})
    assert out["title"] == "Reject lead" and out["submit"] == "Reject" and out["close"] == "Cancel"
    reason, close, owner = out["blocks"]
    assert reason["element"]["options"] == [{"value": "bad_fit", "text": "Bad fit"}]
    assert reason["element"]["value"] == "bad_fit" and reason["error"] == ""
    assert close["element"]["value"] == "2030-01-01" and close["optional"] is True
    assert owner["element"]["value"] is None and owner["error"] == "Pick someone"
    assert render_view(None) is None


def test_thread_replies_sit_under_their_parent():
    messages = [
        {
            "ts": "1.000001",
            "user": "U0LEADBOT",
            "bot_id": "B1",
            "text": "alert",
            "thread_ts": "1.000001",
        },
        {"ts": "2.000001", "user": "U0REP1", "text": "hi <@U0REP1>"},
        {
            "ts": "3.000001",
            "user": "U0LEADBOT",
            "bot_id": "B1",
            "text": "reminder",
            "thread_ts": "1.000001",
        },
    ]
    out = render_conversation(messages, NAMES)
    assert [m["ts"] for m in out] == ["1.000001", "2.000001"]
    assert [r["html"] for r in out[0]["replies"]] == ["reminder"]
    assert out[0]["is_bot"] is True and out[1]["author"] == "ada"
    assert out[1]["html"] == 'hi <span class="mention">@ada</span>'
