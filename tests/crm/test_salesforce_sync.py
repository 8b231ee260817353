"""Salesforce both ways: the sync and the write worker against the emulator over real HTTPS,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.crm.port import CrmSetupError, SalesforceAdapter, build_adapter
from bot.crm.salesforce import SalesforceClient, SalesforceSettings
from bot.runtime import Runtime
from bot.workers.crm import CrmSender, CrmSync
from core.config import Settings, WorkspaceConfig
from core.models import CrmWriteRow, Lead, Outbox, OwnerChange, StageTransition
from core.services import handoff, qualification
from core.services.owners import change_owner
from emulators.salesforce import SalesforceEmulator

GOOD_BANT = qualification.build_bant(
    budget="approved", authority="decision_maker", need="critical", timeline="1_3_months"
)
EMAILS = {"U0REP1": "rep1@example.com", "U0REP2": "rep2@example.com"}
PENDING = (CrmWriteRow.delivered_at.is_(None), CrmWriteRow.gave_up_at.is_(None))


def with_crm(config: WorkspaceConfig, **crm) -> WorkspaceConfig:
    data = config.model_dump(by_alias=True, exclude_none=True)
    data["crm"] = {"system": "salesforce", **crm}
    return WorkspaceConfig.model_validate(data)


@pytest.fixture
def sf():
    with SalesforceEmulator() as emulator:
        yield emulator


def parts(db, db_url, config, sf):
    runtime = Runtime(settings=Settings(LEADBOT_DATABASE_URL=db_url), config=config, db=db)
    client = SalesforceClient(
        SalesforceSettings(sf.url, sf.client_id, sf.client_secret),
        field_map=config.crm.salesforce.field_map,
        ca_bundle=sf.ca_bundle,
        sleep=lambda _s: None,
        timeout=5.0,
    )
    adapter = SalesforceAdapter(client, config)
    emails = lambda users: {u: EMAILS.get(u) for u in users}  # noqa: E731
    return runtime, CrmSync(runtime, adapter, emails), CrmSender(runtime, adapter, emails)


def count(db, model, *where) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def lead_by_email(db, email: str) -> Lead:
    with db.transaction() as session:
        return session.scalars(select(Lead).where(Lead.email == email)).one()


def test_mql_when_alerts_once_accept_bant_owner_change_and_conversion(db, db_url, config, sf):
    runtime, sync, sender = parts(db, db_url, with_crm(config), sf)
    rep1 = sf.add_user("rep1@example.com", "Rita Rep")
    rep2 = sf.add_user("rep2@example.com", "Ron Rep")
    queue = sf.add_queue("Inbound")
    lead_id = sf.add_lead(
        Email="Ada@Example.com",
        FirstName="Ada",
        Title="VP Sales",
        Country="DE",
        Status="Marketing Qualified",
        OwnerId=queue,
    )
    first = sync.run()
    assert first.error is None and first.report.qualified == 1
    lead = lead_by_email(db, "ada@example.com")
    assert (lead.stage, lead.owner, lead.crm_id) == ("mql", None, lead_id)  # a Queue: no owner
    assert lead.crm_seen["url"].endswith(f"/lightning/r/Lead/{lead_id}/view")
    with db.transaction() as session:
        moved = session.scalars(
            select(StageTransition).where(StageTransition.lead_id == lead.id)
        ).one()
    assert (moved.actor, moved.reason) == ("salesforce", "Salesforce Lead status")
    assert sync.run().report.changed == 0
    assert count(db, Outbox, Outbox.kind == "lead_qualified") == 1

    with db.transaction() as session:
        handoff.accept(session, lead.id, actor="U0REP1", config=runtime.config, now=runtime.now())
    assert sender.drain() == 2
    assert sf.lead(lead_id)["OwnerId"] == rep1
    assert sf.lead(lead_id)["Status"] == "Working - Contacted"

    with db.transaction() as session:
        qualification.qualify(
            session, lead.id, GOOD_BANT, actor="U0REP1", config=runtime.config, now=runtime.now()
        )
    sender.drain()
    assert sf.lead(lead_id)["Status"] == "Sales Qualified"
    (task,) = sf.tasks(lead_id)
    assert task["Status"] == "Completed" and "BANT 4/4 met" in task["Subject"]

    # Our own writes come back (modified by the integration user): nothing echoed.
    echo = sync.run()
    assert echo.report.owner_changes == 0 and echo.report.stage_changes == 0
    assert count(db, CrmWriteRow, *PENDING) == 0

    # A person gives the Lead to rep2 in Salesforce.
    sf.change_lead(lead_id, OwnerId=rep2, at=datetime.now(UTC) + timedelta(seconds=2))
    changed = sync.run()
    assert changed.report.owner_changes == 1
    with db.transaction() as session:
        last = session.scalars(
            select(OwnerChange)
            .where(OwnerChange.lead_id == lead.id)
            .order_by(OwnerChange.id.desc())
        ).first()
    assert (last.actor, last.to_owner) == ("salesforce", "U0REP2")
    assert count(db, CrmWriteRow, *PENDING) == 0

    # Converted with an opportunity: an SQO, and never written again.
    opportunity = sf.convert_lead(lead_id, at=datetime.now(UTC) + timedelta(seconds=4))
    converted = sync.run()
    assert converted.report.converted == 1
    lead = lead_by_email(db, "ada@example.com")
    assert lead.stage == "sqo" and lead.crm_seen["opportunity_id"] == opportunity
    with db.transaction() as session:
        handoff_rows = session.scalars(
            select(StageTransition)
            .where(StageTransition.lead_id == lead.id)
            .order_by(StageTransition.id.desc())
        ).first()
    assert handoff_rows.actor == "salesforce" and opportunity in handoff_rows.reason
    updates_before = len(sf.calls("update"))
    with db.transaction() as session:
        change_owner(
            session,
            session.get(Lead, lead.id),
            to="U0REP1",
            actor="U0MGR1",
            reason="assigned by U0MGR1",
            now=runtime.now(),
        )
    assert count(db, CrmWriteRow, *PENDING) == 0  # a converted Lead gets no writes
    sender.drain()
    assert len(sf.calls("update")) == updates_before


def test_a_reject_writes_its_status_and_a_task_with_the_reason(db, db_url, config, sf):
    runtime, sync, sender = parts(db, db_url, with_crm(config), sf)
    sf.add_user("rep1@example.com")
    lead_id = sf.add_lead(Email="bo@example.com", Country="DE", Status="Marketing Qualified")
    sync.run()
    lead = lead_by_email(db, "bo@example.com")
    with db.transaction() as session:
        handoff.reject(
            session,
            lead.id,
            actor="U0REP1",
            reason="not_ready",
            comment="budget in Q3",
            config=runtime.config,
            now=runtime.now(),
        )
    sender.drain()
    assert sf.lead(lead_id)["Status"] == "Nurture"
    (task,) = sf.tasks(lead_id)
    assert "Not ready yet: budget in Q3" in task["Description"]


def test_5000_leads_imported_once_through_expiry_and_5xx_and_again_nothing(db, db_url, config, sf):
    _, sync, _ = parts(db, db_url, with_crm(config), sf)
    sf.add_leads(5000, start=datetime.now(UTC) - timedelta(minutes=2))
    sf.fail("query", status=500)
    sf.fail("query_more", status=503, times=2)
    sf.fail("query_more", expire_session=True)
    first = sync.run()
    assert first.error is None and first.report.created == 5000
    assert count(db, Lead) == 5000
    assert sync.run().report.changed == 0
    assert count(db, Lead) == 5000


def test_wrong_credentials_and_a_url_that_is_not_an_org_are_one_line(config, sf):
    crm_config = with_crm(config)
    with pytest.raises(CrmSetupError, match="LEADBOT_SALESFORCE_URL"):
        build_adapter(Settings(), crm_config, env={})
    wrong = build_adapter(
        Settings(),
        crm_config,
        env={
            "LEADBOT_SALESFORCE_URL": sf.url,
            "SALESFORCE_CLIENT_ID": sf.client_id,
            "SALESFORCE_CLIENT_SECRET": "nope",
        },
        ca_bundle=sf.ca_bundle,
    )
    with pytest.raises(CrmSetupError, match=r"^SALESFORCE_CLIENT_SECRET does not match"):
        wrong.connect()


def test_check_names_a_missing_field_and_an_inactive_picklist_value(config, sf):
    sf.set_picklist_value("Lead", "Status", "Nurture", active=False)
    crm_config = with_crm(config, salesforce={"stages": {"sal": {"Rating__c": "Hot"}}})
    adapter = build_adapter(
        Settings(),
        crm_config,
        env={
            "LEADBOT_SALESFORCE_URL": sf.url,
            "SALESFORCE_CLIENT_ID": sf.client_id,
            "SALESFORCE_CLIENT_SECRET": sf.client_secret,
        },
        ca_bundle=sf.ca_bundle,
    )
    problems = adapter.check({"U0REP1": "rep1@example.com"})
    assert any("Rating__c" in p for p in problems)
    assert any("'Nurture' is inactive" in p for p in problems)
    assert any("U0REP1" in p for p in problems)
