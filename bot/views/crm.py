"""Messages about the CRM (to the marketing channel) and the CRM link on cards."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.views.text import clip, esc

SYSTEM_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}


def system_name(system: str | None) -> str:
    return SYSTEM_NAMES.get(system or "", system or "the CRM")


def write_gave_up(
    lead_id: int, email: str | None, system: str, what: str, error: str
) -> dict[str, Any]:
    name = system_name(system)
    who = esc(email) if email else f"lead {lead_id}"
    text = (
        f":warning: {name} did not take {esc(what)} for {who} (lead {lead_id}): "
        f"{esc(clip(error, 500))}. leadbot has stopped trying; `leadbot crm status` lists the "
        f"writes that failed."
    )
    return {
        "text": clip(f"{name} write given up for lead {lead_id}", 3000),
        "blocks": [SectionBlock(text=MarkdownTextObject(text=clip(text, 3000))).to_dict()],
    }


def crm_link(crm: dict[str, Any] | None) -> str | None:
    """``<url|Open in HubSpot>`` for a lead's CRM record, or None."""
    if not crm or not crm.get("url"):
        return None
    return f"<{crm['url']}|Open in {system_name(crm.get('system'))}>"
