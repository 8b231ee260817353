"""What Slack sends, checked once at the edge before Bolt or a listener sees it.

Slack documents the shape of every request it sends; a signed body that is not one of those
shapes (a payload that is a list, an event that is a string, a click without a user) never
reaches a listener. And Slack itself sends requests the bot has no listener for (event types
added later, ``view_closed``, other slash commands): those are acknowledged with 200 and
nothing else, instead of Bolt's "unhandled request" 404.

:data:`screen` sorts a parsed body into one of three: ``PASS`` (Bolt takes it), ``IGNORE``
(200, nothing to do) or ``MALFORMED`` (200 and one log line: Slack must not retry it). Only the
fields the bot reads are checked; anything else Slack adds is let through as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.views import ids

#: The slash commands, buttons, forms and events the bot has listeners for.
COMMANDS = frozenset({"/lead"})
ACTIONS = frozenset(
    {ids.ACCEPT, ids.REJECT, ids.QUALIFY, ids.OPPORTUNITY, ids.ASSIGN, ids.NURTURE, ids.SNOOZE}
)
VIEWS = frozenset({ids.REJECT_VIEW, ids.BANT_VIEW, ids.OPPORTUNITY_VIEW, ids.ASSIGN_VIEW})
EVENTS = frozenset({"app_home_opened"})

UserId = Field(min_length=1, max_length=40, pattern=r"^[UW][A-Z0-9]+$")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(_Shape):
    id: str = UserId


class SlashCommand(_Shape):
    command: str
    text: str = ""
    user_id: str = UserId
    channel_id: str = Field(min_length=1)
    trigger_id: str = Field(min_length=1)
    response_url: str = Field(min_length=1)


class Action(_Shape):
    action_id: str
    value: str | None = None  # a lead id for the lead buttons; the listener checks it names one


class BlockActions(_Shape):
    type: Literal["block_actions"]
    user: User
    actions: list[Action] = Field(min_length=1)
    trigger_id: str | None = None
    response_url: str | None = None
    container: dict[str, Any] | None = None


class ViewState(_Shape):
    values: dict[str, dict[str, dict[str, Any]]]


class View(_Shape):
    id: str = Field(min_length=1)
    callback_id: str
    state: ViewState
    external_id: str | None = None


class ViewSubmission(_Shape):
    type: Literal["view_submission"]
    user: User
    view: View


class Event(_Shape):
    type: str


class HomeOpened(Event):
    user: str = UserId
    tab: str = "home"


class EventCallback(_Shape):
    type: Literal["event_callback"]
    event: Event


class Verdict(Enum):
    PASS = "pass"
    IGNORE = "ignore"
    MALFORMED = "malformed"


class Unreadable(ValueError):
    """The body is not text Slack could have sent (bad UTF-8, not JSON, nested past reason)."""


def parse(raw: bytes, content_type: str | None) -> Any:
    """The body as Bolt would read it (form fields, a form's JSON ``payload``, or JSON)."""
    try:
        text = raw.decode("utf-8")
        if not text:
            return {}
        if content_type == "application/json" or text.lstrip().startswith(("{", "[")):
            return json.loads(text)
        fields = dict(parse_qsl(text, keep_blank_values=True))
        return json.loads(fields["payload"]) if "payload" in fields else fields
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {str(exc)[:120]}") from None


@dataclass(frozen=True)
class Screen:
    """The listeners an app has: what :meth:`__call__` lets through to Bolt."""

    commands: frozenset[str] = COMMANDS
    actions: frozenset[str] = ACTIONS
    views: frozenset[str] = VIEWS
    events: frozenset[str] = EVENTS

    def __call__(self, body: Any) -> tuple[Verdict, str]:
        """What to do with a parsed body, and why (for the log line of a malformed one)."""
        if not isinstance(body, dict):
            return Verdict.MALFORMED, f"the body is {type(body).__name__}, not an object"
        kind = body.get("type")
        try:
            return self._screen(body, kind)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "body"
            return Verdict.MALFORMED, f"{kind or 'command'}: {where}: {first.get('msg')}"

    def _screen(self, body: dict[str, Any], kind: Any) -> tuple[Verdict, str]:
        if "command" in body and kind is None:
            if body.get("command") not in self.commands:
                return Verdict.IGNORE, "a slash command the app does not have"
            SlashCommand.model_validate(body)
        elif kind == "block_actions":
            click = BlockActions.model_validate(body)
            if click.actions[0].action_id not in self.actions:
                return Verdict.IGNORE, "a button the app has no listener for"
        elif kind == "view_submission":
            view = body.get("view")
            if not isinstance(view, dict) or view.get("callback_id") not in self.views:
                return Verdict.IGNORE, "a form the app did not open"
            ViewSubmission.model_validate(body)
        elif kind == "event_callback":
            event = EventCallback.model_validate(body).event
            if event.type not in self.events:
                return Verdict.IGNORE, f"an event the app does not use ({event.type[:40]})"
            if event.type == "app_home_opened":
                HomeOpened.model_validate(body["event"])
        elif kind == "url_verification" or body.get("ssl_check"):
            return Verdict.PASS, "Slack's own check"
        else:
            return Verdict.IGNORE, f"a request type the app does not use ({str(kind)[:40]})"
        return Verdict.PASS, "ok"


#: leadbot's own listeners.
screen = Screen()
