"""A database of many leads, seeded fast (executemany on SQLite, COPY on PostgreSQL), for the
stale scan and the lookups.

Per 20 leads: 2 stale (open past an SLA, levels partly sent or due), 8 already reminded of every
level of their stage, 9 in later stages (SQO, nurture, unqualified), 1 fresh. Each open lead has
the transition that entered its stage (id = lead id); reminded levels are in sent_reminders.
``next_reminder_at`` is what a running system would have left: the time of an open lead's next
reminder as of its stage entry (the due time, for a stale lead; later, for a fresh one), NULL
once every level was sent or in a later stage.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Index, create_engine, text
from sqlalchemy.engine import Connection, make_url

from benchmarks.common import ROOT
from core.businesstime import hours_of
from core.config import load_config
from core.lifecycle import Stage
from core.migrate import upgrade
from core.models import Base
from core.services.reminders import next_reminder_at, sla_due

SEEDED = ("leads", "stage_transitions", "sent_reminders")

#: The clock of the stale scan: a Monday, 13:00 in Berlin (business hours for both teams).
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WORDS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell"]
WORDS += [f"{w}{n}" for w in ("north", "south", "blue", "green", "prime") for n in range(9)]

SENT_AFTER = timedelta(hours=9)  # when a seeded reminder went out, after its stage entry

LEAD_COLUMNS = (
    "id, email, first_name, last_name, title, company, company_size, country, source, "
    "properties, company_key, name_key, last_name_key, stage, owner, team, stage_changed_at, "
    "version, fit, grade, engagement, product, score_reasons, created_at, updated_at, "
    "next_reminder_at"
)
TRANSITION_COLUMNS = "id, lead_id, from_stage, to_stage, actor, reason, at"
SENT_COLUMNS = "lead_id, transition_id, level, sent_at"


def _plan(i: int) -> tuple[str, datetime, list[str]]:
    """(stage, entered at, levels already sent) of lead ``i``."""
    r = i % 20
    if r < 2:  # stale, in four ways
        return [
            ("mql", NOW - timedelta(days=3), []),  # accept and escalation due
            ("mql", NOW - timedelta(days=3), ["mql_accept"]),  # escalation due
            ("sal", NOW - timedelta(days=10), []),  # qualify reminder due
            ("mql", NOW - timedelta(hours=5), ["mql_accept"]),  # escalation not due yet
        ][(i // 20) % 4]
    if r < 10:  # reminded of everything long ago
        return [
            ("mql", NOW - timedelta(days=40), ["mql_accept", "mql_escalate"]),
            ("sal", NOW - timedelta(days=50), ["sal_qualify"]),
            ("sql", NOW - timedelta(days=90), ["sql_opportunity"]),
        ][i % 3]
    if r < 19:
        return (["sqo", "nurture", "unqualified"][i % 3], NOW - timedelta(days=i % 700), [])
    return ("mql", NOW - timedelta(minutes=10), [])


@functools.cache  # a few distinct plans: the seed stays a bulk load
def _next_time(stage: str, team: str, entered: datetime, sent: tuple[str, ...]) -> datetime | None:
    config = load_config(ROOT / "leadbot.example.toml")
    hours, zone = hours_of(config, team)
    dues = sla_due(Stage(stage), entered, config.sla, hours, zone)
    sent_at = {level: entered + SENT_AFTER for level in sent}
    return next_reminder_at(Stage(stage), dues, sent_at, None, entered)


def rows(n: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...] | None, list[tuple[Any, ...]]]]:
    """(lead, its stage entry or None, its sent reminders) for leads 1..n."""
    for i in range(1, n + 1):
        stage, entered, sent = _plan(i)
        company = f"{WORDS[i % len(WORDS)]} {i // len(WORDS)}"
        first, last = "Ada", f"Lovelace{i}"
        owner = "U0REP1" if stage in ("sal", "sql", "sqo") else None
        team = "emea" if i % 2 else "na"
        lead = (
            i,
            f"lead{i}@{company.replace(' ', '')}.example",
            first,
            last,
            "VP Engineering",
            company.title(),
            500,
            "DE" if i % 2 else "US",
            "webinar",
            "{}",
            company,
            f"{first} {last}".lower(),
            last.lower(),
            stage,
            owner,
            team,
            entered,
            1,
            80.0,
            "A",
            10.0,
            0.0,
            "[]",
            entered - timedelta(days=1),
            entered,
            _next_time(stage, team, entered, tuple(sent)),
        )
        entry = (i, i, "lead", stage, "system", None, entered)
        reminders = [(i, i, level, entered + SENT_AFTER) for level in sent]
        yield lead, entry, reminders


def _sqlite_time(value: Any) -> Any:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(value, datetime)
        else value
    )


def _secondary_indexes() -> list[Index]:
    """The seeded tables' plain indexes: dropped for the load and built after it, from sorted
    data, which is several times faster than maintaining them row by row."""
    return [
        index for name in SEEDED for index in Base.metadata.tables[name].indexes if not index.unique
    ]


def _drop_indexes(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for index in _secondary_indexes():
                connection.execute(text(f"DROP INDEX {index.name}"))
    finally:
        engine.dispose()


def _create_indexes(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _build(connection)
    finally:
        engine.dispose()


def _build(connection: Connection) -> None:
    for index in _secondary_indexes():
        index.create(connection)


def seed_sqlite(path: str, n: int) -> str:
    url = f"sqlite:///{path}"
    upgrade(url)
    _drop_indexes(url)
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        leads, entries, sent = [], [], []
        for lead, entry, reminders in rows(n):
            leads.append(tuple(_sqlite_time(v) for v in lead))
            if entry is not None:
                entries.append(tuple(_sqlite_time(v) for v in entry))
            sent += [tuple(_sqlite_time(v) for v in r) for r in reminders]
        with connection:
            _insert(connection, "leads", LEAD_COLUMNS, leads)
            _insert(connection, "stage_transitions", TRANSITION_COLUMNS, entries)
            _insert(connection, "sent_reminders", SENT_COLUMNS, sent)
    finally:
        connection.close()
    _create_indexes(url)
    connection = sqlite3.connect(path)
    try:
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return url


def _insert(connection: sqlite3.Connection, table: str, columns: str, values: list[Any]) -> None:
    marks = ", ".join("?" for _ in columns.split(","))
    connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)


def reset_pg(url: str) -> None:
    """An empty schema at head (the benchmark owns this database)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    upgrade(url)


def seed_pg(url: str, n: int) -> str:
    import psycopg

    reset_pg(url)
    _drop_indexes(url)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY leads ({LEAD_COLUMNS}) FROM STDIN") as copy:
            for lead, _, _ in rows(n):
                copy.write_row(lead)
        with cursor.copy(f"COPY stage_transitions ({TRANSITION_COLUMNS}) FROM STDIN") as copy:
            for _, entry, _ in rows(n):
                if entry is not None:
                    copy.write_row(entry)
        with cursor.copy(f"COPY sent_reminders ({SENT_COLUMNS}) FROM STDIN") as copy:
            for _, _, reminders in rows(n):
                for reminder in reminders:
                    copy.write_row(reminder)
        for table in ("leads", "stage_transitions"):
            sequence = f"pg_get_serial_sequence('{table}', 'id')"
            cursor.execute(f"SELECT setval({sequence}, (SELECT max(id) FROM {table}))")
        connection.commit()
    _create_indexes(url)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("ANALYZE")
    return url
