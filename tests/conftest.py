"""Shared fixtures: a real database on SQLite always and on PostgreSQL when
LEADBOT_TEST_DATABASE_URL is set (CI sets it; LEADBOT_REQUIRE_POSTGRES=1 turns a missing server
into a failure instead of a skip)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.config import WorkspaceConfig, load_config
from core.db import Database
from core.migrate import recreate, upgrade
from core.models import Base

pytest_plugins = ["emulators.slack.pytest_plugin"]

ROOT = Path(__file__).resolve().parent.parent


def _worker_database(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets a database of its own, named after the configured
    one (``leadbot_test`` -> ``leadbot_test_gw0``) and created on first use, so workers never
    truncate each other's tables. Without xdist the configured database is used as it is."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


PG_URL = _worker_database(os.environ.get("LEADBOT_TEST_DATABASE_URL"))
PG_REQUIRED = os.environ.get("LEADBOT_REQUIRE_POSTGRES") == "1"
PG_SKIP_REASON = (
    "PostgreSQL not configured: set LEADBOT_TEST_DATABASE_URL to run this test on PostgreSQL "
    "(.ci/run starts a server and sets it)"
)

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "leadbot.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    if not PG_URL:
        if PG_REQUIRED:
            pytest.fail("LEADBOT_REQUIRE_POSTGRES=1 but LEADBOT_TEST_DATABASE_URL is not set")
        pytest.skip(PG_SKIP_REASON)
    recreate(PG_URL)
    return PG_URL


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    try:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at head with no rows, on each engine."""
    if request.param == "sqlite":
        path = tmp_path / "leadbot.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_migrated")
    _truncate_pg(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def config() -> WorkspaceConfig:
    return load_config(ROOT / "leadbot.example.toml")


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        from sqlalchemy.engine import make_url

        return f"database engines: sqlite, postgresql ({make_url(PG_URL).render_as_string(hide_password=True)})"
    return "database engines: sqlite only (LEADBOT_TEST_DATABASE_URL not set)"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line that shows whether the PostgreSQL half of the suite really ran."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        counts[outcome] = sum(
            1
            for report in terminalreporter.stats.get(outcome, [])
            if getattr(report, "when", "call") in ("call", "setup")
            and "[postgresql" in getattr(report, "nodeid", "")
            and (outcome != "passed" or report.when == "call")
        )
    terminalreporter.write_line(
        "postgresql tests: " + ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    )
