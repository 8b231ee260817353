"""Slack's requests to the app, and what Slack makes of the app's replies.

``AppConnection`` signs and POSTs slash commands, interactions and events to the app's
request URL, then applies the reply the way Slack does: a command's body becomes an ephemeral
(or in-channel) message, a view_submission's ``response_action`` updates, pushes, clears or
keeps the modal with inline errors, and an empty 200 closes it.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from emulators.slack import blockkit, payloads, signing
from emulators.slack.emulator import SlackEmulator
from emulators.slack.webapi import MAX_PUSHED_VIEWS
from emulators.slack.workspace import Ephemeral, Message

# Slack waits this long for an app to acknowledge a request.
ACK_TIMEOUT_SECONDS = 3.0


@dataclass
class AppReply:
    """The app's raw HTTP answer to one request."""

    status: int
    body: str
    payload: dict[str, Any]
    error: str | None = None  # Slack's word for a failed delivery, e.g. "operation_timeout"

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


@dataclass
class CommandReply(AppReply):
    trigger_id: str = ""
    response_url: str = ""
    ephemeral: Ephemeral | None = None
    message: Message | None = None  # the in_channel reply, if that is what the app sent
    problems: list[str] = field(default_factory=list)  # Block Kit errors in the reply

    @property
    def text(self) -> str | None:
        if self.ephemeral is not None:
            return self.ephemeral.text
        return self.message.get("text") if self.message is not None else None

    @property
    def blocks(self) -> list[dict[str, Any]] | None:
        if self.ephemeral is not None:
            return self.ephemeral.blocks
        return self.message.get("blocks") if self.message is not None else None


@dataclass
class ActionReply(AppReply):
    trigger_id: str = ""
    response_url: str | None = None


@dataclass
class SubmissionReply(AppReply):
    """``view`` is the modal on top after the reply, ``None`` once every modal is closed."""

    sent: bool = True  # False when Slack's client refused to send (a required input is empty)
    response_action: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    view: dict[str, Any] | None = None
    closed: bool = False
    problems: list[str] = field(default_factory=list)


