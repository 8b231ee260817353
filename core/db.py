"""Engine and session factory. One transaction per use case: ``with db.transaction() as s:``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``. SQLite gets WAL, foreign keys, a busy timeout and ``BEGIN
    IMMEDIATE`` transactions: writers queue for the lock at the start instead of failing when a
    read lock cannot be upgraded, which is what makes compare-and-set safe under threads."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
    if parsed.database not in (None, "", ":memory:") and not parsed.query.get("uri"):
        path = parsed.database

        @event.listens_for(engine, "do_connect")
        def _private(*_args: Any) -> None:
            create_private(path)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if parsed.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten content is zeroed, not left in free pages: an erased person's
        # name must not stay readable in the file (see the README's "Personal data").
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_private(path: str) -> None:
    """Create the SQLite file ``path`` readable by its owner only (0600), unless it exists. It
    holds names and e-mail addresses; SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files
    the database file's permissions, so they are private too. An existing file keeps the
    permissions its owner chose."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # no such directory and the like: sqlite3.connect says so in its own words
    os.close(descriptor)


T = TypeVar("T")


class Database:
    """Engine plus session factory; ``transaction()`` commits on success, rolls back on error."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def checkpoint(self) -> bool:
        """On SQLite, copy the write-ahead log into the file and empty it, so the old versions
        of pages an erase rewrote are gone from the ``-wal`` file too; True if it completed
        (False while another connection still reads an older snapshot: the next checkpoint
        finishes it). A no-op elsewhere."""
        if self.engine.dialect.name != "sqlite":
            return True
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        return not busy

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def with_retry(database: Database, work: Callable[[Session], T], attempts: int = 3) -> T:
    """Run ``work`` in a transaction, again from the start if a concurrent writer made a unique
    constraint fail (two requests creating the same lead or event at once: the retry sees the
    other's row and takes the update path) or PostgreSQL reports a deadlock."""
    for attempt in range(1, attempts + 1):
        try:
            with database.transaction() as session:
                return work(session)
        except (IntegrityError, OperationalError) as exc:
            retryable = isinstance(exc, IntegrityError) or _transient(exc)
            if not retryable or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _transient(exc: OperationalError) -> bool:
    """PostgreSQL's deadlock and serialization failures: the transaction may simply run again."""
    return getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def insert_or_ignore(
    session: Session, model: type[Any], values: dict[str, Any], conflict: Sequence[str]
) -> bool:
    """Insert one row unless a row with the same ``conflict`` columns (a unique key) exists;
    True if this call inserted it. Concurrent callers on PostgreSQL wait for each other on the
    unique index, so exactly one of them gets True; SQLite serialises writers anyway."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):  # any other engine: a savepoint around an insert
        try:
            with session.begin_nested():
                session.add(model(**values))
        except IntegrityError:
            return False
        return True
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(model)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(model)
    key = next(iter(model.__table__.primary_key.columns))
    stmt = stmt.values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    # RETURNING rather than rowcount: the ORM may not report a row count for this statement.
    return session.execute(stmt.returning(key)).first() is not None
