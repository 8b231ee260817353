"""The bodies Slack sends to an app: slash commands, interactions and Events API envelopes.

Pure functions over plain data (the workspace supplies team and user details), shaped as in
Slack's documentation so Bolt parses them exactly as it parses the real thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    """Who and where: what every payload repeats about the team and the acting user."""

    team_id: str
    team_domain: str
    api_app_id: str
    verification_token: str
    user_id: str
    user_name: str


def _user(who: Identity) -> dict[str, Any]:
    return {
        "id": who.user_id,
        "username": who.user_name,
        "name": who.user_name,
        "team_id": who.team_id,
    }


def _team(who: Identity) -> dict[str, Any]:
    return {"id": who.team_id, "domain": who.team_domain}


_MENTION = re.compile(r"<[@#!][^<>]*>")


def escape_command_text(text: str) -> str:
    """Slack sends a command's text with &, < and > as HTML entities, except inside the
    mentions it writes itself (``<@U123|name>``, ``<#C123|name>``), which stay as they are."""
    out, last = [], 0
    for match in _MENTION.finditer(text):
        out.append(_escape(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slash_command(
    who: Identity,
    *,
    command: str,
    text: str,
    channel_id: str,
    channel_name: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, str]:
    """Form fields of a slash command request."""
    return {
        "token": who.verification_token,
        "team_id": who.team_id,
        "team_domain": who.team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": who.user_id,
        "user_name": who.user_name,
        "command": command,
        "text": escape_command_text(text),
        "api_app_id": who.api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


# finding interactive elements -----------------------------------------------------------------


def iter_elements(blocks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(block, element) for every interactive element, in display order."""
    for block in blocks:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                yield block, element
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            yield block, block["accessory"]
        elif block.get("type") == "input" and isinstance(block.get("element"), dict):
            yield block, block["element"]


def _label(element: Mapping[str, Any]) -> str | None:
    text = element.get("text")
    return text.get("text") if isinstance(text, dict) else None


def find_button(
    blocks: list[dict[str, Any]], wanted: str, block_id: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (block, button) whose visible text or action_id is ``wanted`` (in the block
    ``block_id``, when given: several blocks may repeat an action_id)."""
    buttons = [
        (b, e)
        for b, e in iter_elements(blocks)
        if e.get("type") == "button" and block_id in (None, b.get("block_id"))
    ]
    for block, element in buttons:
        if _label(element) == wanted or element.get("action_id") == wanted:
            return block, element
    shown = [_label(e) or e.get("action_id") for _, e in buttons]
    raise LookupError(f"no button {wanted!r}; buttons here: {shown}")


def button_action(block: dict[str, Any], element: dict[str, Any], action_ts: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_id": element.get("action_id", ""),
        "block_id": block.get("block_id", ""),
        "text": element.get("text"),
        "type": "button",
        "action_ts": action_ts,
    }
    if "value" in element:
        action["value"] = element["value"]
    if "style" in element:
        action["style"] = element["style"]
    return action


def block_actions(
    who: Identity,
    *,
    actions: list[dict[str, Any]],
    trigger_id: str,
    container: dict[str, Any],
    state_values: dict[str, Any],
    channel: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    response_url: str | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(who),
        "api_app_id": who.api_app_id,
        "token": who.verification_token,
        "container": container,
        "trigger_id": trigger_id,
        "team": _team(who),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": state_values},
        "actions": actions,
    }
    if channel is not None:
        payload["channel"] = channel
    if message is not None:
        payload["message"] = message
    if view is not None:
        payload["view"] = view
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def view_submission(
    who: Identity, *, view: dict[str, Any], state_values: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": _team(who),
        "user": _user(who),
        "api_app_id": who.api_app_id,
        "token": who.verification_token,
        "trigger_id": trigger_id,
        "view": {**view, "state": {"values": state_values}},
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }


def event_callback(
    who: Identity, *, event: dict[str, Any], event_id: str, event_time: int, bot_user_id: str
) -> dict[str, Any]:
    return {
        "token": who.verification_token,
        "team_id": who.team_id,
        "api_app_id": who.api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": who.team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def url_verification(verification_token: str, challenge: str) -> dict[str, Any]:
    return {"token": verification_token, "challenge": challenge, "type": "url_verification"}


# input values ---------------------------------------------------------------------------------


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    return options


def _option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The option whose value (or visible text) is ``value``, as Slack echoes it back."""
    for option in _options(element):
        text = option.get("text", {}).get("text")
        if option.get("value") == value or text == value:
            return option
    choices = [o.get("value") for o in _options(element)]
    raise LookupError(f"no option {value!r} in {element.get('action_id')!r}; options: {choices}")


def element_value(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """``state.values[block_id][action_id]`` for an element given a plain Python value."""
    kind = element.get("type")
    state: dict[str, Any] = {"type": kind}
    if kind in ("plain_text_input", "email_text_input", "url_text_input") or kind == "number_input":
        state["value"] = None if value is None else str(value)
    elif kind in ("static_select", "radio_buttons", "external_select"):
        state["selected_option"] = None if value is None else _option(element, value)
    elif kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        values = [] if value is None else value if isinstance(value, list | tuple) else [value]
        state["selected_options"] = [_option(element, v) for v in values]
    elif kind == "users_select":
        state["selected_user"] = value
    elif kind == "multi_users_select":
        state["selected_users"] = list(value or [])
    elif kind in ("conversations_select", "channels_select"):
        key = "selected_conversation" if kind == "conversations_select" else "selected_channel"
        state[key] = value
    elif kind in ("multi_conversations_select", "multi_channels_select"):
        key = "selected_conversations" if "conversations" in kind else "selected_channels"
        state[key] = list(value or [])
    elif kind == "datepicker":
        state["selected_date"] = value
    elif kind == "timepicker":
        state["selected_time"] = value
    elif kind == "datetimepicker":
        state["selected_date_time"] = value
    else:
        state["value"] = value
    return state


def initial_value(element: dict[str, Any]) -> Any:
    """The value an element starts with when the user does not touch it."""
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons") and "initial_option" in element:
        return element["initial_option"].get("value")
    if kind in ("checkboxes", "multi_static_select"):
        return [o.get("value") for o in element.get("initial_options", [])]
    for key in (
        "initial_value",
        "initial_date",
        "initial_time",
        "initial_user",
        "initial_date_time",
    ):
        if key in element:
            return element[key]
    return None


def state_values(blocks: list[dict[str, Any]], given: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's ``state.values`` for the input elements of ``blocks``.

    ``given`` is keyed by block_id or action_id; a select takes the option's value (or text).
    Keys that match no input are an error, so a typo cannot pass silently.
    """
    values: dict[str, Any] = {}
    used: set[str] = set()
    for block, element in iter_elements(blocks):
        if element.get("type") in ("button", "overflow"):
            continue
        block_id = block.get("block_id", "")
        action_id = element.get("action_id", "")
        if block_id in given:
            value, key = given[block_id], block_id
        elif action_id in given:
            value, key = given[action_id], action_id
        else:
            value, key = initial_value(element), None
        if key is not None:
            used.add(key)
        values.setdefault(block_id, {})[action_id] = element_value(element, value)
    unknown = set(given) - used
    if unknown:
        raise LookupError(f"no input with block_id or action_id {sorted(unknown)}")
    return values
