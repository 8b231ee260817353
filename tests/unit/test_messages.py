"""Typed outbox messages: the stored form (kind and payload keys) is the one rows have always
had, every type reads back as itself, and a row no type fits is refused with its reason."""

from __future__ import annotations

import dataclasses

import pytest

from core import messages
from core.messages import (
    AlertRefresh,
    AssignedDm,
    CrmWriteGaveUp,
    Digest,
    LeadQualified,
    MarketingAccepted,
    MarketingRejected,
    OfferDm,
    ReminderEscalation,
    ReminderOwner,
    ReminderThread,
    RoutingFallback,
    WebhookDisabled,
)

REMINDER = {
    "lead_id": 3,
    "transition_id": 9,
    "stage": "mql",
    "level": "mql_accept",
    "repeats": "mql_accept",
    "due_at": "2026-11-16T10:00:00+00:00",
    "to": "C0EMEA",
    "mentions": ("U0REP1", "U0REP2"),
}
EXAMPLES = [
    (LeadQualified(3, 9, "emea", "mql"), {"transition_id", "team", "stage"}),
    (AlertRefresh(3), set()),
    (
        MarketingAccepted(3, 9, "U0REP1", 60, "U0MGR1"),
        {"transition_id", "actor", "waited_seconds", "assigned_by"},
    ),
    (
        MarketingRejected(3, 9, "U0REP1", 60, reason="bad_fit", comment="no"),
        {"transition_id", "actor", "waited_seconds", "reason", "reason_text", "comment"},
    ),
    (AssignedDm(3, owner="U0REP2", actor="U0MGR1"), {"owner", "actor"}),
    *(
        (cls(**REMINDER), {*REMINDER} - {"lead_id"} | {"instead_of"})
        for cls in (ReminderThread, ReminderEscalation, ReminderOwner)
    ),
    (
        Digest(
            day="2026-11-16",
            since="2026-11-16T00:00:00+00:00",
            until="2026-11-17T00:00:00+00:00",
            mql=2,
            pql=1,
            accepted=1,
            rejected=0,
            top_rejections=(("Competitor", 2),),
            median_accept_seconds=1800.0,
            unrouted=0,
            breaches=1,
            breach_leads=(4,),
            series={"first_day": "2026-10-18", "days": 30},
        ),
        {
            "day",
            "since",
            "until",
            "mql",
            "pql",
            "accepted",
            "rejected",
            "top_rejections",
            "median_accept_seconds",
            "unrouted",
            "breaches",
            "breach_leads",
            "series",
            "week",
            "models",
        },
    ),
    (OfferDm(3, 9, "U0REP1"), {"transition_id", "rep"}),
    (
        RoutingFallback(3, 9, (("U0REP1", "away until 2026-11-06"),)),
        {"transition_id", "skipped"},
    ),
    (
        WebhookDisabled(2, "https://crm.example.com/hook", "410 Gone", "2026-11-16T10:00:00+00:00"),
        {"endpoint_id", "url", "reason", "disabled_at"},
    ),
    (
        CrmWriteGaveUp(3, write_id=7, system="hubspot", what="the stage sal", error="400"),
        {"write_id", "system", "what", "error"},
    ),
    (
        messages.LeadErased(3, "C0EMEA", "1700000000.000100", "2026-12-10"),
        {"channel", "ts", "on", "anonymized", "text"},
    ),
    (messages.HomeRefresh(3, "U0MGR1"), {"user"}),
]


@pytest.mark.parametrize(("message", "keys"), EXAMPLES, ids=lambda v: getattr(v, "KIND", ""))
def test_every_message_is_stored_in_the_old_form_and_reads_back_as_itself(message, keys):
    stored = messages.payload(message)
    assert set(stored) == keys
    assert messages.read(message.KIND, messages.lead_of(message), stored) == message


def test_every_kind_has_its_own_type():
    assert sorted(messages.TYPES) == sorted(type(m).KIND for m, _ in EXAMPLES)


def test_a_row_from_before_the_types_reads_with_its_missing_optional_keys():
    old = {"actor": "U0REP1", "reason": "bad_fit", "comment": None, "waited_seconds": 5}
    read = messages.read("marketing_rejected", 3, {**old, "transition_id": 9})
    assert read == MarketingRejected(3, 9, "U0REP1", 5, reason="bad_fit")


def test_dedupe_keys_are_the_stored_ones():
    assert LeadQualified(3, 9, None, "pql").dedupe_key == "lead_qualified:9"
    assert OfferDm(3, 9, "U0REP").dedupe_key == "offer_dm:9"
    assert RoutingFallback(3, 9).dedupe_key == "routing_fallback:9"
    assert ReminderOwner(**REMINDER).dedupe_key == "reminder:9:mql_accept:C0EMEA"
    assert AlertRefresh(3).dedupe_key is None


@pytest.mark.parametrize(
    ("kind", "payload", "problem"),
    [
        ("lead_promoted", {}, "unknown outbox kind 'lead_promoted'"),
        ("assigned_dm", {"owner": "U0REP1"}, "actor: Field required"),
        (
            "marketing_accepted",
            {"transition_id": "nine", "actor": "U", "waited_seconds": 1},
            "transition_id",
        ),
        ("alert_refresh", {}, "lead_id"),  # a lead's message without its lead
    ],
)
def test_a_row_no_type_fits_is_unreadable(kind, payload, problem):
    with pytest.raises(messages.Unreadable, match=problem):
        messages.read(kind, None, payload)


def test_a_digest_with_its_week_reads_back_and_an_older_one_without_it_too():
    week = messages.DigestWeek(
        since="2026-11-10T00:00:00+00:00",
        decided=12,
        worst_rule=messages.DigestRule("title contains 'vp'", 9, 14, 2, 10),
        best_source=messages.DigestSource("webinar", 6, 6),
        worst_source=messages.DigestSource(None, 2, 6),
    )
    digest = next(m for m, _ in EXAMPLES if isinstance(m, Digest))
    with_week = dataclasses.replace(digest, week=week)
    stored = messages.payload(with_week)
    assert stored["week"]["worst_rule"]["rule"] == "title contains 'vp'"
    assert messages.read("digest", None, stored) == with_week
    older = {k: v for k, v in messages.payload(digest).items() if k not in ("week", "models")}
    assert messages.read("digest", None, older).week is None
    assert messages.read("digest", None, older).models == ()
    with_models = dataclasses.replace(digest, models=("Learned score version 2: promoted",))
    assert messages.read("digest", None, messages.payload(with_models)) == with_models
