"""Numbers no float can hold: refused where they enter (422, nothing stored), and a lead that
holds one anyway (stored before intake bounded numbers) is still scored and shown: the model
counts such a value as missing and the likelihood never raises."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from core.learning.features import lead_features
from core.learning.model import train
from core.learning.promotion import Decision
from core.learning.values import number
from core.schemas import LeadIn
from core.scoring import _number
from core.services import learning
from tests.factories import make_lead
from tests.integration.conftest import row_counts

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HUGE = "9" * 4000


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "ada@acme.de", "properties": {"budget": ' + HUGE + "}}",
        '{"email": "ada@acme.de", "properties": {"deep": {"list": [1, -' + HUGE + "]}}}",
        '{"email": "ada@acme.de", "company_size": ' + HUGE + "}",
        '{"email": "ada@acme.de", "company_size": 1e400}',
    ],
    ids=["property", "nested", "company_size", "float"],
)
def test_a_number_no_float_can_hold_is_refused_at_intake(client, db, body):
    before = row_counts(db)
    reply = client.post("/api/v1/leads", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 422, reply.text
    assert row_counts(db) == before


def test_an_event_with_such_a_number_is_refused(client, db):
    before = row_counts(db)
    body = '{"email": "ada@acme.de", "type": "page_view", "properties": {"n": ' + HUGE + "}}"
    reply = client.post(
        "/api/v1/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 422 and "64-bit float" in reply.text
    assert row_counts(db) == before


def test_the_schema_says_where():
    with pytest.raises(ValueError, match=r"must fit a 64-bit float .*\(at budget\)"):
        LeadIn.model_validate({"email": "ada@acme.de", "properties": {"budget": 10**4000}})
    assert LeadIn.model_validate({"email": "ada@acme.de", "properties": {"n": 2**1000}})


def test_the_readers_take_such_a_number_as_missing():
    assert number(10**4000) is None and number(-(10**4000)) is None
    assert number(2**63) == float(2**63)
    assert _number(10**4000) is None and _number("1e400") is None
    features = lead_features({"company_size": 10**4000, "properties": {"budget": 10**4000}})
    assert features["company_size"] is None and features["properties.budget"] is None


def _budget_model(session):
    rng = random.Random(5)
    rows, labels = [], []
    for _ in range(300):
        budget = rng.randrange(1000, 100_000)
        rows.append({"properties.budget": budget})
        labels.append(int(rng.random() < budget / 100_000))
    model = train(rows, labels, features=["properties.budget"])
    return learning.store(
        session,
        model,
        decision=Decision(True, "promoted for the test", len(labels), sum(labels)),
        source="test",
        positive="sql",
        trained=None,
        labels=labels,
        metrics={},
        # A moment of its own: the process-wide model cache knows a version by id and time.
        now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_a_stored_lead_with_such_a_number_is_still_scored_and_shown(client, db, config):
    with db.transaction() as session:
        version = _budget_model(session).id
        lead = make_lead(session, properties={"budget": 10**4000})
        plain = make_lead(session, properties={})
        lead_id, plain_id = lead.id, plain.id
    with db.transaction() as session:
        found = learning.likelihood_of(session, session.get(type(lead), lead_id), config, NOW)
        missing = learning.likelihood_of(session, session.get(type(lead), plain_id), config, NOW)
        assert found is not None and missing is not None and found.version == version
        # The unreadable budget counts exactly as no budget at all.
        assert found.probability == missing.probability
    reply = client.get(f"/api/v1/leads/{lead_id}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["likelihood"]["model"] == version