class AppConnection:
    def __init__(
        self,
        emulator: SlackEmulator,
        request_url: str,
        *,
        signing_secret: str | None = None,
        timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> None:
        self.emulator = emulator
        self.request_url = request_url
        self.signing_secret = signing_secret or emulator.signing_secret
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    # transport -------------------------------------------------------------------------------

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> tuple[int, str, str | None]:
        """Signed POST to the app: (status, body, delivery error or None)."""
        ts = int(time.time()) if timestamp is None else timestamp
        headers = signing.signed_headers(self.signing_secret, ts, body, content_type)
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        try:
            response = self._http.post(self.request_url, content=body.encode(), headers=headers)
        except httpx.TimeoutException:
            return 0, "", "operation_timeout"
        except httpx.TransportError:
            return 0, "", "dispatch_failed"
        error = None if response.status_code == 200 else "http_service_error"
        return response.status_code, response.text, error

    def post_form(
        self, fields: dict[str, str], **signing_overrides: Any
    ) -> tuple[int, str, str | None]:
        return self.post(
            urlencode(fields), "application/x-www-form-urlencoded", **signing_overrides
        )

    def post_interaction(
        self, payload: dict[str, Any], **signing_overrides: Any
    ) -> tuple[int, str, str | None]:
        return self.post_form({"payload": json.dumps(payload)}, **signing_overrides)

    def post_event(
        self, envelope: dict[str, Any], **signing_overrides: Any
    ) -> tuple[int, str, str | None]:
        return self.post(json.dumps(envelope), "application/json", **signing_overrides)

    def _identity(self, user: str) -> payloads.Identity:
        ws = self.emulator.workspace
        with ws.lock:
            found = ws.users.get(user)
            if found is None:
                raise LookupError(f"no user {user!r}; add it with add_user()")
            return payloads.Identity(
                team_id=ws.team_id,
                team_domain=ws.team_domain,
                api_app_id=ws.app_id,
                verification_token=self.emulator.verification_token,
                user_id=found.id,
                user_name=found.name,
            )

    def _changed(self) -> None:
        with self.emulator.api.changed:
            self.emulator.api.changed.notify_all()

    # slash commands --------------------------------------------------------------------------

    def command(
        self, command: str, text: str, *, user: str, channel: str, **signing_overrides: Any
    ) -> CommandReply:
        who = self._identity(user)
        ws = self.emulator.workspace
        with ws.lock:
            found = ws.find_channel(channel)
            if found is None:
                raise LookupError(f"no channel {channel!r}")
            channel_id, channel_name = found.id, ("directmessage" if found.is_im else found.name)
        trigger_id = self.emulator.mint_trigger(user)
        response_url = self.emulator.response_url(channel=channel_id, user=user)
        fields = payloads.slash_command(
            who,
            command=command,
            text=text,
            channel_id=channel_id,
            channel_name=channel_name,
            response_url=response_url,
            trigger_id=trigger_id,
        )
        status, body, error = self.post_form(fields, **signing_overrides)
        reply = CommandReply(
            status, body, fields, error, trigger_id=trigger_id, response_url=response_url
        )
        if reply.ok and body.strip():
            self._apply_command_reply(reply, channel_id=channel_id, user=user)
        return reply

    def _apply_command_reply(self, reply: CommandReply, *, channel_id: str, user: str) -> None:
        try:
            answer = json.loads(reply.body)
        except ValueError:
            answer = {"text": reply.body}
        if not isinstance(answer, dict):
            answer = {"text": reply.body}
        text, blocks = answer.get("text"), answer.get("blocks")
        if blocks:
            reply.problems = blockkit.validate_blocks(blocks)
        if (not text and not blocks) or reply.problems:
            return
        ws = self.emulator.workspace
        with ws.lock:
            if answer.get("response_type") == "in_channel":
                stored = ws.store_message(
                    ws.channels[channel_id], user=ws.bot_user_id, text=text, blocks=blocks
                )
                reply.message = copy.deepcopy(stored)
            else:
                reply.ephemeral = ws.add_ephemeral(
                    channel=channel_id, user=user, text=text, blocks=blocks, source="command_reply"
                )
        self._changed()

    # block_actions ---------------------------------------------------------------------------

    def click_message(
        self,
        message: Message | Ephemeral,
        button: str,
        *,
        user: str,
        block_id: str | None = None,
        **signing_overrides: Any,
    ) -> ActionReply:
        """Click a button in a channel message (found by its ``ts``) or an ephemeral message."""
        who = self._identity(user)
        ws = self.emulator.workspace
        with ws.lock:
            if isinstance(message, Ephemeral):
                current: Message = {
                    "type": "message",
                    "text": message.text or "",
                    "blocks": message.blocks or [],
                    "ts": message.ts,
                }
                channel = ws.channels[message.channel]
                ephemeral_id: str | None = message.id
            else:
                located = ws.locate_message(message["ts"])
                if located is None:
                    raise LookupError(f"no message {message['ts']!r}")
                channel, stored = located
                current, ephemeral_id = copy.deepcopy(stored), None
            block, element = payloads.find_button(current.get("blocks", []), button, block_id)
            action = payloads.button_action(block, element, ws.next_ts())
            values = payloads.state_values(current.get("blocks", []), {})
        trigger_id = self.emulator.mint_trigger(user)
        response_url = self.emulator.response_url(
            channel=channel.id,
            user=user,
            message_ts=None if ephemeral_id else current["ts"],
            ephemeral_id=ephemeral_id,
        )
        container = {
            "type": "message",
            "message_ts": current["ts"],
            "channel_id": channel.id,
            "is_ephemeral": ephemeral_id is not None,
        }
        payload = payloads.block_actions(
            who,
            actions=[action],
            trigger_id=trigger_id,
            container=container,
            state_values=values,
            channel={"id": channel.id, "name": "directmessage" if channel.is_im else channel.name},
            message=current,
            response_url=response_url,
        )
        status, body, error = self.post_interaction(payload, **signing_overrides)
        return ActionReply(
            status, body, payload, error, trigger_id=trigger_id, response_url=response_url
        )

    def click_view(
        self,
        view: dict[str, Any],
        button: str,
        *,
        user: str,
        block_id: str | None = None,
        **signing_overrides: Any,
    ) -> ActionReply:
        """Click a button in a modal or App Home view."""
        who = self._identity(user)
        ws = self.emulator.workspace
        with ws.lock:
            current = ws.views.get(view["id"])
            if current is None:
                raise LookupError(f"no view {view['id']!r}")
            current = copy.deepcopy(current)
            block, element = payloads.find_button(current["blocks"], button, block_id)
            action = payloads.button_action(block, element, ws.next_ts())
        trigger_id = self.emulator.mint_trigger(user)
        payload = payloads.block_actions(
            who,
            actions=[action],
            trigger_id=trigger_id,
            container={"type": "view", "view_id": current["id"]},
            state_values=current["state"]["values"],
            view=current,
        )
        status, body, error = self.post_interaction(payload, **signing_overrides)
        return ActionReply(status, body, payload, error, trigger_id=trigger_id)

    # view_submission -------------------------------------------------------------------------

    def submit(
        self,
        view: dict[str, Any],
        values: dict[str, Any] | None = None,
        *,
        user: str,
        **signing_overrides: Any,
    ) -> SubmissionReply:
        """Submit the user's top modal with ``values`` keyed by block_id or action_id."""
        who = self._identity(user)
        ws = self.emulator.workspace
        with ws.lock:
            stack = ws.modal_stacks.get(user, [])
            if not stack or stack[-1] != view["id"]:
                raise LookupError(f"view {view['id']!r} is not the top open modal of {user}")
            current = copy.deepcopy(ws.views[view["id"]])
            state = payloads.state_values(current["blocks"], values or {})
            ws.views[current["id"]]["state"] = {"values": state}
            current["state"] = {"values": state}
        missing = _required_but_empty(current["blocks"], state)
        if missing:
            errors = {block_id: "Please complete this required field." for block_id in missing}
            return SubmissionReply(0, "", {}, None, sent=False, errors=errors, view=current)
        trigger_id = self.emulator.mint_trigger(user)
        payload = payloads.view_submission(
            who, view=current, state_values=state, trigger_id=trigger_id
        )
        status, body, error = self.post_interaction(payload, **signing_overrides)
        reply = SubmissionReply(status, body, payload, error, view=current)
        if reply.ok:
            self._apply_submission_reply(reply, user=user, view_id=current["id"])
        return reply

    def _apply_submission_reply(self, reply: SubmissionReply, *, user: str, view_id: str) -> None:
        ws = self.emulator.workspace
        answer: Any = None
        if reply.body.strip():
            try:
                answer = json.loads(reply.body)
            except ValueError:
                reply.problems = ["the reply is neither empty nor JSON"]
                return
        action = answer.get("response_action") if isinstance(answer, dict) else None
        reply.response_action = action
        with ws.lock:
            if action is None:
                ws.close_top_modal(user)
            elif action == "errors":
                reply.errors = dict(answer.get("errors") or {})
            elif action == "clear":
                ws.close_all_modals(user)
            elif action in ("update", "push"):
                new_view = answer.get("view")
                reply.problems = blockkit.validate_view(new_view)
                stack = ws.modal_stacks.get(user, [])
                if action == "push" and len(stack) >= MAX_PUSHED_VIEWS:
                    reply.problems.append("push_limit_reached")
                if not reply.problems and action == "update":
                    ws.replace_view(view_id, new_view)
                elif not reply.problems:
                    pushed = ws.store_view(new_view, user_id=user, root_view_id=stack[0])
                    pushed["previous_view_id"] = stack[-1]
                    stack.append(pushed["id"])
            else:
                reply.problems = [f"unknown response_action: {action}"]
            top = ws.open_modals(user)
            reply.view = copy.deepcopy(top[-1]) if top else None
            reply.closed = not top
        self._changed()

    # events ----------------------------------------------------------------------------------

    def event(self, event_type: str, **fields: Any) -> AppReply:
        """An Events API ``event_callback``; ``app_home_opened`` gets its channel, tab and view."""
        ws = self.emulator.workspace
        user = fields.get("user")
        who = self._identity(user or ws.bot_user_id)
        with ws.lock:
            event: dict[str, Any] = {"type": event_type, **fields}
            if event_type == "app_home_opened" and user:
                event.setdefault("channel", ws.open_im(user).id)
                event.setdefault("tab", "home")
                home_id = ws.home_views.get(user)
                if home_id is not None:
                    event.setdefault("view", copy.deepcopy(ws.views[home_id]))
            event.setdefault("event_ts", ws.next_ts())
            envelope = payloads.event_callback(
                who,
                event=event,
                event_id=f"Ev{ws.count('event'):08d}",
                event_time=int(ws.clock()),
                bot_user_id=ws.bot_user_id,
            )
        status, body, error = self.post_event(envelope)
        return AppReply(status, body, envelope, error)

    def url_verification(self, challenge: str) -> AppReply:
        envelope = payloads.url_verification(self.emulator.verification_token, challenge)
        status, body, error = self.post_event(envelope)
        reply = AppReply(status, body, envelope, error)
        answer = reply.json() if reply.ok and body.strip().startswith("{") else None
        echoed = answer.get("challenge") if isinstance(answer, dict) else body.strip()
        if reply.ok and echoed != challenge:
            reply.error = "challenge_mismatch"
        return reply


def _required_but_empty(blocks: list[dict[str, Any]], state: dict[str, Any]) -> list[str]:
    missing = []
    for block in blocks:
        if block.get("type") != "input" or block.get("optional"):
            continue
        element = block.get("element", {})
        value = state.get(block.get("block_id", ""), {}).get(element.get("action_id", ""), {})
        filled = [v for k, v in value.items() if k != "type" and v not in (None, "", [])]
        if not filled:
            missing.append(block.get("block_id", ""))
    return missing
