"""The Alembic scripts build exactly the schema the models describe, and undo it."""

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, inspect, select, text

from core.migrate import downgrade, upgrade
from core.models import Base
from tests.conftest import PG_REQUIRED, PG_SKIP_REASON, PG_URL

SCHEMA = "leadbot_migration_test"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    if not PG_URL:
        if PG_REQUIRED:
            pytest.fail("LEADBOT_REQUIRE_POSTGRES=1 but LEADBOT_TEST_DATABASE_URL is not set")
        pytest.skip(PG_SKIP_REASON)
    # A schema of its own, so the other tests' tables are untouched.
    admin = create_engine(PG_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{SCHEMA}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def tables(url):
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_base(empty_url):
    upgrade(empty_url)
    assert set(Base.metadata.tables) | {"alembic_version"} == tables(empty_url)
    downgrade(empty_url, "base")
    assert tables(empty_url) <= {"alembic_version"}
    upgrade(empty_url)  # and back up again, from base
    assert set(Base.metadata.tables) <= tables(empty_url)


def test_models_and_migrations_agree(empty_url):
    upgrade(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_the_agreement_check_sees_a_missing_column(empty_url):
    upgrade(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE leads DROP COLUMN phone"))
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert any(item[0] == "add_column" and item[3].name == "phone" for item in diff)


def test_0008_fills_the_last_name_key_of_existing_leads(empty_url):
    upgrade(empty_url, "0007")
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    leads = [
        {
            "email": f"p{n}@x.de",
            "stage": "lead",
            "last_name": last,
            **dict.fromkeys(TIMES, at),
            **LEAD,
        }
        for n, last in enumerate(["MÜLLER", None, "Straße"])
    ]
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(TABLES["leads"]), leads)  # the new key is not named
        upgrade(empty_url)
        with engine.connect() as connection:
            keys = connection.execute(text("SELECT last_name_key FROM leads ORDER BY id")).scalars()
            assert list(keys) == ["müller", None, "strasse"]
    finally:
        engine.dispose()


def test_0009_marks_open_leads_to_be_checked_at_once_unless_fully_reminded(empty_url):
    upgrade(empty_url, "0009")
    downgrade(empty_url, "-1")  # the schema just before 0009, so that it fills existing rows
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    stages = ["lead", "mql", "pql", "sal", "sql", "sqo", "nurture", "mql", "sal", "sql", "mql"]
    leads = [
        {"id": n, "email": f"l{n}@example.com", "stage": stage, **dict.fromkeys(TIMES, at), **LEAD}
        for n, stage in enumerate(stages, 1)
    ]
    entries = [
        {
            "id": n,
            "lead_id": n,
            "from_stage": "lead",
            "to_stage": stage,
            "actor": "system",
            "at": at,
        }
        for n, stage in enumerate(stages, 1)
    ]
    # 8 to 10: every level of their stage sent; 2 and 11: one of two; 10 snoozed as well.
    sent = [(2, "mql_accept"), (8, "mql_accept"), (8, "mql_escalate"), (9, "sal_qualify")]
    sent += [(10, "sql_opportunity"), (11, "mql_escalate")]
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(TABLES["leads"]), leads)  # the new column is not named
            connection.execute(insert(TABLES["stage_transitions"]), entries)
            connection.execute(
                insert(TABLES["sent_reminders"]),
                [
                    {"lead_id": n, "transition_id": n, "level": lvl, "sent_at": at}
                    for n, lvl in sent
                ],
            )
            connection.execute(
                insert(TABLES["reminder_snoozes"]),
                [
                    {
                        "lead_id": 10,
                        "transition_id": 10,
                        "until": at,
                        "actor": "U0",
                        "created_at": at,
                    }
                ],
            )
        upgrade(empty_url, "0009")
        with engine.connect() as connection:
            table = TABLES["leads"]
            stored = dict(connection.execute(select(table.c.id, table.c.next_reminder_at)).all())
    finally:
        engine.dispose()
    assert {n for n, value in stored.items() if value == at} == {2, 3, 4, 5, 10, 11}
    assert {n for n, value in stored.items() if value is None} == {1, 6, 7, 8, 9}
    downgrade(empty_url, "0008")
    assert "next_reminder_at" not in {c["name"] for c in inspect_columns(empty_url, "leads")}
    assert "reminder_basis" not in tables(empty_url)


def test_0010_gives_both_queues_the_same_state_names_and_keeps_their_rows(empty_url):
    upgrade(empty_url, "0009")
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO outbox (id, kind, payload, created_at, next_attempt_at, attempts,"
                    " sent_at) VALUES (1, 'digest', '{}', :at, :at, 1, :at)"
                ),
                {"at": at},
            )
        upgrade(empty_url, "0010")
        columns = {c["name"] for c in inspect_columns(empty_url, "outbox")}
        hooks = {c["name"] for c in inspect_columns(empty_url, "webhook_deliveries")}
        assert {"delivered_at", "gave_up_at"} <= columns and "sent_at" not in columns
        assert {"delivered_at", "gave_up_at"} <= hooks and "failed_at" not in hooks
        with engine.connect() as connection:
            delivered = connection.execute(text("SELECT delivered_at FROM outbox")).scalar_one()
        assert delivered is not None
        downgrade(empty_url, "0009")
        assert "sent_at" in {c["name"] for c in inspect_columns(empty_url, "outbox")}
    finally:
        engine.dispose()


