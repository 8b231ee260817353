"""Slack handlers in-process: leadbot's Bolt app dispatched directly (``app.dispatch(BoltRequest)``,
signed with the real algorithm), its Web API calls answered and recorded by
:class:`RecordingClient`. No server, no emulator, no polling: a click's listener has finished
when :meth:`InProcess.click` returns."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from bot.runtime import Runtime
from bot.slack.app import build_app
from bot.slack.payloads import screen
from emulators.slack.signing import signature

SECRET = "in-process-signing-secret"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    answer: dict[str, Any] | None = None


class RecordingClient:
    """Every Web API call any WebClient of this process makes, recorded and answered ``ok`` as
    Slack would. Installed on the WebClient class itself (:meth:`install`), since Bolt makes a
    client of its own for each request."""

    def __init__(self) -> None:
        self.recorded: list[Call] = []
        self._ids = itertools.count(1)

    def install(self, monkeypatch: Any) -> None:
        recorder = self

        def api_call(client: WebClient, api_method: str, **kwargs: Any) -> SlackResponse:
            return recorder.answer(client, api_method, kwargs)

        monkeypatch.setattr(WebClient, "api_call", api_call)

    def answer(self, client: WebClient, api_method: str, kwargs: dict[str, Any]) -> SlackResponse:
        args = {
            **(kwargs.get("json") or {}),
            **(kwargs.get("data") or {}),
            **(kwargs.get("params") or {}),
        }
        call = Call(api_method, args)
        self.recorded.append(call)
        n = next(self._ids)
        data: dict[str, Any] = {"ok": True}
        if api_method == "views.open":
            view = args.get("view")
            data["view"] = {
                "id": f"V{n:08d}",
                **(json.loads(view) if isinstance(view, str) else view or {}),
            }
        elif api_method in ("chat.postMessage", "chat.postEphemeral"):
            data.update(channel=args.get("channel"), ts=f"{time.time():.6f}", message_ts=str(n))
        elif api_method == "auth.test":
            data.update(user_id="UBOT", bot_id="BBOT", team_id="T1")
        call.answer = data
        return SlackResponse(
            client=client,
            http_verb="POST",
            api_url=api_method,
            req_args=kwargs,
            data=data,
            headers={},
            status_code=200,
        )

    def calls(self, method: str) -> list[Call]:
        return [c for c in self.recorded if c.method == method]


@dataclass
class Reply:
    status: int
    body: str

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class InProcess:
    runtime: Runtime
    app: App
    client: RecordingClient

    def _send(self, body: str, content_type: str) -> Reply:
        """Sign and screen as ``POST /slack/events`` does, then dispatch to Bolt."""
        stamp = str(int(time.time()))
        headers = {
            "content-type": [content_type],
            "x-slack-request-timestamp": [stamp],
            "x-slack-signature": [signature(SECRET, stamp, body.encode())],
        }
        parsed = json.loads(body) if content_type == "application/json" else None
        if parsed is not None and screen(parsed)[0].value != "pass":
            return Reply(200, "")
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        return Reply(response.status, response.body)

    def command(self, text: str, *, user: str, channel: str = "C0EMEA") -> Reply:
        fields = {
            "command": "/lead",
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "team_id": "T1",
            "trigger_id": "trigger-1",
            "response_url": "",
        }
        return self._send(urlencode(fields), "application/x-www-form-urlencoded")

    def click(self, action_id: str, value: str, *, user: str) -> Reply:
        payload = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": user},
            "trigger_id": "trigger-1",
            "container": {"type": "message"},
            "actions": [
                {"action_id": action_id, "block_id": "b", "value": value, "type": "button"}
            ],
        }
        return self._send(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def submit(
        self, view: dict[str, Any], values: dict[str, dict[str, Any]], *, user: str
    ) -> Reply:
        """Submit ``view`` (as views.open recorded it) with ``values`` by block id."""
        state = {block: {block: value} for block, value in values.items()}
        payload = {
            "type": "view_submission",
            "team": {"id": "T1"},
            "user": {"id": user},
            "view": {**view, "state": {"values": state}},
        }
        return self._send(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def notes(self, user: str) -> list[str]:
        """What the bot told ``user`` alone (DMs, as a click without a response_url gets them)."""
        return [
            c.args.get("text", "")
            for c in self.client.calls("chat.postMessage")
            if c.args.get("channel") == user
        ]


def in_process(runtime: Runtime, monkeypatch: Any) -> InProcess:
    recorder = RecordingClient()
    recorder.install(monkeypatch)
    app = build_app(
        runtime, WebClient(token="xoxb-in-process"), verify_token=False, finish_before_reply=True
    )
    return InProcess(runtime, app, recorder)
