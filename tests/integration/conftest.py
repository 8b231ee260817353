from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.http.server import create_app
from bot.runtime import Runtime
from core.config import Settings
from core.models import Base
from core.services.apikeys import create_key


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


@pytest.fixture
def runtime(db, config, clock, db_url) -> Runtime:
    return Runtime(
        settings=Settings(LEADBOT_DATABASE_URL=db_url), config=config, db=db, clock=clock
    )


@pytest.fixture
def api_key(db, clock) -> str:
    with db.transaction() as session:
        return create_key(session, "tests", now=clock())


@pytest.fixture
def client(runtime, api_key) -> Iterator[TestClient]:
    with TestClient(create_app(runtime), headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


def row_counts(db) -> dict[str, int]:
    with db.transaction() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }
