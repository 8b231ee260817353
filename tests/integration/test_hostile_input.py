"""Text no engine can store (a NUL, a lone UTF-16 surrogate) anywhere in a request: 422 naming
the field, nothing stored, and reading still works. Both engines."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import row_counts

SURROGATE = "\udfff"


def post(client, path, body):
    # json.dumps writes a surrogate as the escape "\udfff", as a hostile client would send it.
    return client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})


def named(reply):
    return " ".join(reply.json()["errors"])


LEAD = {"email": "ada@acme.de", "company": "Acme"}
EVENT = {"email": "ada@acme.de", "type": "webinar_attended"}

BAD_LEADS = [
    ({**LEAD, "first_name": f"Ada{SURROGATE}"}, "first_name"),
    ({**LEAD, "company": "Ac\x00me"}, "company"),
    ({**LEAD, "email": f"ad{SURROGATE}a@acme.de"}, "email"),
    ({**LEAD, "properties": {"plan": SURROGATE}}, "properties"),
    ({**LEAD, "properties": {SURROGATE: "x"}}, "properties"),
    ({**LEAD, "properties": {"deep": [{"deeper": {"x": f"a{SURROGATE}"}}]}}, "deep[0].deeper.x"),
    ({**LEAD, "properties": {"deep": {"k\x00": 1}}}, "properties"),
    ({**LEAD, "properties": {"nul": "a\x00b"}}, "properties"),
]
BAD_EVENTS = [
    ({**EVENT, "properties": {"page": SURROGATE}}, "properties"),
    ({**EVENT, "properties": {"a": {"b": ["\x00"]}}}, "a.b[0]"),
    ({**EVENT, "event_id": SURROGATE}, "event_id"),
    ({**EVENT, "event_id": "e-\x00"}, "event_id"),
    ({**EVENT, "type": f"webinar{SURROGATE}"}, "type"),
    ({"events": [EVENT, {**EVENT, "event_id": f"x{SURROGATE}"}]}, "events[1].event_id"),
]


@pytest.mark.parametrize(("body", "field"), BAD_LEADS)
def test_unstorable_text_in_a_lead_is_422_and_nothing_is_stored(client, db, body, field):
    before = row_counts(db)
    reply = post(client, "/api/v1/leads", body)
    assert reply.status_code == 422, reply.text
    assert field in named(reply)
    assert row_counts(db) == before
    assert client.get("/api/v1/leads").status_code == 200


@pytest.mark.parametrize(("body", "field"), BAD_EVENTS)
def test_unstorable_text_in_an_event_is_422_and_nothing_is_stored(client, db, body, field):
    assert post(client, "/api/v1/leads", LEAD).status_code == 201
    before = row_counts(db)
    reply = post(client, "/api/v1/events", body)
    assert reply.status_code == 422, reply.text
    assert field in named(reply)
    assert row_counts(db) == before
    page = client.get("/api/v1/leads")
    assert page.status_code == 200 and len(page.json()["leads"]) == 1
    lead_id = page.json()["leads"][0]["id"]
    assert client.get(f"/api/v1/leads/{lead_id}").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("email=a%00b@acme.de", "email"),
        ("stage=mql%00", "stage"),
        ("cursor=%00", "cursor"),
        ("cursor=abc%00def", "cursor"),
        ("email=%ED%BF%BF@acme.de", None),  # the UTF-8 bytes of a surrogate: not text at all
    ],
)
def test_nul_in_a_query_parameter_is_422(client, query, field):
    assert post(client, "/api/v1/leads", LEAD).status_code == 201
    reply = client.get(f"/api/v1/leads?{query}")
    assert reply.status_code in (200, 422), reply.text
    if field:
        assert reply.status_code == 422 and field in named(reply)
    else:
        assert reply.json().get("leads", []) == []


def test_nul_in_the_api_key_is_401(client):
    reply = client.get("/api/v1/leads", headers={"Authorization": "Bearer lb_\x00"})
    assert reply.status_code == 401


def test_the_message_says_what_is_wrong(client):
    reply = post(client, "/api/v1/leads", {**LEAD, "properties": {"plan": SURROGATE}})
    assert "lone surrogate" in named(reply)
    reply = post(client, "/api/v1/leads", {**LEAD, "title": "CEO\x00"})
    assert "NUL" in named(reply)