TABLES = Base.metadata.tables
LEAD = {
    "properties": {},
    "version": 1,
    "fit": 0.0,
    "grade": "D",
    "engagement": 0.0,
    "product": 0.0,
    "score_reasons": [],
}
TIMES = ("stage_changed_at", "created_at", "updated_at")


def inspect_columns(url, table):
    engine = create_engine(url)
    try:
        return inspect(engine).get_columns(table)
    finally:
        engine.dispose()


def test_0011_adds_the_crm_link_and_sync_state_and_takes_them_away(empty_url):
    upgrade(empty_url, "0011")
    columns = {c["name"] for c in inspect_columns(empty_url, "leads")}
    assert {"crm_system", "crm_id"} <= columns
    assert "crm_sync_state" in tables(empty_url)
    downgrade(empty_url, "0010")
    assert not {"crm_system", "crm_id"} & {c["name"] for c in inspect_columns(empty_url, "leads")}
    assert "crm_sync_state" not in tables(empty_url)


def test_0012_keeps_endpoints_added_before_it_working(empty_url):
    upgrade(empty_url, "0011")
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, url, events, secret, created_at) "
                    "VALUES (1, 'http://10.0.0.5/hook', '[]', 'whsec_x', :at)"
                ),
                {"at": at},
            )
        upgrade(empty_url, "0012")
        with engine.connect() as connection:
            allowed = connection.execute(text("SELECT allow_private FROM webhook_endpoints"))
            assert [bool(value) for value in allowed.scalars()] == [True]
    finally:
        engine.dispose()
    downgrade(empty_url, "0011")
    assert "allow_private" not in {
        c["name"] for c in inspect_columns(empty_url, "webhook_endpoints")
    }


