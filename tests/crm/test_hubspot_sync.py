"""HubSpot both ways: the sync and the write worker against the emulator over real HTTP, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.crm.hubspot import HubSpotClient
from bot.crm.port import CrmSetupError, HubSpotAdapter, build_adapter
from bot.runtime import Runtime
from bot.workers.crm import CrmSender, CrmSync
from core.config import Settings, WorkspaceConfig
from core.models import CrmWriteRow, Lead, Outbox, OwnerChange, StageTransition
from core.schemas import EventIn
from core.services import handoff, intake, qualification
from emulators.hubspot import Fault, HubSpotEmulator, ManualClock

T0 = 1_780_000_000.0
GOOD_BANT = qualification.build_bant(
    budget="approved", authority="decision_maker", need="critical", timeline="1_3_months"
)
PENDING = (CrmWriteRow.delivered_at.is_(None), CrmWriteRow.gave_up_at.is_(None))
EMAILS = {"U0REP1": "rep1@example.com", "U0REP2": "rep2@example.com", "U0MGR1": None}


def with_crm(config: WorkspaceConfig, **crm) -> WorkspaceConfig:
    data = config.model_dump(by_alias=True, exclude_none=True)
    data["crm"] = {"system": "hubspot", **crm}
    return WorkspaceConfig.model_validate(data)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def hub(clock):
    with HubSpotEmulator(clock=clock.now) as emulator:
        yield emulator


def make_runtime(db, db_url, config, clock, hub) -> Runtime:
    settings = Settings(
        LEADBOT_DATABASE_URL=db_url,
        HUBSPOT_ACCESS_TOKEN=hub.token,
        LEADBOT_HUBSPOT_API_URL=hub.url,
    )
    return Runtime(
        settings=settings,
        config=config,
        db=db,
        clock=lambda: datetime.fromtimestamp(clock.now(), UTC),
    )


def parts(runtime, hub, clock, *, overlap: float = 5.0):
    client = HubSpotClient(
        hub.token, hub.url, sleep=clock.sleep, timeout=5.0, overlap_seconds=overlap
    )
    adapter = HubSpotAdapter(client, runtime.config)
    emails = lambda users: {u: EMAILS.get(u) for u in users}  # noqa: E731
    return CrmSync(runtime, adapter, emails), CrmSender(runtime, adapter, emails)


def count(db, model, *where) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def lead_by_email(db, email: str) -> Lead:
    with db.transaction() as session:
        return session.scalars(select(Lead).where(Lead.email == email)).one()


def test_qualify_crm_alert_once_accept_bant_and_owner_change_both_ways(
    db, db_url, config, clock, hub
):
    runtime = make_runtime(db, db_url, with_crm(config), clock, hub)
    rep1 = hub.add_owner("rep1@example.com", "Rita", "Rep")
    rep2 = hub.add_owner("rep2@example.com", "Ron", "Rep")
    contact = hub.add_contact(
        {
            "email": "Ada@Example.com",
            "firstname": "Ada",
            "jobtitle": "VP Sales",
            "country": "DE",
            "lifecyclestage": "marketingqualifiedlead",
        }
    )
    clock.advance(5)
    sync, sender = parts(runtime, hub, clock)

    first = sync.run()
    assert first.error is None and first.report.created == 1 and first.report.qualified == 1
    lead = lead_by_email(db, "ada@example.com")
    assert (lead.stage, lead.team, lead.crm_system, lead.crm_id) == (
        "mql",
        "emea",
        "hubspot",
        contact,
    )
    assert lead.crm_seen["url"].endswith(f"/record/0-1/{contact}")
    with db.transaction() as session:
        moved = session.scalars(
            select(StageTransition).where(StageTransition.lead_id == lead.id)
        ).one()
    assert (moved.actor, moved.reason) == ("hubspot", "HubSpot lifecycle stage")
    alerts = Outbox.kind == "lead_qualified"
    assert count(db, Outbox, alerts) == 1
    assert count(db, CrmWriteRow) == 0  # the CRM's own MQL is not written back

    clock.advance(60)
    again = sync.run()
    assert again.report.changed == 0 and count(db, Outbox, alerts) == 1

    # Accept: SAL status and the owner land on the contact.
    with db.transaction() as session:
        handoff.accept(session, lead.id, actor="U0REP1", config=runtime.config, now=runtime.now())
    assert sender.drain() == 2
    props = hub.contact(contact)
    assert props["hubspot_owner_id"] == rep1
    assert props["hs_lead_status"] == "IN_PROGRESS"

    # BANT: SQL and one note.
    clock.advance(5)
    with db.transaction() as session:
        qualification.qualify(
            session, lead.id, GOOD_BANT, actor="U0REP1", config=runtime.config, now=runtime.now()
        )
    assert sender.drain() == 2
    assert hub.contact(contact)["lifecyclestage"] == "salesqualifiedlead"
    notes = hub.notes_of(contact)
    assert len(notes) == 1 and "BANT 4/4 met" in notes[0]["hs_note_body"]

    # leadbot's own writes come back through search: not taken for a person's change.
    clock.advance(60)
    echo = sync.run()
    assert echo.report.owner_changes == 0 and echo.report.stage_changes == 0
    assert echo.report.seen == 1 and echo.report.echoes == 1
    assert count(db, CrmWriteRow, *PENDING) == 0

    # An owner changed by a person in HubSpot: in the history, actor hubspot, nothing written.
    hub.set_owner(contact, rep2)
    clock.advance(30)
    changed = sync.run()
    assert changed.report.owner_changes == 1
    with db.transaction() as session:
        last = session.scalars(
            select(OwnerChange)
            .where(OwnerChange.lead_id == lead.id)
            .order_by(OwnerChange.id.desc())
        ).first()
    assert (last.actor, last.from_owner, last.to_owner) == ("hubspot", "U0REP1", "U0REP2")
    assert count(db, CrmWriteRow, *PENDING) == 0
    assert sender.drain() == 0


def test_a_stage_moved_by_hand_and_a_reject_with_its_reason(db, db_url, config, clock, hub):
    runtime = make_runtime(db, db_url, with_crm(config), clock, hub)
    hub.add_owner("rep1@example.com")
    contact = hub.add_contact(
        {"email": "bo@example.com", "country": "DE", "lifecyclestage": "marketingqualifiedlead"}
    )
    clock.advance(5)
    sync, sender = parts(runtime, hub, clock)
    sync.run()
    lead = lead_by_email(db, "bo@example.com")
    with db.transaction() as session:
        handoff.reject(
            session,
            lead.id,
            actor="U0REP1",
            reason="bad_fit",
            comment="sells only to consumers",
            config=runtime.config,
            now=runtime.now(),
        )
    assert sender.drain() == 2
    assert hub.contact(contact)["hs_lead_status"] == "UNQUALIFIED"
    (note,) = hub.notes_of(contact)
    assert "Bad fit: sells only to consumers" in note["hs_note_body"]


def test_a_stage_moved_in_hubspot_becomes_a_stage_change_and_is_not_written_back(
    db, db_url, config, clock, hub
):
    runtime = make_runtime(db, db_url, with_crm(config), clock, hub)
    contact = hub.add_contact(
        {"email": "cy@example.com", "country": "DE", "lifecyclestage": "marketingqualifiedlead"}
    )
    clock.advance(5)
    sync, sender = parts(runtime, hub, clock)
    sync.run()
    lead = lead_by_email(db, "cy@example.com")
    with db.transaction() as session:
        handoff.accept(session, lead.id, actor="U0REP1", config=runtime.config, now=runtime.now())
    sender.drain()
    # No HubSpot owner has rep1's e-mail: the SAL status went, the owner write is reported.
    assert hub.contact(contact)["hs_lead_status"] == "IN_PROGRESS"
    assert (
        "hubspot_owner_id" not in hub.contact(contact)
        or not hub.contact(contact)["hubspot_owner_id"]
    )
    with db.transaction() as session:
        owner_write = session.scalars(select(CrmWriteRow).where(CrmWriteRow.kind == "owner")).one()
    assert owner_write.gave_up_at is not None
    assert "no hubspot owner matches Slack user U0REP1" in owner_write.last_error
    clock.advance(30)
    hub.set_lifecycle_stage(contact, "salesqualifiedlead")
    clock.advance(30)
    run = sync.run()
    assert run.report.stage_changes == 1
    assert lead_by_email(db, "cy@example.com").stage == "sql"
    with db.transaction() as session:
        moved = session.scalars(
            select(StageTransition)
            .where(StageTransition.lead_id == lead.id)
            .order_by(StageTransition.id.desc())
        ).first()
    assert moved.actor == "hubspot" and "salesqualifiedlead" in moved.reason
    assert count(db, CrmWriteRow, *PENDING) == 0


def test_a_note_retried_after_performed_then_5xx_is_not_doubled(db, db_url, config, clock, hub):
    runtime = make_runtime(db, db_url, with_crm(config), clock, hub)
    contact = hub.add_contact(
        {"email": "di@example.com", "country": "DE", "lifecyclestage": "marketingqualifiedlead"}
    )
    clock.advance(5)
    sync, sender = parts(runtime, hub, clock)
    sync.run()
    lead = lead_by_email(db, "di@example.com")
    with db.transaction() as session:
        handoff.accept(session, lead.id, actor="U0REP1", config=runtime.config, now=runtime.now())
    sender.drain()
    hub.fail_next("notes.create", Fault(status=502, performed=True))
    with db.transaction() as session:
        qualification.qualify(
            session, lead.id, GOOD_BANT, actor="U0REP1", config=runtime.config, now=runtime.now()
        )
    sender.drain()
    assert hub.count("notes.create") == 1
    assert len(hub.notes_of(contact)) == 1
    # Even a write row run again from the start (a worker killed after the CRM took it) finds it.
    with db.transaction() as session:
        row = session.scalars(select(CrmWriteRow).where(CrmWriteRow.kind == "note")).one()
        row.delivered_at = None
        row.next_attempt_at = runtime.now()
    assert sender.drain() == 1
    assert len(hub.notes_of(contact)) == 1


def test_qualify_leadbot_writes_the_mql_back(db, db_url, config, clock, hub):
    runtime = make_runtime(db, db_url, with_crm(config, qualify="leadbot"), clock, hub)
    contact = hub.add_contact(
        {
            "email": "ed@example.com",
            "country": "DE",
            "jobtitle": "VP Marketing",
            "numemployees": "500",
        }
    )
    clock.advance(5)
    sync, sender = parts(runtime, hub, clock)
    sync.run()
    assert lead_by_email(db, "ed@example.com").stage == "lead"
    with db.transaction() as session:
        result = intake.record_events(
            session,
            [EventIn.model_validate({"email": "ed@example.com", "type": "demo_request"})],
            config=runtime.config,
            now=runtime.now(),
        )
    assert result.qualified and lead_by_email(db, "ed@example.com").stage == "mql"
    sender.drain()
    assert hub.contact(contact)["lifecyclestage"] == "marketingqualifiedlead"
    clock.advance(60)
    assert sync.run().report.changed == 0  # its own write coming back changes nothing


@pytest.mark.timeout(900)  # 12,000 contacts through the real sync, paced like HubSpot
def test_12000_contacts_imported_once_with_faults_and_a_second_sync_changes_nothing(
    db, db_url, config, clock
):
    with HubSpotEmulator(clock=clock.now, search_lag=3, search_jitter=2, seed=3) as hub:
        hub.add_contacts(12_000, start=T0, spread_seconds=60)
        clock.advance(90)
        hub.fail_next("contacts.search", Fault(status=502), times=2)
        hub.fail_next("contacts.search", Fault(status=429, policy="TEN_SECONDLY_ROLLING"))
        hub.fail_next("contacts.search", Fault(status=500, performed=True))
        runtime = make_runtime(db, db_url, with_crm(config), clock, hub)
        sync, _ = parts(runtime, hub, clock, overlap=10)
        first = sync.run()
        assert first.error is None
        assert count(db, Lead) == 12_000 == first.report.created
        clock.advance(60)
        second = sync.run()
        assert second.report.changed == 0
        assert count(db, Lead) == 12_000


def test_bad_settings_are_one_line_naming_the_setting(config, hub):
    crm_config = with_crm(config)
    with pytest.raises(CrmSetupError, match="HUBSPOT_ACCESS_TOKEN is not set"):
        build_adapter(Settings(), crm_config)
    wrong = build_adapter(
        Settings(HUBSPOT_ACCESS_TOKEN="pat-wrong", LEADBOT_HUBSPOT_API_URL=hub.url), crm_config
    )
    with pytest.raises(CrmSetupError, match=r"^HUBSPOT_ACCESS_TOKEN: HubSpot does not accept"):
        wrong.connect()
    nowhere = build_adapter(
        Settings(HUBSPOT_ACCESS_TOKEN=hub.token, LEADBOT_HUBSPOT_API_URL="http://127.0.0.1:9"),
        crm_config,
    )
    with pytest.raises(CrmSetupError, match=r"^LEADBOT_HUBSPOT_API_URL"):
        nowhere.connect()


def test_check_names_an_unknown_property_an_unknown_option_and_an_unmatched_owner(config, hub):
    hub.add_owner("rep1@example.com")
    crm_config = with_crm(
        config,
        hubspot={
            "fields": {"favourite_colour": "industry", "industry": ""},
            "stages": {"sal": {"hs_lead_status": "MAYBE"}},
        },
    )
    adapter = build_adapter(
        Settings(HUBSPOT_ACCESS_TOKEN=hub.token, LEADBOT_HUBSPOT_API_URL=hub.url), crm_config
    )
    problems = adapter.check({"U0REP1": "rep1@example.com", "U0REP2": "nobody@example.com"})
    assert any("favourite_colour" in p for p in problems)
    assert any("no option 'MAYBE'" in p for p in problems)
    assert any(p.startswith("U0REP2: no HubSpot owner") for p in problems)
    assert not any("U0REP1" in p for p in problems)
    assert all("\n" not in p for p in problems)


def test_lead_out_and_the_alert_link_the_contact(db, db_url, config, clock, hub):
    from bot.slack.present import card_of
    from bot.views.alerts import lead_alert
    from core.services.leads import lead_detail

    runtime = make_runtime(db, db_url, with_crm(config), clock, hub)
    contact = hub.add_contact(
        {"email": "fa@example.com", "country": "DE", "lifecyclestage": "marketingqualifiedlead"}
    )
    clock.advance(5)
    sync, _ = parts(runtime, hub, clock)
    sync.run()
    with db.transaction() as session:
        lead = session.scalars(select(Lead).where(Lead.email == "fa@example.com")).one()
        out = lead_detail(session, lead).model_dump(mode="json")
        alert = lead_alert(card_of(lead), "mql")
    url = f"https://app.hubspot.com/contacts/{hub.portal_id}/record/0-1/{contact}"
    assert out["crm"] == {"system": "hubspot", "id": contact, "url": url}
    assert f"<{url}|Open in HubSpot>" in str(alert["blocks"])
