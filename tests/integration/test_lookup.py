"""/lead lookup at the service level: prefixes of company, full name and last name, matched
case-insensitively through each key's index, on both engines."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core.models import Lead
from core.schemas import LeadIn
from core.services import leadops
from core.services.intake import upsert_lead
from core.services.leadops import _successor

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def add(db, config, email, **profile):
    with db.transaction() as session:
        lead, _, _ = upsert_lead(session, LeadIn(email=email, **profile), config=config, now=NOW)
        return lead.id


def found(db, query):
    with db.transaction() as session:
        result = leadops.lookup(session, query)
        return sorted(lead.email for lead in result.leads), result.more


def test_prefix_of_company_full_name_and_last_name(db, config):
    add(db, config, "ada@engines.de", first_name="Ada", last_name="Lovelace", company="Analytical")
    add(db, config, "jo@mueller.de", first_name="Jörg", last_name="MÜLLER", company="Straße AG")
    add(db, config, "x@other.de", first_name="Lena", last_name="Lovell", company="Other")
    assert found(db, "ANALYT")[0] == ["ada@engines.de"]
    assert found(db, "ada love")[0] == ["ada@engines.de"]  # the full name
    assert found(db, "love")[0] == ["ada@engines.de", "x@other.de"]  # last names
    assert found(db, "müll")[0] == ["jo@mueller.de"]  # non-ASCII case folding
    assert found(db, "STRASSE")[0] == ["jo@mueller.de"]  # ß folds to ss
    assert found(db, "lovelacex")[0] == []
    assert found(db, "ovelace")[0] == []  # a prefix, not a substring


def test_like_wildcards_in_the_query_are_plain_characters(db, config):
    add(db, config, "a@one.de", company="50% Off")
    add(db, config, "b@two.de", company="500 Startups")
    add(db, config, "c@three.de", company="a_b GmbH")
    add(db, config, "d@four.de", company="axb GmbH")
    assert found(db, "50%")[0] == ["a@one.de"]
    assert found(db, "a_b")[0] == ["c@three.de"]
    assert found(db, "50")[0] == ["a@one.de", "b@two.de"]


def test_the_newest_first_and_the_rest_counted(db, config):
    ids = [add(db, config, f"p{i}@initech.com", company=f"Initech {i}") for i in range(12)]
    with db.transaction() as session:
        for age, lead_id in enumerate(ids):
            session.execute(
                update(Lead).where(Lead.id == lead_id).values(updated_at=NOW - timedelta(hours=age))
            )
    assert found(db, "initech") == (sorted(f"p{i}@initech.com" for i in range(5)), 7)
    # "initech 1" matches Initech 1, 10 and 11, none more
    assert found(db, "initech 1") == (["p10@initech.com", "p11@initech.com", "p1@initech.com"], 0)


def test_a_key_is_kept_for_leads_that_change_name(db, config):
    lead_id = add(db, config, "ada@engines.de", first_name="Ada", last_name="Byron")
    add(db, config, "ada@engines.de", last_name="Lovelace")
    assert found(db, "lovelace")[0] == ["ada@engines.de"] and found(db, "byron")[0] == []
    with db.transaction() as session:
        keys = session.execute(
            select(Lead.name_key, Lead.last_name_key).where(Lead.id == lead_id)
        ).one()
    assert tuple(keys) == ("ada lovelace", "lovelace")


@pytest.mark.parametrize(
    ("key", "successor"),
    [("abc", "abd"), ("a\U0010ffff", "b"), ("\U0010ffff", None), ("a\ud7ff", "a\ue000")],
)
def test_the_successor_bounds_every_string_with_the_prefix(key, successor):
    assert _successor(key) == successor
    if successor is not None:
        for longer in (key, key + "\x00", key + "\U0010ffff" * 3):
            assert longer.encode("utf-8", "surrogatepass") < successor.encode("utf-8")