def test_upgrade_refuses_a_revision_this_release_does_not_know(empty_url):
    from core.migrate import UnknownRevision, expected_heads

    upgrade(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'ffff_newer'"))
        with pytest.raises(UnknownRevision, match=f"at revision ffff_newer.*{expected_heads()[0]}"):
            upgrade(empty_url)
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert revision.scalar() == "ffff_newer"
    finally:
        engine.dispose()


def test_0013_adds_the_crm_write_queue_and_takes_it_away(empty_url):
    upgrade(empty_url, "0013")
    assert "crm_writes" in tables(empty_url)
    columns = {c["name"] for c in inspect_columns(empty_url, "crm_writes")}
    assert {
        "id",
        "lead_id",
        "kind",
        "payload",
        "key",
        "created_at",
        "next_attempt_at",
        "attempts",
        "last_error",
        "delivered_at",
        "gave_up_at",
    } <= columns
    assert {"crm_seen", "crm_deleted_at"} <= {
        c["name"] for c in inspect_columns(empty_url, "leads")
    }
    downgrade(empty_url, "0012")
    assert "crm_writes" not in tables(empty_url)
    assert not {"crm_seen", "crm_deleted_at"} & {
        c["name"] for c in inspect_columns(empty_url, "leads")
    }
    lease = {c["name"] for c in inspect_columns(empty_url, "crm_sync_state")}
    assert "lease_holder" not in lease


def test_0014_snapshots_each_lead_as_of_its_last_update_and_marks_old_versions_unchecked(
    empty_url,
):
    from sqlalchemy import column, table

    upgrade(empty_url, "0013")
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    later = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(TABLES["leads"]),
                [
                    {
                        "email": "a@x.de",
                        "stage": "lead",
                        "title": "CTO",
                        "source": None,
                        **dict.fromkeys(TIMES, at),
                        **{**LEAD, "properties": {"plan": "pro"}},
                    },
                    {
                        "email": "b@x.de",
                        "stage": "mql",
                        "title": None,
                        "source": "ads",
                        **dict.fromkeys(TIMES, at),
                        **{**LEAD, "updated_at": later},
                    },
                ],
            )
            # The table as revision 0013 knew it: no status, no decision.
            models = table(
                "scoring_models",
                *(
                    column(name, TABLES["scoring_models"].c[name].type)
                    for name in (
                        "created_at",
                        "source",
                        "positive",
                        "rows",
                        "positives",
                        "metrics",
                        "model",
                        "active",
                    )
                ),
            )
            connection.execute(
                insert(models),
                [
                    {
                        "created_at": at,
                        "source": "database",
                        "positive": "sql",
                        "rows": 1,
                        "positives": 1,
                        "metrics": {},
                        "model": {},
                        "active": True,
                    }
                ],
            )
        upgrade(empty_url, "0014")
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT l.email, s.taken_at, s.profile FROM lead_snapshots s "
                    "JOIN leads l ON l.id = s.lead_id ORDER BY l.email"
                )
            ).all()
            status = connection.execute(text("SELECT status, decision FROM scoring_models")).one()
        assert [row[0] for row in rows] == ["a@x.de", "b@x.de"]
        profiles = [
            row[2] if isinstance(row[2], dict) else __import__("json").loads(row[2]) for row in rows
        ]
        assert profiles[0]["title"] == "CTO" and profiles[0]["properties"] == {"plan": "pro"}
        assert profiles[1]["source"] == "ads" and "email" not in profiles[1]
        taken = [
            row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(row[1])
            for row in rows
        ]
        assert [t.replace(tzinfo=None) for t in taken] == [
            at.replace(tzinfo=None),
            later.replace(tzinfo=None),
        ]
        assert tuple(status) == ("unchecked", None)
        downgrade(empty_url, "0013")
        assert "lead_snapshots" not in tables(empty_url)
        assert "status" not in {c["name"] for c in inspect_columns(empty_url, "scoring_models")}
    finally:
        engine.dispose()


def test_0015_adds_the_privacy_tables_and_keeps_alerts_on_the_way_down(empty_url):
    upgrade(empty_url, "0015")
    assert {"privacy_audit", "suppressions", "install_secrets"} <= tables(empty_url)
    leads = {c["name"] for c in inspect_columns(empty_url, "leads")}
    assert {"erased_at", "folded_at", "folded_engagement", "folded_product"} <= leads
    slack = {c["name"]: c for c in inspect_columns(empty_url, "slack_messages")}
    assert slack["transition_id"]["nullable"] and "text" in slack
    now = datetime(2026, 12, 1, tzinfo=UTC)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO leads (id, email, properties, stage, stage_changed_at, version,"
                    " fit, grade, engagement, product, score_reasons, created_at, updated_at)"
                    " VALUES (1, 'a@b.de', '{}', 'mql', :t, 1, 0, 'D', 0, 0, '[]', :t, :t)"
                ),
                {"t": now},
            )
            connection.execute(
                text(
                    "INSERT INTO stage_transitions (id, lead_id, from_stage, to_stage, actor, at)"
                    " VALUES (1, 1, 'lead', 'mql', 'system', :t)"
                ),
                {"t": now},
            )
            for id_, purpose, transition in ((1, "alert", 1), (2, "assigned_dm", None)):
                connection.execute(
                    text(
                        "INSERT INTO slack_messages (id, lead_id, purpose, transition_id, channel,"
                        " ts, created_at) VALUES (:i, 1, :p, :tr, 'C1', :ts, :t)"
                    ),
                    {"i": id_, "p": purpose, "tr": transition, "ts": f"1.{id_}", "t": now},
                )
    finally:
        engine.dispose()
    downgrade(empty_url, "0014")
    assert not {"privacy_audit", "suppressions", "install_secrets"} & tables(empty_url)
    assert "erased_at" not in {c["name"] for c in inspect_columns(empty_url, "leads")}
    engine = create_engine(empty_url)
    try:
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT purpose FROM slack_messages")).scalars().all()
    finally:
        engine.dispose()
    assert kept == ["alert"]  # the messages without a stage entry cannot stay; alerts do
