"""The HubSpot adapter against the HubSpot emulator, over real HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from bot.crm.hubspot import (
    HubSpotClient,
    HubSpotDailyLimit,
    HubSpotRefused,
    Owner,
    SyncCursor,
    match_owners,
)
from core import crm
from emulators.hubspot import Fault, HubSpotEmulator, ManualClock, RateLimits
from emulators.slack.serving import free_port

T0 = 1_700_000_000.0
FIELDS = crm.DEFAULT_HUBSPOT_FIELDS
STAGES = crm.DEFAULT_HUBSPOT_STAGES


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def hub(clock: ManualClock):
    with HubSpotEmulator(clock=clock.now) as emulator:
        yield emulator


def client_for(hub: HubSpotEmulator, clock: ManualClock, **kwargs) -> HubSpotClient:
    kwargs.setdefault("timeout", 2.0)
    return HubSpotClient(hub.token, hub.url, sleep=clock.sleep, **kwargs)


def sync(client: HubSpotClient, cursor: SyncCursor) -> tuple[list[crm.CrmChange], SyncCursor]:
    out: list[crm.CrmChange] = []
    for page, next_cursor in client.changes(cursor, FIELDS):
        out += page
        cursor = next_cursor
    return out, cursor


def test_12000_contacts_in_one_minute_are_read_exactly_once_through_lag_429s_and_5xx(
    clock: ManualClock,
) -> None:
    limits = RateLimits(enabled=True, per_ten_seconds=100, search_per_second=5)
    with HubSpotEmulator(
        clock=clock.now, search_lag=5, search_jitter=3, rate_limits=limits, seed=7
    ) as hub:
        ids = hub.add_contacts(12_000, start=T0, spread_seconds=60)
        clock.advance(40)  # a sync starts while the minute's contacts are still arriving in search
        hub.fail_next("contacts.search", Fault(status=502), times=2)
        hub.fail_next("contacts.search", Fault(status=429, policy="TEN_SECONDLY_ROLLING"))
        hub.fail_next("contacts.search", Fault(status=500, performed=True))
        # The overlap window only has to exceed the longest lag (5 + 3 seconds here).
        client = client_for(hub, clock, overlap_seconds=15)
        first, cursor = sync(client, SyncCursor())
        assert 0 < len(first) < 12_000
        clock.advance(60)
        hub.fail_next("contacts.search", Fault(status=503))
        second, cursor = sync(client, SyncCursor.from_json(cursor.to_json()))
        clock.advance(60)
        third, _ = sync(client, cursor)
        searches_limited = hub.count("contacts.search", status=429)
    read = Counter(change.external_id for change in first + second)
    assert set(read) == set(ids)
    assert max(read.values()) == 1
    assert third == []
    # 429s were waited out, never hammered: every 429 answer was followed by a sleep.
    assert searches_limited >= 1
    waits = [why for why, _ in client.waited if why.startswith("429")]
    assert len(waits) == searches_limited
    assert all(seconds > 0 for _, seconds in client.waited)
    assert not any(call.status == 400 for call in hub.calls)  # never asked past 10,000


def test_a_page_full_of_one_modification_time_goes_on_by_id(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    ids = hub.add_contacts(450, start=T0, spread_seconds=0)  # all at the same millisecond
    later = hub.add_contacts(3, start=T0 + 1, spread_seconds=0)
    clock.advance(2)
    changes, cursor = sync(client_for(hub, clock, page_size=200), SyncCursor())
    assert sorted(c.external_id for c in changes) == sorted(ids + later)
    assert cursor.since_ms == int((T0 + 1) * 1000)


def test_a_change_made_in_hubspot_comes_again_with_its_new_values(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    owner = hub.add_owner("rep@example.com", "Rita", "Rep")
    [contact] = hub.add_contacts(
        [
            {
                "email": "Ann@Example.com",
                "jobtitle": "VP Sales",
                "numemployees": "100-500",
                "lifecyclestage": "lead",
                "country": "de",
            }
        ],
        start=T0,
    )
    client = client_for(hub, clock)
    first, cursor = sync(client, SyncCursor())
    clock.advance(10)
    hub.set_owner(contact, owner)
    hub.set_lifecycle_stage(contact, "marketingqualifiedlead")
    clock.advance(1)
    second, cursor = sync(client, cursor)
    again, _ = sync(client, cursor)
    [before] = first
    [after] = second
    assert before.email == "ann@example.com"
    assert before.fields == {
        "email": "ann@example.com",
        "title": "VP Sales",
        "company_size": 100,
        "country": "DE",
    }
    assert before.stage == "lead" and before.owner_external_id is None
    assert after.owner_external_id == owner
    assert after.stage == "marketingqualifiedlead"
    assert after.modified_at > before.modified_at
    assert again == []


def test_merged_and_archived_contacts(hub: HubSpotEmulator, clock: ManualClock) -> None:
    a, b, c = hub.add_contacts(3, start=T0)
    client = client_for(hub, clock)
    _, cursor = sync(client, SyncCursor())
    clock.advance(5)
    hub.merge_contacts(a, b)
    hub.archive_contact(c)
    clock.advance(1)
    changes, cursor = sync(client, cursor)
    archived = client.archived_changes(cursor)
    assert [(ch.external_id, ch.merged_ids) for ch in changes] == [(a, (b,))]
    assert [(ch.external_id, ch.archived) for ch in archived] == [(c, True)]


def test_a_daily_limit_stops_the_sync_instead_of_waiting(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    hub.add_contacts(3)
    hub.fail_next("contacts.search", Fault(status=429, policy="DAILY"))
    client = client_for(hub, clock)
    with pytest.raises(HubSpotDailyLimit):
        sync(client, SyncCursor())
    assert client.waited == []


def test_secondly_limit_waits_a_second(hub: HubSpotEmulator, clock: ManualClock) -> None:
    hub.add_contacts(3)
    hub.fail_next("contacts.search", Fault(status=429, policy="SECONDLY"), times=2)
    client = client_for(hub, clock)
    changes, _ = sync(client, SyncCursor())
    assert len(changes) == 3
    assert client.waited == [("429 SECONDLY", 1.0), ("429 SECONDLY", 1.0)]


def test_a_hanging_search_is_retried(hub: HubSpotEmulator, clock: ManualClock) -> None:
    hub.add_contacts(2)
    hub.fail_next("contacts.search", Fault(hang=True, hold_seconds=2))
    changes, _ = sync(client_for(hub, clock, timeout=0.3), SyncCursor())
    assert len(changes) == 2


# --- writes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500, performed=True),
        Fault(status=502, performed=True),
        Fault(hang=True, performed=True, hold_seconds=2),
    ],
)
def test_a_note_retried_after_it_was_performed_is_not_added_twice(
    hub: HubSpotEmulator, clock: ManualClock, fault: Fault
) -> None:
    [contact] = hub.add_contacts(1)
    hub.fail_next("notes.create", fault)
    client = client_for(hub, clock, timeout=0.3)
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    result = client.add_note(contact, "BANT: budget yes, authority yes, need yes", "bant-17-1", at)
    again = client.add_note(contact, "BANT: budget yes, authority yes, need yes", "bant-17-1", at)
    notes = hub.notes_of(contact)
    assert len(notes) == 1
    assert notes[0]["hs_note_body"].endswith("[leadbot:bant-17-1]")
    assert notes[0]["hs_timestamp"] == "2026-01-05T09:30:00Z"
    assert result.already_there and again.already_there
    assert result.note_id == again.note_id
    assert hub.count("notes.create") == 1


def test_a_note_that_failed_before_being_written_is_written_once(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    [contact] = hub.add_contacts(1)
    hub.fail_next("notes.create", Fault(status=503), times=2)
    client = client_for(hub, clock)
    result = client.add_note(
        contact, "Rejected: no budget", "reject-3", datetime(2026, 1, 5, tzinfo=UTC)
    )
    assert not result.already_there
    assert [n["hs_note_body"] for n in hub.notes_of(contact)] == [
        "Rejected: no budget\n\n[leadbot:reject-3]"
    ]
    assert hub.count("notes.create") == 3


def test_two_notes_with_different_keys_are_both_added(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    [contact] = hub.add_contacts(1)
    client = client_for(hub, clock)
    at = datetime(2026, 1, 5, tzinfo=UTC)
    client.add_note(contact, "one", "k-1", at)
    client.add_note(contact, "two", "k-2", at)
    assert len(hub.notes_of(contact)) == 2


def test_moving_the_lifecycle_backwards_clears_it_first(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    [contact] = hub.add_contacts(
        [{"email": "x@example.com", "lifecyclestage": "salesqualifiedlead"}]
    )
    client = client_for(hub, clock)
    result = client.set_properties(contact, {"lifecyclestage": "marketingqualifiedlead"})
    forward = client.set_properties(
        contact, {"lifecyclestage": "opportunity", "hs_lead_status": "OPEN_DEAL"}
    )
    assert result.cleared_first
    assert not forward.cleared_first
    assert hub.contact(contact)["lifecyclestage"] == "opportunity"
    assert hub.contact(contact)["hs_lead_status"] == "OPEN_DEAL"
    patches = [
        c.body["properties"]["lifecyclestage"] for c in hub.calls if c.route == "contacts.update"
    ]
    assert patches == [None, "marketingqualifiedlead", "opportunity"]


def test_a_write_retried_after_a_5xx_lands(hub: HubSpotEmulator, clock: ManualClock) -> None:
    [contact] = hub.add_contacts(1)
    hub.fail_next("contacts.update", Fault(status=500, performed=True))
    hub.fail_next("contacts.update", Fault(status=503))
    client = client_for(hub, clock)
    client.set_properties(contact, {"hs_lead_status": "IN_PROGRESS"})
    assert hub.contact(contact)["hs_lead_status"] == "IN_PROGRESS"


def test_a_bad_option_is_refused_with_one_line(hub: HubSpotEmulator, clock: ManualClock) -> None:
    [contact] = hub.add_contacts(1)
    with pytest.raises(HubSpotRefused) as info:
        client_for(hub, clock).set_properties(contact, {"hs_lead_status": "MAYBE"})
    assert "\n" not in str(info.value)
    assert "INVALID_OPTION" in str(info.value) or "allowed options" in str(info.value)
    assert "hs_lead_status" not in hub.contact(contact)


def test_set_owner_and_owners_by_email(hub: HubSpotEmulator, clock: ManualClock) -> None:
    for i in range(150):
        hub.add_owner(f"rep{i}@example.com", "Rep", str(i))
    [contact] = hub.add_contacts(1)
    client = client_for(hub, clock)
    owners = client.owners()
    owner = client.owner_by_email("REP120@example.com")
    assert len(owners) == 150
    assert owner is not None and owner.name == "Rep 120"
    client.set_owner(contact, owner.id)
    assert hub.contact(contact)["hubspot_owner_id"] == owner.id
    assert client.owner_by_email("nobody@example.com") is None


def test_match_owners_by_override_then_email() -> None:
    owners = [Owner("1", "a@example.com", "A"), Owner("2", "b@example.com", "B")]
    matches, problems = match_owners(
        {"U0A": "A@example.com", "U0B": "x@example.com", "U0C": None, "U0D": "d@example.com"},
        owners,
        {"U0B": "2", "U0D": "9"},
    )
    assert matches == {"U0A": "1", "U0B": "2"}
    assert problems == [
        "U0C: no HubSpot owner matches this Slack user (no e-mail visible (scope users:read.email))",
        "crm.owners.U0D: HubSpot has no owner 9",
    ]


# --- check ------------------------------------------------------------------------------------


def test_check_passes_on_a_good_setup(hub: HubSpotEmulator, clock: ManualClock) -> None:
    assert client_for(hub, clock).check(FIELDS, STAGES) == []


def test_check_names_the_token_when_it_is_wrong(hub: HubSpotEmulator, clock: ManualClock) -> None:
    client = HubSpotClient("pat-wrong", hub.url, sleep=clock.sleep)
    problems = client.check(FIELDS, STAGES)
    assert len(problems) == 1
    assert problems[0].startswith("HUBSPOT_ACCESS_TOKEN:")


def test_check_names_the_url_when_nothing_answers(clock: ManualClock) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = HubSpotClient("pat-x", url, sleep=clock.sleep, max_attempts=2, timeout=1)
    problems = client.check(FIELDS, STAGES)
    assert len(problems) == 1
    assert problems[0].startswith("LEADBOT_HUBSPOT_API_URL:")
    assert url in problems[0]


def test_check_reports_scopes_properties_and_options(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    hub.set_scopes(
        ["crm.objects.contacts.read", "crm.objects.contacts.write", "crm.schemas.contacts.read"]
    )
    hub.remove_option("hs_lead_status", "BAD_TIMING")
    fields = {**FIELDS, "x_persona": "campaign"}
    stages = {**STAGES, "sqo": {"lifecyclestage": "opportunity", "x_stage": "won"}}
    problems = client_for(hub, clock).check(fields, stages)
    assert problems == [
        "HUBSPOT_ACCESS_TOKEN: the private app lacks the scope crm.objects.owners.read (add it in HubSpot: Settings > Integrations > Private apps)",
        "crm.hubspot.fields.x_persona: HubSpot has no contact property 'x_persona' (mapped to campaign)",
        "crm.hubspot.stages.sqo: HubSpot has no contact property 'x_stage'",
        "crm.hubspot.stages.nurture: hs_lead_status has no option 'BAD_TIMING' in HubSpot (it has: NEW, OPEN, IN_PROGRESS, OPEN_DEAL, UNQUALIFIED, ATTEMPTED_TO_CONTACT, CONNECTED)",
    ]
