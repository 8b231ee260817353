"""The emulator's Web API, driven by slack_sdk's real WebClient."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from emulators.slack import SlackEmulator

TOKEN = "xoxb-sandbox-token"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Ada* from Acme"}}


@pytest.fixture
def emu(slack_emulator: SlackEmulator) -> SlackEmulator:
    slack_emulator.add_user("U0REP1", name="rep1", tz="Europe/Berlin", email="rep1@example.com")
    slack_emulator.add_user("U0REP2", name="rep2", email="rep2@example.com")
    slack_emulator.add_user("U0OUT", name="outsider")
    slack_emulator.add_channel("C0EMEA", name="emea", members=["U0REP1", "U0REP2"])
    slack_emulator.add_channel("C0NA", name="na", members=["U0REP2"])
    slack_emulator.add_channel("C0SECRET", name="secret", bot_is_member=False)
    return slack_emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(base_url=emu.api_url, token=TOKEN)


def slack_error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call()
    assert info.value.response.status_code == 200
    data: dict[str, Any] = info.value.response.data
    assert data["ok"] is False
    return data


# auth -----------------------------------------------------------------------------------------


def test_auth_test_answers_like_slack_with_the_scopes_header(client: WebClient) -> None:
    response = client.auth_test()

    assert response["user_id"] == "U0LEADBOT"
    assert response["bot_id"] == "B0LEADBOT"
    assert response["team_id"] == "T0SANDBOX"
    assert response["team"] == "Sandbox"
    assert response["user"] == "leadbot"
    assert response["url"] == "https://sandbox.slack.com/"
    assert "chat:write" in response.headers["x-oauth-scopes"].split(",")


def test_missing_token_is_not_authed_and_a_wrong_one_invalid_auth(emu: SlackEmulator) -> None:
    assert slack_error(WebClient(base_url=emu.api_url).auth_test)["error"] == "not_authed"
    wrong = WebClient(base_url=emu.api_url, token="xoxb-wrong")
    assert slack_error(wrong.auth_test)["error"] == "invalid_auth"
    assert slack_error(lambda: wrong.chat_postMessage(channel="C0EMEA", text="x"))["error"] == (
        "invalid_auth"
    )
    assert emu.messages("C0EMEA") == []


def test_token_and_json_arguments_may_come_in_a_form_body(emu: SlackEmulator) -> None:
    form = {"token": TOKEN, "channel": "C0EMEA", "text": "hi", "blocks": json.dumps([SECTION])}
    answer = httpx.post(f"{emu.api_url}chat.postMessage", data=form).json()

    assert answer["ok"] is True
    (record,) = emu.calls("chat.postMessage")
    assert record.args["blocks"][0]["text"]["text"] == "*Ada* from Acme"
    assert "token" not in record.args
    assert emu.messages("C0EMEA")[0]["blocks"][0]["type"] == "section"


# chat -----------------------------------------------------------------------------------------


def test_post_message_stores_increasing_unique_timestamps(
    client: WebClient, emu: SlackEmulator
) -> None:
    stamps = [client.chat_postMessage(channel="C0EMEA", text=f"m{i}")["ts"] for i in range(5)]

    assert len(set(stamps)) == 5
    assert stamps == sorted(stamps, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    assert [m["text"] for m in emu.messages("C0EMEA")] == [f"m{i}" for i in range(5)]
    assert emu.messages("C0EMEA")[0]["bot_id"] == "B0LEADBOT"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"text": "no channel"}, "channel_not_found"),
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ({"channel": "C0EMEA"}, "no_text"),
        ({"channel": "C0EMEA", "blocks": []}, "no_text"),
        ({"channel": "C0EMEA", "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": "C0SECRET", "text": "x"}, "not_in_channel"),
        (
            {"channel": "C0EMEA", "text": "x", "metadata": {"event_type": "x"}},
            "invalid_metadata_format",
        ),
    ],
)
def test_post_message_errors(
    client: WebClient, emu: SlackEmulator, args: dict[str, Any], error: str
) -> None:
    assert slack_error(lambda: client.api_call("chat.postMessage", json=args))["error"] == error
    assert emu.messages("C0EMEA") == []


def test_post_message_by_channel_name_and_to_a_user_id_goes_to_the_dm(
    client: WebClient, emu: SlackEmulator
) -> None:
    client.chat_postMessage(channel="#emea", text="by name")
    dm = client.chat_postMessage(channel="U0REP1", text="hello you")

    assert emu.messages("C0EMEA")[0]["text"] == "by name"
    assert dm["channel"].startswith("D")
    assert dm["channel"] == emu.dm_channel("U0REP1")
    assert emu.messages(dm["channel"])[0]["text"] == "hello you"


def test_threads_count_replies_and_replies_lists_the_thread(
    client: WebClient, emu: SlackEmulator
) -> None:
    parent = client.chat_postMessage(channel="C0EMEA", text="parent")["ts"]
    client.chat_postMessage(channel="C0EMEA", text="r1", thread_ts=parent)
    emu.post_as_user("U0REP1", "C0EMEA", "r2", thread_ts=parent)

    history = client.conversations_history(channel="C0EMEA")["messages"]
    assert [m["text"] for m in history] == ["parent"]
    assert history[0]["reply_count"] == 2
    assert history[0]["reply_users"] == ["U0LEADBOT", "U0REP1"]
    replies = client.conversations_replies(channel="C0EMEA", ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["parent", "r1", "r2"]
    assert all(m["thread_ts"] == parent for m in replies)
    missing = slack_error(lambda: client.conversations_replies(channel="C0EMEA", ts="1.000001"))
    assert missing["error"] == "thread_not_found"


def test_update_edits_in_place_and_keeps_blocks_when_not_given(
    client: WebClient, emu: SlackEmulator
) -> None:
    ts = client.chat_postMessage(channel="C0EMEA", text="v1", blocks=[SECTION])["ts"]

    answer = client.chat_update(channel="C0EMEA", ts=ts, text="v2")

    assert answer["ts"] == ts
    (message,) = emu.messages("C0EMEA")
    assert message["text"] == "v2"
    assert message["blocks"][0]["text"]["text"] == "*Ada* from Acme"
    assert message["edited"]["user"] == "U0LEADBOT"


def test_update_errors(client: WebClient, emu: SlackEmulator) -> None:
    human = emu.post_as_user("U0REP1", "C0EMEA", "mine")
    unknown = lambda: client.chat_update(channel="C0EMEA", ts="1700000000.000100", text="x")  # noqa: E731
    assert slack_error(unknown)["error"] == "message_not_found"
    not_ours = lambda: client.chat_update(channel="C0EMEA", ts=human["ts"], text="x")  # noqa: E731
    assert slack_error(not_ours)["error"] == "cant_update_message"
    wrong_channel = lambda: client.chat_update(channel="C0NOPE", ts=human["ts"], text="x")  # noqa: E731
    assert slack_error(wrong_channel)["error"] == "channel_not_found"
    assert emu.message(human["ts"])["text"] == "mine"


def test_post_ephemeral_is_seen_by_one_user_only(client: WebClient, emu: SlackEmulator) -> None:
    answer = client.chat_postEphemeral(channel="C0EMEA", user="U0REP1", text="only you")

    (ephemeral,) = emu.ephemerals(user="U0REP1")
    assert ephemeral.text == "only you"
    assert ephemeral.ts == answer["message_ts"]
    assert emu.ephemerals(user="U0REP2") == []
    assert emu.messages("C0EMEA") == []
    outsider = lambda: client.chat_postEphemeral(channel="C0EMEA", user="U0OUT", text="x")  # noqa: E731
    assert slack_error(outsider)["error"] == "user_not_in_channel"
    nobody = lambda: client.chat_postEphemeral(channel="C0EMEA", user="U0NOPE", text="x")  # noqa: E731
    assert slack_error(nobody)["error"] == "user_not_found"


def test_get_permalink(client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0EMEA", text="x")["ts"]

    link = client.chat_getPermalink(channel="C0EMEA", message_ts=ts)["permalink"]

    assert link == f"https://sandbox.slack.com/archives/C0EMEA/p{ts.replace('.', '')}"
    missing = lambda: client.chat_getPermalink(channel="C0EMEA", message_ts="1.000002")  # noqa: E731
    assert slack_error(missing)["error"] == "message_not_found"


# conversations --------------------------------------------------------------------------------


def test_conversations_open_creates_one_dm_per_user(client: WebClient) -> None:
    first = client.conversations_open(users="U0REP1")
    again = client.conversations_open(users="U0REP1")

    assert first["channel"]["id"].startswith("D")
    assert again["channel"]["id"] == first["channel"]["id"]
    assert again["already_open"] is True
    assert "already_open" not in first.data
    assert (
        slack_error(lambda: client.conversations_open(users="U0NOPE"))["error"] == "user_not_found"
    )
    assert slack_error(lambda: client.api_call("conversations.open"))["error"] == (
        "users_list_not_supplied"
    )


def test_history_is_newest_first_with_limit_oldest_latest_and_cursor(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C0EMEA", text=f"m{i}")["ts"] for i in range(5)]

    page = client.conversations_history(channel="C0EMEA", limit=2)
    assert [m["text"] for m in page["messages"]] == ["m4", "m3"]
    assert page["has_more"] is True
    cursor = page["response_metadata"]["next_cursor"]
    rest = client.conversations_history(channel="C0EMEA", limit=10, cursor=cursor)
    assert [m["text"] for m in rest["messages"]] == ["m2", "m1", "m0"]
    assert rest["has_more"] is False
    window = client.conversations_history(channel="C0EMEA", oldest=stamps[1], latest=stamps[4])
    assert [m["text"] for m in window["messages"]] == ["m3", "m2"]
    inclusive = client.conversations_history(
        channel="C0EMEA", oldest=stamps[1], latest=stamps[4], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m4", "m3", "m2", "m1"]


def test_history_errors(client: WebClient) -> None:
    assert slack_error(lambda: client.conversations_history(channel="C0NOPE"))["error"] == (
        "channel_not_found"
    )
    assert slack_error(lambda: client.conversations_history(channel="C0SECRET"))["error"] == (
        "not_in_channel"
    )


def test_metadata_round_trips_only_when_asked_for(client: WebClient) -> None:
    metadata = {"event_type": "lead_alert", "event_payload": {"lead_id": 42, "stage": "mql"}}
    ts = client.chat_postMessage(channel="C0EMEA", text="x", metadata=metadata)["ts"]
    updated = {"event_type": "lead_alert", "event_payload": {"lead_id": 42, "stage": "sal"}}
    client.chat_update(channel="C0EMEA", ts=ts, text="y", metadata=updated)

    with_metadata = client.conversations_history(channel="C0EMEA", include_all_metadata=True)
    without = client.conversations_history(channel="C0EMEA")

    assert with_metadata["messages"][0]["metadata"] == updated
    assert "metadata" not in without["messages"][0]


# users ----------------------------------------------------------------------------------------


def test_users_info_and_lookup_by_email(emu: SlackEmulator) -> None:
    emu.clock = lambda: 1_700_000_000.0  # November: Berlin is UTC+1
    emu.add_user("U0MGR1", name="mgr", real_name="Grace Hopper", tz="Europe/Berlin", email="G@x.io")
    client = WebClient(base_url=emu.api_url, token=TOKEN)

    user = client.users_info(user="U0MGR1")["user"]
    assert (user["real_name"], user["tz"], user["tz_offset"]) == (
        "Grace Hopper",
        "Europe/Berlin",
        3600,
    )
    assert user["is_bot"] is False
    assert client.users_lookupByEmail(email="g@X.io")["user"]["id"] == "U0MGR1"
    assert client.users_info(user="U0LEADBOT")["user"]["is_bot"] is True
    assert slack_error(lambda: client.users_info(user="U0NOPE"))["error"] == "user_not_found"
    nobody = lambda: client.users_lookupByEmail(email="nobody@x.io")  # noqa: E731
    assert slack_error(nobody)["error"] == "users_not_found"


# files ----------------------------------------------------------------------------------------


def test_three_step_upload_through_files_upload_v2(client: WebClient, emu: SlackEmulator) -> None:
    content = bytes(range(256)) * 10

    answer = client.files_upload_v2(
        channel="C0EMEA",
        content=content,
        filename="leads.csv",
        title="Leads",
        initial_comment="Here",
    )

    file_id = answer["file"]["id"]
    assert emu.file_content(file_id) == content
    assert [c.method for c in emu.calls()] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    (message,) = emu.messages("C0EMEA")
    assert message["text"] == "Here"
    assert message["files"][0]["id"] == file_id
    assert message["files"][0]["title"] == "Leads"
    assert message["files"][0]["size"] == len(content)


def test_upload_url_takes_multipart_and_completion_needs_the_bytes(
    client: WebClient, emu: SlackEmulator
) -> None:
    ticket = client.files_getUploadURLExternal(filename="a.txt", length=5)
    assert ticket["upload_url"].startswith(emu.url)
    early = lambda: client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}])  # noqa: E731
    assert slack_error(early)["error"] == "file_not_found"

    upload = httpx.post(ticket["upload_url"], files={"file": ("a.txt", b"hello")})

    assert upload.status_code == 200
    done = client.files_completeUploadExternal(files=[{"id": ticket["file_id"], "title": "A"}])
    assert done["files"] == [{"id": ticket["file_id"], "title": "A"}]
    assert emu.file_content(ticket["file_id"]) == b"hello"
    assert emu.messages("C0EMEA") == []  # no channel: the file stays private
    missing = lambda: client.api_call("files.getUploadURLExternal", params={"length": 5})  # noqa: E731
    assert slack_error(missing)["error"] == "invalid_arguments"


# views ----------------------------------------------------------------------------------------


def modal(title: str = "Reject lead", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "reject",
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [SECTION],
        **extra,
    }


def test_views_open_push_update_with_hash(client: WebClient, emu: SlackEmulator) -> None:
    opened = client.views_open(
        trigger_id=emu.mint_trigger("U0REP1"), view=modal(private_metadata="lead-42")
    )["view"]
    assert opened["id"].startswith("V")
    assert opened["private_metadata"] == "lead-42"
    assert opened["callback_id"] == "reject"

    pushed = client.views_push(trigger_id=emu.mint_trigger("U0REP1"), view=modal("Step 2"))["view"]
    assert [v["id"] for v in emu.views("U0REP1")] == [opened["id"], pushed["id"]]
    assert pushed["root_view_id"] == opened["id"]

    stale = lambda: client.views_update(view_id=opened["id"], hash="1.stale", view=modal("New"))  # noqa: E731
    assert slack_error(stale)["error"] == "hash_conflict"
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("New"))
    assert updated["view"]["title"]["text"] == "New"
    assert updated["view"]["hash"] != opened["hash"]
    assert emu.views("U0REP1")[0]["title"]["text"] == "New"
    gone = lambda: client.views_update(view_id="V0NOPE", view=modal())  # noqa: E731
    assert slack_error(gone)["error"] == "not_found"


def test_views_update_by_external_id(client: WebClient, emu: SlackEmulator) -> None:
    client.views_open(
        trigger_id=emu.mint_trigger("U0REP1"), view=modal(external_id="lead-42-reject")
    )

    client.views_update(
        external_id="lead-42-reject", view=modal("Renamed", external_id="lead-42-reject")
    )

    assert emu.views("U0REP1")[0]["title"]["text"] == "Renamed"


def test_push_limit_is_three_views(client: WebClient, emu: SlackEmulator) -> None:
    client.views_open(trigger_id=emu.mint_trigger("U0REP1"), view=modal())
    for _ in range(2):
        client.views_push(trigger_id=emu.mint_trigger("U0REP1"), view=modal())

    fourth = lambda: client.views_push(trigger_id=emu.mint_trigger("U0REP1"), view=modal())  # noqa: E731

    assert slack_error(fourth)["error"] == "push_limit_reached"
    assert len(emu.views("U0REP1")) == 3


def test_trigger_ids_are_single_use_and_expire_after_three_seconds(emu: SlackEmulator) -> None:
    now = [1_700_000_000.0]
    emu.clock = lambda: now[0]
    client = WebClient(base_url=emu.api_url, token=TOKEN)
    trigger = emu.mint_trigger("U0REP1")
    client.views_open(trigger_id=trigger, view=modal())

    reused = lambda: client.views_open(trigger_id=trigger, view=modal())  # noqa: E731
    assert slack_error(reused)["error"] == "exchanged_trigger_id"

    late = emu.mint_trigger("U0REP1")
    now[0] += 3.5
    expired = lambda: client.views_open(trigger_id=late, view=modal())  # noqa: E731
    assert slack_error(expired)["error"] == "expired_trigger_id"
    unknown = lambda: client.views_open(trigger_id="1.2.abc", view=modal())  # noqa: E731
    assert slack_error(unknown)["error"] == "invalid_trigger_id"
    missing = slack_error(lambda: client.api_call("views.open", json={"view": modal()}))
    assert missing["error"] == "invalid_arguments"
    assert missing["response_metadata"]["messages"] == [
        "[ERROR] missing required field: trigger_id"
    ]
    assert len(emu.views("U0REP1")) == 1


def test_views_publish_sets_each_users_home(client: WebClient, emu: SlackEmulator) -> None:
    home = {"type": "home", "blocks": [SECTION]}

    first = client.views_publish(user_id="U0REP1", view=home)["view"]
    again = client.views_publish(user_id="U0REP1", view={**home, "blocks": []}, hash=first["hash"])

    assert again["view"]["id"] == first["id"]
    assert emu.home_view("U0REP1")["blocks"] == []  # type: ignore[index]
    assert emu.home_view("U0REP2") is None
    as_modal = lambda: client.views_publish(user_id="U0REP1", view=modal())  # noqa: E731
    assert slack_error(as_modal)["error"] == "invalid_arguments"
    home_in_modal = lambda: client.views_open(trigger_id=emu.mint_trigger("U0REP1"), view=home)  # noqa: E731
    assert slack_error(home_in_modal)["error"] == "invalid_arguments"


# response_url ---------------------------------------------------------------------------------


def test_response_url_ephemeral_in_channel_replace_and_delete(
    client: WebClient, emu: SlackEmulator
) -> None:
    ts = client.chat_postMessage(channel="C0EMEA", text="alert", blocks=[SECTION])["ts"]
    url = emu.response_url(channel="C0EMEA", user="U0REP1", message_ts=ts)

    assert httpx.post(url, json={"text": "just you"}).status_code == 200
    assert [e.text for e in emu.ephemerals(user="U0REP1")] == ["just you"]
    httpx.post(url, json={"text": "everyone", "response_type": "in_channel"})
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["alert", "everyone"]
    httpx.post(url, json={"text": "accepted", "replace_original": True})
    assert emu.message(ts)["text"] == "accepted"
    assert "blocks" not in emu.message(ts)
    httpx.post(url, json={"delete_original": True})
    assert [m["text"] for m in emu.messages("C0EMEA")] == ["everyone"]
    assert [r.args.get("response_type") for r in emu.calls("response_url")] == [
        None,
        "in_channel",
        None,
        None,
    ]
    assert httpx.post(url, json={"text": "fifth use"}).status_code == 200
    assert httpx.post(url, json={"text": "sixth use"}).status_code == 404
    assert httpx.post(f"{emu.url}response/T0/nope", json={"text": "x"}).status_code == 404


# records --------------------------------------------------------------------------------------


def test_every_call_is_recorded_with_decoded_args_and_status(
    client: WebClient, emu: SlackEmulator
) -> None:
    client.chat_postMessage(channel="C0EMEA", text="x", blocks=[SECTION])
    slack_error(lambda: client.chat_postMessage(channel="C0NOPE", text="x"))

    ok, failed = emu.calls("chat.postMessage")
    assert ok.args["blocks"] == [SECTION]
    assert (ok.status, ok.ok) == (200, True)
    assert (failed.status, failed.ok) == (200, False)
    assert failed.response == {"ok": False, "error": "channel_not_found"}
    assert ok.time <= failed.time
