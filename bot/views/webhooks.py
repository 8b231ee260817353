"""Messages about webhook endpoints (to the marketing channel)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.views.text import clip, esc


def endpoint_disabled(endpoint_id: int, url: str, reason: str) -> dict[str, Any]:
    text = (
        f":warning: Webhook {endpoint_id} (`{esc(clip(url, 300))}`) is disabled: {esc(reason)}. "
        f"It gets no new events. Once the receiver is fixed, `leadbot webhook retry "
        f"{endpoint_id}` enables it again and sends what is still undelivered."
    )
    return {
        "text": clip(f"Webhook {endpoint_id} disabled", 3000),
        "blocks": [SectionBlock(text=MarkdownTextObject(text=clip(text, 3000))).to_dict()],
    }
