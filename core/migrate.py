"""Schema migrations (Alembic) driven from code: ``leadbot db upgrade`` and ``serve`` use this."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url

from core.refusals import LeadbotError


class UnknownRevision(LeadbotError):
    """The database's schema is at a revision this release does not know (a newer release
    migrated it, or it was restored from elsewhere): nothing may touch it."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def expected_heads() -> tuple[str, ...]:
    """The schema revision(s) this release brings a database to."""
    return tuple(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def unknown_revision(connection: Connection) -> str | None:
    """Why this release must not touch the database on ``connection`` (one line), or None: its
    schema is at a revision none of this release's migrations knows. An empty database, or one
    at any revision of this release, is fine."""
    current = MigrationContext.configure(connection).get_current_heads()
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {revision.revision for revision in script.walk_revisions()}
    strange = [revision for revision in current if revision not in known]
    if not strange:
        return None
    expects = ", ".join(expected_heads())
    return (
        f"the database schema is at revision {', '.join(strange)}, which this release does not "
        f"know (it expects {expects}): a newer leadbot has migrated it, or it was restored from "
        "another installation; run that release, or restore a backup made for this one "
        "(nothing was changed)"
    )


def check_revision(url: str) -> None:
    """:class:`UnknownRevision` when :func:`unknown_revision` finds the database's schema
    foreign to this release. A SQLite file that does not exist yet has nothing to check, and is
    not created here (the migration creates it private, see :mod:`core.db`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
        not parsed.database or parsed.database == ":memory:" or not Path(parsed.database).exists()
    ):
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            problem = unknown_revision(connection)
    finally:
        engine.dispose()
    if problem:
        raise UnknownRevision(problem)


#: Any fixed number: the PostgreSQL advisory lock that lets one process at a time migrate.
MIGRATION_LOCK = 7_150_442


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``. On PostgreSQL, several processes starting at once
    (``leadbot serve`` upgrades first) take turns through an advisory lock; the later ones find
    the schema at head and do nothing."""
    config = alembic_config(url)
    if make_url(url).get_backend_name() != "postgresql":
        check_revision(url)
        command.upgrade(config, revision)
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                problem = unknown_revision(connection)
                if problem:
                    raise UnknownRevision(problem)
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


def recreate(url: str) -> None:
    """Drop everything in the PostgreSQL database's public schema, then migrate it to head: only
    for a database that a test run or a benchmark owns."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    upgrade(url)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
