"""Personal data, the one map: every column of every table says whether it can hold personal data
about a lead, and what an erase does with it. Erase, export and retention read this map
(``core.services.privacy``); a test fails when a column is added without a line here.

Three kinds of column:
- :class:`LeadData`: can hold personal data about the lead (the person marketing sent us), with
  what an erase does to it (``clear``: set to nothing; ``scrub``: rewritten without the person;
  ``delete``: the rows go);
- :class:`Staff`: about the workspace's own people (Slack user ids, a rep's away note): not erased
  with a lead;
- :data:`NONE`: ids, times, codes, numbers and settings that say nothing about a person.

Also here, pure: the keyed hash that keeps an erased e-mail address out without keeping it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

ERASE_TEXT = "Lead erased on request"
ANONYMIZED_TEXT = "Lead anonymized (retention)"
#: What a free-text field or a history reason becomes when it has to go but the row stays.
ERASED = "(erased)"


@dataclass(frozen=True)
class LeadData:
    """Personal data about the lead; ``erase`` says what an erase does to it."""

    why: str
    erase: Literal["clear", "scrub", "delete", "keep_hashed"]


@dataclass(frozen=True)
class Staff:
    """About the workspace's own people, not the lead."""

    why: str


NONE = "none"
Kind = LeadData | Staff | str

_ID = NONE


def _lead(
    why: str, erase: Literal["clear", "scrub", "delete", "keep_hashed"] = "clear"
) -> LeadData:
    return LeadData(why, erase)


