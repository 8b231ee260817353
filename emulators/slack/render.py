"""Block Kit and mrkdwn made readable for the sandbox's web page.

Pure functions: messages, views and text objects in, plain JSON-ready dicts out, with every
piece of text already turned into safe HTML (escaped first, then marked up), so the page only
has to place it. ``Names`` maps Slack IDs to what a mention shows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

EMOJI = {
    "arrows_counterclockwise": "\U0001f504",
    "clipboard": "\U0001f4cb",
    "inbox_tray": "\U0001f4e5",
    "leftwards_arrow_with_hook": "\u21a9\ufe0f",
    "moneybag": "\U0001f4b0",
    "no_entry": "\u26d4",
    "rotating_light": "\U0001f6a8",
    "seedling": "\U0001f331",
    "white_check_mark": "\u2705",
    "warning": "\u26a0\ufe0f",
    "x": "\u274c",
    "wave": "\U0001f44b",
    "tada": "\U0001f389",
}


@dataclass(frozen=True)
class Names:
    """Display names for mentions: ``users`` by user ID, ``channels`` by channel ID."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)


_TOKEN = re.compile(r"<([^<>\n]+)>")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")
_PRE = re.compile(r"```\n?(.+?)\n?```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


def _span(pattern_char: str, tag: str) -> tuple[re.Pattern[str], str]:
    c = re.escape(pattern_char)
    return (
        re.compile(rf"(?<![\w{c}]){c}(?=\S)([^{c}\n]*?\S){c}(?![\w{c}])"),
        rf"<{tag}>\1</{tag}>",
    )


_SPANS = [_span("*", "b"), _span("_", "i"), _span("~", "s")]


def _unslack(text: str) -> str:
    """Slack's three escapes back to characters (it sends ``&amp;`` ``&lt;`` ``&gt;``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _token_html(token: str, names: Names) -> str:
    """One ``<...>`` token: a mention, a channel, a special mention or a link."""
    target, _, label = _unslack(token).partition("|")
    if target.startswith("@"):
        user = target[1:]
        shown = names.users.get(user) or label or user
        return f'<span class="mention">@{html.escape(shown)}</span>'
    if target.startswith("#"):
        channel = target[1:]
        shown = names.channels.get(channel) or label or channel
        return f'<span class="mention">#{html.escape(shown)}</span>'
    if target.startswith("!"):
        special = target[1:].split("^", 1)[0]
        if special.startswith("date"):
            return html.escape(label or target)
        if special.startswith("subteam"):
            return f'<span class="mention">{html.escape(label or "@group")}</span>'
        return f'<span class="mention">@{html.escape(label or special)}</span>'
    if re.match(r"^(https?|mailto):", target):
        return (
            f'<a href="{html.escape(target, quote=True)}" target="_blank" rel="noopener">'
            f"{html.escape(label or target.removeprefix('mailto:'))}</a>"
        )
    return html.escape(f"<{token}>")


def mrkdwn_html(text: str, names: Names | None = None) -> str:
    """Slack mrkdwn as safe HTML: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes,
    :emoji:, mentions (<@U…>, <#C…>, <!here>), links (<url|text>) and line breaks."""
    names = names or Names()
    saved: list[str] = []

    def keep(fragment: str) -> str:
        saved.append(fragment)
        return f"\x00{len(saved) - 1}\x00"

    text = _TOKEN.sub(lambda m: keep(_token_html(m.group(1), names)), text)
    text = html.escape(_unslack(text), quote=False)
    text = _PRE.sub(lambda m: keep(f"<pre>{m.group(1)}</pre>"), text)
    text = _CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), text)
    for pattern, replacement in _SPANS:
        text = pattern.sub(replacement, text)
    text = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    lines = []
    for line in text.split("\n"):
        if line.startswith("&gt; ") or line == "&gt;":
            line = f"<q>{line[5:]}</q>"
        lines.append(line)
    text = "<br>".join(lines)
    # Restore the newest first: a code span may hold a mention saved before it.
    while _PLACEHOLDER.search(text):
        text = _PLACEHOLDER.sub(lambda m: saved[int(m.group(1))], text)
    return text


def plain_html(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>")


def text_html(obj: Any, names: Names | None = None) -> str:
    """A Block Kit text object (or a bare string) as HTML."""
    if isinstance(obj, str):
        return mrkdwn_html(obj, names)
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_html(text, names)
    return _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), plain_html(text))


def _plain(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else str(obj or "")


# blocks ---------------------------------------------------------------------------------------


def _button(block: dict[str, Any], element: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "button",
        "label": _plain(element.get("text")),
        "action_id": element.get("action_id", ""),
        "block_id": block.get("block_id", ""),
        "style": element.get("style") or "",
        "url": element.get("url") or "",
    }


def _options(element: dict[str, Any]) -> list[dict[str, str]]:
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    return [{"value": str(o.get("value", "")), "text": _plain(o.get("text"))} for o in options]


def _current(element: dict[str, Any], state: Mapping[str, Any] | None) -> Any:
    """The element's value: from the view's submitted state when there is one, else initial."""
    if state:
        kind = element.get("type")
        if kind in ("static_select", "radio_buttons", "external_select"):
            selected = state.get("selected_option")
            return selected.get("value") if isinstance(selected, dict) else None
        if kind in ("checkboxes", "multi_static_select"):
            return [o.get("value") for o in state.get("selected_options") or []]
        for key in ("selected_user", "selected_date", "selected_time", "selected_conversation"):
            if key in state:
                return state[key]
        if "selected_users" in state:
            return state["selected_users"]
        if "value" in state:
            return state["value"]
    kind = element.get("type")
    if "initial_option" in element:
        return element["initial_option"].get("value")
    if "initial_options" in element:
        return [o.get("value") for o in element["initial_options"]]
    for key in (
        "initial_value",
        "initial_date",
        "initial_time",
        "initial_user",
        "initial_users",
        "initial_conversation",
    ):
        if key in element:
            return element[key]
    return [] if kind and kind.startswith("multi_") else None


def _input(
    block: dict[str, Any], state: Mapping[str, Any], errors: Mapping[str, str]
) -> dict[str, Any]:
    element = block.get("element") or {}
    block_id = str(block.get("block_id", ""))
    action_id = str(element.get("action_id", ""))
    value = _current(element, (state.get(block_id) or {}).get(action_id))
    return {
        "type": "input",
        "block_id": block_id,
        "action_id": action_id,
        "label": _plain(block.get("label")),
        "hint": _plain(block.get("hint")) if block.get("hint") else "",
        "optional": bool(block.get("optional")),
        "error": errors.get(block_id, ""),
        "element": {
            "type": element.get("type", ""),
            "options": _options(element),
            "multiline": bool(element.get("multiline")),
            "placeholder": _plain(element.get("placeholder")) if element.get("placeholder") else "",
            "value": value,
        },
    }


def render_blocks(
    blocks: list[dict[str, Any]] | None,
    names: Names | None = None,
    *,
    state: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Each block as ``{"type": ..., ...}`` with HTML text, buttons and form inputs.

    ``state`` is a view's ``state.values`` (what was last submitted) and ``errors`` its inline
    errors by block_id, both only for modals.
    """
    names = names or Names()
    state = state or {}
    errors = errors or {}
    out: list[dict[str, Any]] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind == "header":
            out.append({"type": "header", "html": text_html(block.get("text"), names)})
        elif kind == "section":
            accessory = block.get("accessory")
            buttons = []
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                buttons = [_button(block, accessory)]
            out.append(
                {
                    "type": "section",
                    "html": text_html(block.get("text"), names) if block.get("text") else "",
                    "fields": [text_html(f, names) for f in block.get("fields", [])],
                    "buttons": buttons,
                }
            )
        elif kind == "context":
            parts = [
                text_html(e, names)
                for e in block.get("elements", [])
                if isinstance(e, dict) and e.get("type") != "image"
            ]
            out.append({"type": "context", "html": " ".join(parts)})
        elif kind == "divider":
            out.append({"type": "divider"})
        elif kind == "actions":
            out.append(
                {
                    "type": "actions",
                    "buttons": [
                        _button(block, e)
                        for e in block.get("elements", [])
                        if isinstance(e, dict) and e.get("type") == "button"
                    ],
                }
            )
        elif kind == "input":
            out.append(_input(block, state, errors))
        elif kind == "image":
            alt = html.escape(str(block.get("alt_text", "")))
            out.append({"type": "context", "html": f"[image: {alt}]"})
        elif kind == "markdown":
            out.append(
                {
                    "type": "section",
                    "html": mrkdwn_html(str(block.get("text", ""))),
                    "fields": [],
                    "buttons": [],
                }
            )
        else:
            out.append({"type": "context", "html": f"[{html.escape(str(kind))} block]"})
    return out


# messages and views ---------------------------------------------------------------------------


def _when(ts: str) -> str:
    try:
        return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError):
        return ""


def render_message(message: Mapping[str, Any], names: Names | None = None) -> dict[str, Any]:
    names = names or Names()
    user = str(message.get("user", ""))
    blocks = message.get("blocks")
    return {
        "ts": str(message.get("ts", "")),
        "user": user,
        "author": names.users.get(user, user),
        "is_bot": "bot_id" in message,
        "when": _when(str(message.get("ts", ""))),
        "edited": "edited" in message,
        "blocks": render_blocks(blocks, names) if blocks else [],
        "html": "" if blocks else mrkdwn_html(str(message.get("text", "")), names),
        "replies": [],
    }


def render_conversation(
    messages: Sequence[Mapping[str, Any]], names: Names | None = None
) -> list[dict[str, Any]]:
    """Top-level messages oldest first, each with its thread replies under ``replies``."""
    roots: list[dict[str, Any]] = []
    by_ts: dict[str, dict[str, Any]] = {}
    for message in messages:
        rendered = render_message(message, names)
        thread_ts = message.get("thread_ts")
        parent = by_ts.get(str(thread_ts)) if thread_ts and thread_ts != message["ts"] else None
        if parent is not None:
            parent["replies"].append(rendered)
        else:
            roots.append(rendered)
            by_ts[rendered["ts"]] = rendered
    return roots


def render_view(
    view: Mapping[str, Any] | None,
    names: Names | None = None,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """A modal or App Home view; ``errors`` are the inline errors of the last submission."""
    if not view:
        return None
    return {
        "id": view.get("id"),
        "type": view.get("type"),
        "hash": view.get("hash"),
        "callback_id": view.get("callback_id", ""),
        "title": _plain(view.get("title")),
        "submit": _plain(view.get("submit")) if view.get("submit") else "",
        "close": _plain(view.get("close")) if view.get("close") else "Cancel",
        "blocks": render_blocks(
            view.get("blocks"),
            names,
            state=(view.get("state") or {}).get("values") or {},
            errors=errors or {},
        ),
        "errors": dict(errors or {}),
    }
