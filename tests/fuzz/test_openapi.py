"""A bounded property-based run over the served OpenAPI document: no input may cause a 5xx.

Runs on SQLite (the API code is the same on PostgreSQL; its engine-specific limits, such as NUL
characters and integer ranges, are covered by the intake tests on both engines)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from bot.http.server import create_app
from bot.runtime import Runtime
from core.config import Settings
from core.db import Database
from core.schemas import EventIn
from core.services.apikeys import create_key
from core.services.intake import record_events


@pytest.fixture
def fuzz_app(sqlite_template, tmp_path, config):
    import shutil

    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    with db.transaction() as session:
        key = create_key(session, "fuzz", now=now)
        # Some leads to find, so GET by id also reaches its 200 path.
        record_events(
            session,
            [EventIn(email=f"f{i}@example.com", type="page_view") for i in range(5)],
            config=config,
            now=now,
        )
    app = create_app(Runtime(settings=Settings(LEADBOT_DATABASE_URL=url), config=config, db=db))
    app.state.fuzz_key = key
    yield app
    db.dispose()


@pytest.fixture
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case, fuzz_app):
    response = case.call(headers={"Authorization": f"Bearer {fuzz_app.state.fuzz_key}"})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500