#: table -> column -> what it holds. Every column of core.models is here (a test checks).
MAP: dict[str, dict[str, Kind]] = {
    "leads": {
        "id": _ID,
        "email": _lead("the person's address; replaced by an address that names no one", "scrub"),
        "first_name": _lead("name"),
        "last_name": _lead("name"),
        "title": _lead("job title"),
        "company": _lead("employer"),
        "company_size": _lead("with the rest of the profile it narrows down who it is"),
        "industry": _lead("with the rest of the profile it narrows down who it is"),
        "country": _lead("with the rest of the profile it narrows down who it is"),
        "phone": _lead("phone number"),
        "source": NONE,  # kept on the tombstone: per-source statistics
        "campaign": NONE,  # kept on the tombstone
        "properties": _lead("anything a form or a CSV column sent"),
        "company_key": _lead("copy of company for lookups"),
        "name_key": _lead("copy of the name for lookups"),
        "last_name_key": _lead("copy of the name for lookups"),
        "stage": NONE,
        "owner": Staff("the rep's Slack id"),
        "team": NONE,
        "stage_changed_at": NONE,
        "version": NONE,
        "next_reminder_at": NONE,
        "crm_system": NONE,
        "crm_id": _lead("the CRM record of the person (named in lead.erased, then cleared)"),
        "crm_seen": _lead("what the CRM record last said (owner, stage values, its URL)"),
        "crm_deleted_at": NONE,
        "erased_at": NONE,
        "folded_at": NONE,
        "folded_engagement": NONE,
        "folded_product": NONE,
        "fit": NONE,
        "grade": NONE,
        "engagement": NONE,
        "product": NONE,
        "score_reasons": NONE,  # rule labels from the config, with points (kept: scores)
        "created_at": NONE,
        "updated_at": NONE,
    },
    "events": {
        "id": _ID,
        "lead_id": _ID,
        "event_id": _lead("the sender's id, which may embed an address", "clear"),
        "type": NONE,
        "occurred_at": NONE,
        "received_at": NONE,
        "properties": _lead("page URLs, form answers, anything the sender put there"),
    },
    "stage_transitions": {
        "id": _ID,
        "lead_id": _ID,
        "from_stage": NONE,
        "to_stage": NONE,
        "actor": Staff("who moved the lead"),
        "reason": _lead("a reject comment or a typed reason may name the person", "scrub"),
        "at": NONE,
    },
    "qualifications": {
        "id": _ID,
        "lead_id": _ID,
        "budget": NONE,
        "budget_amount": NONE,
        "authority": NONE,
        "need": NONE,
        "need_text": _lead("the rep's notes on the need"),
        "timeline": NONE,
        "notes": _lead("the rep's notes"),
        "met": NONE,
        "actor": Staff("the rep who qualified"),
        "created_at": NONE,
    },
    "opportunities": {
        "id": _ID,
        "lead_id": _ID,
        "name": _lead("often the person's or company's name", "scrub"),
        "amount": NONE,
        "currency": NONE,
        "close_date": NONE,
        "crm_url": _lead("link to the person's CRM record"),
        "actor": Staff("the rep who recorded it"),
        "created_at": NONE,
    },
    "api_keys": {
        "id": _ID,
        "name": NONE,
        "prefix": NONE,
        "key_hash": NONE,
        "created_at": NONE,
        "last_used_at": NONE,
        "revoked_at": NONE,
    },
    "outbox": {
        "id": _ID,
        "kind": NONE,
        "lead_id": _ID,
        "payload": _lead("a reject comment or reason text travels in it", "delete"),
        "dedupe_key": NONE,
        "created_at": NONE,
        "next_attempt_at": NONE,
        "attempts": NONE,
        "last_error": NONE,
        "delivered_at": NONE,
        "gave_up_at": NONE,
    },
    "slack_messages": {
        "id": _ID,
        "lead_id": _ID,
        "purpose": NONE,
        "transition_id": _ID,
        "channel": NONE,
        "ts": NONE,
        "text": _lead("the message as posted: name, company, title, notes", "scrub"),
        "created_at": NONE,
    },
    "sent_reminders": {
        "id": _ID,
        "lead_id": _ID,
        "transition_id": _ID,
        "level": NONE,
        "sent_at": NONE,
    },
    "reminder_snoozes": {
        "id": _ID,
        "lead_id": _ID,
        "transition_id": _ID,
        "until": NONE,
        "actor": Staff("who snoozed"),
        "created_at": NONE,
    },
    "reminder_basis": {"id": _ID, "fingerprint": NONE, "updated_at": NONE},
    "opened_views": {
        "id": _ID,
        "nonce": _lead("a form opened about the person (the record goes)", "delete"),
        "view_id": NONE,
        "callback_id": NONE,
        "user_id": Staff("who opened the form"),
        "lead_id": _ID,
        "opened_at": NONE,
        "used_at": NONE,
    },
    "rotations": {
        "team": NONE,
        "state": Staff("each rep's turn"),
        "picks": NONE,
        "updated_at": NONE,
    },
    "offers": {
        "id": _ID,
        "lead_id": _ID,
        "transition_id": _ID,
        "team": NONE,
        "rep": Staff("the offered rep"),
        "reason": NONE,  # a code: round robin, account owner, ...
        "offered_at": NONE,
        "until": NONE,
        "closed_at": NONE,
    },
    "away_periods": {
        "id": _ID,
        "user": Staff("the rep"),
        "until": NONE,
        "reason": Staff("the rep's own note"),
        "actor": Staff("who set it"),
        "created_at": NONE,
        "ended_at": NONE,
        "ended_by": Staff("who ended it"),
    },
    "owner_changes": {
        "id": _ID,
        "lead_id": _ID,
        "stage": NONE,
        "from_owner": Staff("a rep"),
        "to_owner": Staff("a rep"),
        "actor": Staff("who changed it"),
        "reason": _lead("mostly a code, but a CRM or a person may have typed it", "scrub"),
        "at": NONE,
    },
    "webhook_endpoints": {
        "id": _ID,
        "url": NONE,
        "description": NONE,
        "events": NONE,
        "secret": NONE,
        "created_at": NONE,
        "failing_since": NONE,
        "disabled_at": NONE,
        "disabled_reason": NONE,
        "allow_private": NONE,
    },
    "webhook_events": {
        "id": _ID,
        "message_id": NONE,
        "type": NONE,
        "lead_id": _ID,
        "body": _lead("the lead as the API shows it, at the time", "scrub"),
        "created_at": NONE,
    },
    "crm_writes": {
        "id": _ID,
        "lead_id": _ID,
        "kind": NONE,
        "payload": _lead("a note carries BANT answers and reject comments", "delete"),
        "key": NONE,
        "created_at": NONE,
        "next_attempt_at": NONE,
        "attempts": NONE,
        "last_error": _lead("the CRM's answer may echo the write", "delete"),
        "delivered_at": NONE,
        "gave_up_at": NONE,
    },
    "lead_snapshots": {
        "id": _ID,
        "lead_id": _ID,
        "taken_at": NONE,
        "profile": _lead("the person's profile as it was when scored", "delete"),
    },
    "webhook_deliveries": {
        "id": _ID,
        "event_id": _ID,
        "endpoint_id": _ID,
        "lead_id": _ID,
        "created_at": NONE,
        "next_attempt_at": NONE,
        "attempts": NONE,
        "last_attempt_at": NONE,
        "last_status": NONE,
        "last_error": _lead("a receiver's answer may echo the body"),
        "delivered_at": NONE,
        "gave_up_at": NONE,
    },
    "scoring_models": {
        "id": _ID,
        "created_at": NONE,
        "source": NONE,
        "positive": NONE,
        "trained_from": NONE,
        "trained_to": NONE,
        "rows": NONE,
        "positives": NONE,
        "metrics": NONE,
        # Points per binned value of profile fields and properties, learned from many leads:
        # identity fields never become features, rare values shrink to nothing; a new model is
        # trained weekly from what is held then.
        "model": NONE,
        "active": NONE,
        "activated_at": NONE,
        "status": NONE,
        "decision": NONE,
    },
    "crm_sync_state": {
        "system": NONE,
        "cursor": NONE,
        "last_sync_at": NONE,
        "last_duration": NONE,
        "last_seen": NONE,
        "seen_total": NONE,
        "lease_holder": NONE,
        "lease_until": NONE,
        "last_error": NONE,
    },
    "privacy_audit": {
        "id": _ID,
        "action": NONE,
        "lead_id": _ID,
        "actor": Staff("the operator or API key"),
        "reason": Staff("the operator's reason (say why, never whom)"),
        "at": NONE,
        "counts": NONE,
    },
    "suppressions": {
        "email_hash": _lead("a keyed hash of an erased address, kept on purpose", "keep_hashed"),
        "created_at": NONE,
    },
    "install_secrets": {"name": NONE, "value": NONE, "created_at": NONE},
}


def lead_columns(table: str) -> dict[str, LeadData]:
    """The columns of ``table`` that can hold personal data about a lead."""
    return {c: kind for c, kind in MAP.get(table, {}).items() if isinstance(kind, LeadData)}


def tables_with_lead_data() -> list[str]:
    return [table for table in MAP if lead_columns(table)]


def normalize(email: str) -> str:
    return email.strip().lower()


def email_hash(secret: bytes, email: str) -> str:
    """HMAC-SHA256 of the normalised address under the install's secret, as hex: the address
    cannot be read back from it, nor found by hashing a list of guesses without the secret."""
    return hmac.new(secret, normalize(email).encode("utf-8"), hashlib.sha256).hexdigest()


def placeholder_email(lead_id: int) -> str:
    """What an erased lead's e-mail column holds: unique, and no one's address."""
    return f"erased-{lead_id}@erased.invalid"
