"""What a POST to a ``response_url`` does, as Slack documents it.

``delete_original`` removes the message the interaction came from, ``replace_original`` edits
it, otherwise ``response_type`` decides: ``in_channel`` posts to the conversation, anything
else is an ephemeral message to the user. A URL works at most 5 times within 30 minutes.
"""

from __future__ import annotations

from typing import Any

from emulators.slack import blockkit
from emulators.slack.params import flag
from emulators.slack.workspace import (
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL_SECONDS,
    ResponseHook,
    Workspace,
)


def apply_response(ws: Workspace, hook_id: str, payload: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for one response_url POST; the caller holds the lock."""
    hook = ws.hooks.get(hook_id)
    if hook is None:
        return 404, {"ok": False, "error": "no_active_hooks"}
    if ws.clock() - hook.issued_at > RESPONSE_URL_TTL_SECONDS:
        return 404, {"ok": False, "error": "expired_url"}
    if hook.uses >= RESPONSE_URL_MAX_USES:
        return 404, {"ok": False, "error": "used_url"}
    if not isinstance(payload, dict):
        return 400, {"ok": False, "error": "invalid_payload"}
    hook.uses += 1
    if flag(payload.get("delete_original", False)):
        return _delete_original(ws, hook)
    text = payload.get("text")
    blocks = payload.get("blocks")
    if not text and not blocks:
        return 400, {"ok": False, "error": "no_text"}
    if blocks:
        errors = blockkit.validate_blocks(blocks)
        if errors:
            return 400, {"ok": False, "error": "invalid_blocks", "errors": errors}
    if flag(payload.get("replace_original", False)) and _replace_original(ws, hook, text, blocks):
        return 200, {"ok": True}
    channel = ws.channels.get(hook.channel_id)
    if payload.get("response_type") == "in_channel" and channel is not None:
        ws.store_message(
            channel,
            user=ws.bot_user_id,
            text=text,
            blocks=blocks or None,
            thread_ts=payload.get("thread_ts"),
        )
    else:
        ws.add_ephemeral(
            channel=hook.channel_id,
            user=hook.user_id,
            text=text,
            blocks=blocks or None,
            source="response_url",
            thread_ts=payload.get("thread_ts"),
        )
    return 200, {"ok": True}


def _delete_original(ws: Workspace, hook: ResponseHook) -> tuple[int, dict[str, Any]]:
    channel = ws.channels.get(hook.channel_id)
    if hook.message_ts and channel is not None:
        channel.messages = [m for m in channel.messages if m["ts"] != hook.message_ts]
        return 200, {"ok": True}
    if hook.ephemeral_id:
        ws.ephemerals = [e for e in ws.ephemerals if e.id != hook.ephemeral_id]
        return 200, {"ok": True}
    return 404, {"ok": False, "error": "message_not_found"}


def _replace_original(
    ws: Workspace, hook: ResponseHook, text: str | None, blocks: list[dict[str, Any]] | None
) -> bool:
    channel = ws.channels.get(hook.channel_id)
    message = ws.find_message(channel, hook.message_ts) if channel and hook.message_ts else None
    if message is not None:
        message["text"] = text or ""
        if blocks:
            message["blocks"] = ws.with_ids(blocks)
        else:
            message.pop("blocks", None)
        message["edited"] = {"user": ws.bot_user_id, "ts": ws.next_ts()}
        return True
    ephemeral = next((e for e in ws.ephemerals if e.id == hook.ephemeral_id), None)
    if ephemeral is not None:
        ephemeral.text = text
        ephemeral.blocks = blocks or None
        return True
    return False
