"""The intake API through the real FastAPI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from bot.cli.webhook import resolve
from bot.http.server import create_app
from bot.runtime import Runtime
from core.config import Settings, parse_config
from core.db import Database
from core.models import Base, Lead, Outbox
from core.schemas import EventIn
from core.services import intake, webhook_endpoints
from core.services.apikeys import create_key
from tests.conftest import _truncate_pg
from tests.integration.conftest import row_counts

ADA = {"email": "Ada@Acme.de", "first_name": "Ada", "title": "VP Engineering", "company": "Acme",
       "company_size": 500, "country": "de"}  # fmt: skip


def events(email, *types, **extra):
    return {"events": [{"email": email, "type": kind, **extra} for kind in types]}


def test_create_then_update_by_email(client):
    created = client.post("/api/v1/leads", json={**ADA, "properties": {"plan": "free"}})
    assert created.status_code == 201
    body = created.json()
    assert (body["email"], body["country"], body["stage"], body["score"]["grade"]) == (
        "ada@acme.de",
        "DE",
        "lead",
        "A",
    )
    updated = client.post(
        "/api/v1/leads",
        json={
            "email": " ADA@acme.DE",
            "last_name": "Lovelace",
            "title": "",
            "properties": {"seats": 5},
        },
    )
    assert updated.status_code == 200
    body = updated.json()
    assert body["id"] == created.json()["id"]
    assert body["title"] == "VP Engineering"  # an empty value does not erase
    assert body["last_name"] == "Lovelace"
    assert body["properties"] == {"plan": "free", "seats": 5}


def test_events_cross_the_threshold_into_mql(client, db):
    lead_id = client.post("/api/v1/leads", json=ADA).json()["id"]
    reply = client.post(
        "/api/v1/events",
        json=events(
            "ada@acme.de",
            "webinar_attended",
            "webinar_attended",
            "pricing_page_view",
            "content_download",
        ),
    )
    assert reply.status_code == 200 and reply.json() == {"accepted": 4, "duplicates": 0}
    lead = client.get(f"/api/v1/leads/{lead_id}").json()
    assert (lead["stage"], lead["team"], lead["owner"]) == ("mql", "emea", None)
    assert lead["score"]["engagement"] == 50
    assert {"rule": "engagement: webinar_attended x2", "points": 30} in lead["score"]["reasons"]
    assert [(h["from_stage"], h["to_stage"], h["actor"]) for h in lead["history"]] == [
        ("lead", "mql", "system")
    ]
    assert lead["history"][0]["reason"] == "engagement 50.0 >= mql_threshold 50 with grade A"
    assert lead["qualification"] is None and lead["opportunity"] is None
    with db.transaction() as s:
        outbox = s.scalars(select(Outbox)).all()
    assert [(o.kind, o.lead_id, o.payload["team"]) for o in outbox] == [
        ("lead_qualified", lead_id, "emea")
    ]


def test_hand_raiser_and_pql(client):
    client.post(
        "/api/v1/leads", json={"email": "cto@bigco.com", "title": "Chief Technology Officer"}
    )
    assert (
        client.post("/api/v1/events", json=events("cto@bigco.com", "demo_request")).status_code
        == 200
    )
    lead = client.get("/api/v1/leads", params={"email": "cto@bigco.com"}).json()["leads"][0]
    assert (lead["stage"], lead["team"]) == ("mql", "na")
    client.post(
        "/api/v1/events",
        json=events(
            "dev@startup.io",
            "trial_started",
            "invited_teammate",
            "feature_used",
            "feature_used",
            "feature_used",
        ),
    )
    lead = client.get("/api/v1/leads", params={"email": "dev@startup.io"}).json()["leads"][0]
    assert lead["stage"] == "pql" and lead["score"]["product"] == 40


def test_qualified_lead_with_no_route_is_kept_unrouted(client, runtime):
    data = runtime.config.model_dump(mode="json", by_alias=True)
    data["teams"] = data["teams"][:1]  # only emea, which routes DE/FR/GB
    runtime.config = parse_config(data)
    client.post(
        "/api/v1/leads", json={"email": "vp@us.example.com", "title": "VP", "country": "US"}
    )
    client.post("/api/v1/events", json=events("vp@us.example.com", "demo_request"))
    lead = client.get("/api/v1/leads", params={"email": "vp@us.example.com"}).json()["leads"][0]
    assert (lead["stage"], lead["team"]) == ("mql", None)
    assert 'leadbot_leads{stage="mql",team="none"} 1.0' in client.get("/metrics").text


def test_nurture_requalifies(client, db, clock):
    lead_id = client.post("/api/v1/leads", json=ADA).json()["id"]
    with db.transaction() as s:
        s.get(Lead, lead_id).stage = "nurture"
    clock.now += timedelta(days=1)
    client.post("/api/v1/events", json={"lead_id": lead_id, "type": "demo_request"})
    lead = client.get(f"/api/v1/leads/{lead_id}").json()
    assert lead["stage"] == "mql"
    assert lead["history"][-1]["from_stage"] == "nurture"


def test_repeated_event_id_counts_once(client):
    first = client.post(
        "/api/v1/events", json={"email": "a@example.com", "type": "page_view", "event_id": "e-1"}
    )
    again = client.post(
        "/api/v1/events", json={"email": "a@example.com", "type": "page_view", "event_id": "e-1"}
    )
    batch = client.post(
        "/api/v1/events",
        json={
            "events": [
                {"email": "a@example.com", "type": "email_click", "event_id": "e-2"},
                {"email": "a@example.com", "type": "email_click", "event_id": "e-2"},
            ]
        },
    )
    assert [r.json() for r in (first, again, batch)] == [
        {"accepted": 1, "duplicates": 0},
        {"accepted": 0, "duplicates": 1},
        {"accepted": 1, "duplicates": 1},
    ]
    lead = client.get("/api/v1/leads", params={"email": "a@example.com"}).json()["leads"][0]
    assert lead["score"]["engagement"] == 4


def test_a_thousand_events_in_one_request(client, db):
    batch = {
        "events": [
            {"email": f"p{i % 10}@example.com", "type": "page_view", "event_id": f"pv-{i}"}
            for i in range(1000)
        ]
    }
    reply = client.post("/api/v1/events", json=batch)
    assert reply.status_code == 200 and reply.json() == {"accepted": 1000, "duplicates": 0}
    assert row_counts(db)["events"] == 1000 and row_counts(db)["leads"] == 10
    too_many = {"events": batch["events"] + [{"email": "x@example.com", "type": "page_view"}]}
    assert client.post("/api/v1/events", json=too_many).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "named"),
    [
        ("post", "/api/v1/leads", b"{not json", 422, "body"),
        ("post", "/api/v1/leads", {"first_name": "No Email"}, 422, "email"),
        ("post", "/api/v1/leads", {"email": "not-an-email"}, 422, "email"),
        (
            "post",
            "/api/v1/leads",
            {"email": "a@example.com", "company_size": "many"},
            422,
            "company_size",
        ),
        (
            "post",
            "/api/v1/leads",
            {"email": "a@example.com", "company_size": 0},
            422,
            "company_size",
        ),
        ("post", "/api/v1/leads", {"email": "a@example.com", "country": "Germany"}, 422, "country"),
        ("post", "/api/v1/leads", {"email": "a@example.com", "colour": "red"}, 422, "colour"),
        (
            "post",
            "/api/v1/leads",
            {"email": "a@example.com", "properties": {str(i): i for i in range(51)}},
            422,
            "properties",
        ),
        ("post", "/api/v1/leads", {"email": "a@example.com", "title": "x\u0000y"}, 422, "title"),
        (
            "post",
            "/api/v1/leads",
            b'{"email": "a@example.com", "properties": {"x": NaN}}',
            422,
            "finite",
        ),
        (
            "post",
            "/api/v1/leads",
            {
                "email": "a@example.com",
                "properties": {"x": [[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]},
            },
            422,
            "nested deeper",
        ),
        (
            "post",
            "/api/v1/events",
            {
                "email": "a@example.com",
                "type": "page_view",
                "occurred_at": "9999-12-31T23:00:00-05:00",
            },
            422,
            "in the future",
        ),
        ("post", "/api/v1/events", {"email": "a@example.com"}, 422, "type"),
        ("post", "/api/v1/events", {"type": "page_view"}, 422, "needs email or lead_id"),
        (
            "post",
            "/api/v1/events",
            {"email": "a@example.com", "type": "page_view", "occurred_at": "2099-01-01T00:00:00Z"},
            422,
            "occurred_at",
        ),
        ("post", "/api/v1/events", {"lead_id": 4242, "type": "page_view"}, 422, "lead_id"),
        (
            "post",
            "/api/v1/events",
            {
                "events": [
                    {"email": "a@example.com", "type": "page_view"},
                    {"email": "b@example.com", "type": "x", "occurred_at": "yesterday"},
                ]
            },
            422,
            "events[1].occurred_at",
        ),
        (
            "post",
            "/api/v1/events",
            {
                "events": [
                    {"email": "a@example.com", "type": "page_view"},
                    {"lead_id": 99, "type": "page_view"},
                ]
            },
            422,
            "events[1].lead_id",
        ),
        ("post", "/api/v1/events", {"events": []}, 422, "events"),
        ("get", "/api/v1/leads?cursor=!!!", None, 422, "cursor"),
        ("get", "/api/v1/leads?limit=0", None, 422, "limit"),
        ("get", "/api/v1/leads?stage=hot", None, 422, "stage"),
        ("get", "/api/v1/leads/99", None, 404, "no lead with id 99"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(client, db, method, path, body, status, named):
    before = row_counts(db)
    if isinstance(body, bytes):
        reply = client.post(path, content=body, headers={"Content-Type": "application/json"})
    elif method == "post":
        reply = client.post(path, json=body)
    else:
        reply = client.get(path)
    assert reply.status_code == status, reply.text
    assert named in reply.text
    assert row_counts(db) == before


def test_oversized_body_is_413_and_nothing_is_stored(client, db):
    before = row_counts(db)
    big = json.dumps({"email": "a@example.com", "properties": {"blob": "x" * (1024 * 1024)}})
    reply = client.post("/api/v1/leads", content=big, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    chunks = (part.encode() for part in [big[:1000], big[1000:]])
    streamed = client.post(
        "/api/v1/leads", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert row_counts(db) == before


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer lbk_wrong", "Basic dXNlcjpwYXNz", "lbk_x"]
)
def test_missing_or_wrong_key_is_401(client, db, header):
    before = row_counts(db)
    headers = {"Authorization": header} if header else {}
    client.headers.pop("Authorization")
    for reply in (
        client.post("/api/v1/leads", json=ADA, headers=headers),
        client.get("/api/v1/leads", headers=headers),
    ):
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert row_counts(db) == before


def test_revoked_key_is_401(client, db, clock):
    from core.services.apikeys import revoke_key

    assert client.get("/api/v1/leads").status_code == 200
    with db.transaction() as s:
        revoke_key(s, "tests", now=clock())
    assert client.get("/api/v1/leads").status_code == 401


def test_paging_with_cursor_and_filters(client):
    for i in range(7):
        client.post("/api/v1/leads", json={"email": f"p{i}@example.com"})
    seen, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/leads", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [lead["email"] for lead in page["leads"]]
        assert "history" not in (page["leads"] or [{}])[0]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"p{i}@example.com" for i in range(7)]
    assert client.get("/api/v1/leads", params={"stage": "mql"}).json() == {
        "leads": [],
        "next_cursor": None,
    }


def test_concurrent_first_events_for_one_new_email_make_one_lead(client, db):
    barrier = threading.Barrier(8)
    replies = []

    def send(i):
        barrier.wait()
        replies.append(
            client.post(
                "/api/v1/events",
                json={"email": "race@example.com", "type": "page_view", "event_id": f"r{i}"},
            ).status_code
        )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert replies == [200] * 8
    counts = row_counts(db)
    assert (counts["leads"], counts["events"]) == (1, 8)


def test_health_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    client.post("/api/v1/leads", json=ADA)
    text = client.get("/metrics").text
    assert 'leadbot_leads{stage="lead",team="none"} 1.0' in text
    assert 'leadbot_leads_upserted_total{outcome="created"} 1.0' in text
    assert client.get("/openapi.json").json()["paths"]["/api/v1/events"]["post"]


def test_health_is_503_when_the_database_does_not_answer(tmp_path, config):
    from fastapi.testclient import TestClient

    from bot.http.server import create_app
    from bot.runtime import Runtime
    from core.config import Settings
    from core.db import Database

    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"  # the folder does not exist
    runtime = Runtime(settings=Settings(LEADBOT_DATABASE_URL=url), config=config, db=Database(url))
    with TestClient(create_app(runtime)) as client:
        reply = client.get("/healthz")
    assert reply.status_code == 503 and reply.json()["status"] == "unavailable"


def test_a_bad_body_without_a_key_is_401_not_422(client, db):
    client.headers.pop("Authorization")
    reply = client.post(
        "/api/v1/leads", content=b"{bad", headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 401


def test_properties_stay_within_fifty_keys_after_merging(client, db):
    client.post(
        "/api/v1/leads",
        json={"email": "p@example.com", "properties": {f"a{i}": i for i in range(30)}},
    )
    before = row_counts(db)
    reply = client.post(
        "/api/v1/leads",
        json={
            "email": "p@example.com",
            "title": "CTO",
            "properties": {f"b{i}": i for i in range(30)},
        },
    )
    assert reply.status_code == 422 and "at most 50" in reply.text
    lead = client.get("/api/v1/leads", params={"email": "p@example.com"}).json()["leads"][0]
    assert len(lead["properties"]) == 30 and lead["title"] is None  # nothing of the request kept
    assert row_counts(db) == before


def test_long_names_that_grow_when_case_folded_are_stored(client):
    reply = client.post(
        "/api/v1/leads",
        json={
            "email": "s@example.com",
            "company": "ß" * 300,
            "first_name": "ß" * 200,
            "last_name": "ß" * 200,
        },
    )
    assert reply.status_code == 201, reply.text


def test_a_rejected_lead_needs_new_engagement_to_come_back(client, db, clock):
    from core.services import handoff

    lead_id = client.post("/api/v1/leads", json=ADA).json()["id"]
    client.post("/api/v1/events", json={"lead_id": lead_id, "type": "demo_request"})
    with db.transaction() as s:
        handoff.accept(
            s, lead_id, actor="U0REP1", config=client.app.state.runtime.config, now=clock()
        )
    with db.transaction() as s:
        from core.lifecycle import Stage
        from core.services.leadops import park

        park(
            s,
            lead_id,
            Stage.NURTURE,
            actor="U0REP1",
            reason="next year",
            config=client.app.state.runtime.config,
            now=clock(),
        )
    clock.now += timedelta(hours=1)
    client.post("/api/v1/events", json={"lead_id": lead_id, "type": "page_view"})
    client.post("/api/v1/leads", json={**ADA, "phone": "+49 30 1234"})
    assert (
        client.get(f"/api/v1/leads/{lead_id}").json()["stage"] == "nurture"
    )  # the old demo request no longer counts
    clock.now += timedelta(hours=1)
    client.post("/api/v1/events", json={"lead_id": lead_id, "type": "demo_request"})
    detail = client.get(f"/api/v1/leads/{lead_id}").json()
    moves = [h for h in detail["history"] if h["kind"] == "stage"]
    assert detail["stage"] == "mql" and moves[-1]["from_stage"] == "nurture"


# The events of one campaign burst for a few leads, interleaved. Each lead that qualifies does
# so with its last event (ada's email_click takes her to exactly 50, bob's demo_request is a
# hand-raiser, dev's invited_teammate takes product to 40), in id order, so posting them one by
# one must leave the very rows one batch leaves: same scores, stages, history, routing, offers,
# outbox and webhook events. cy never qualifies; dev and new are created by the burst.
BURST = [
    ("ada", "webinar_attended"), ("bob", "page_view"), ("cy", "page_view", "cy-1"),
    ("dev", "trial_started"), ("ada", "webinar_attended"), ("new", "page_view"),
    ("bob", "email_click"), ("cy", "page_view", "cy-1"), ("ada", "pricing_page_view"),
    ("dev", "feature_used"), ("new", "something_unknown"), *[("ada", "page_view")] * 7,
    ("dev", "feature_used"), ("bob", "page_view"), ("ada", "email_click"), ("cy", "page_view"),
    ("dev", "feature_used"), ("bob", "demo_request"), ("new", "page_view", "n-1"),
    ("cy", "page_view"), ("dev", "invited_teammate"), ("ada", "page_view", "n-1"),
]  # fmt: skip
PROFILES = [
    ADA,
    {"email": "bob@acme.fr", "title": "Head of Sales", "company_size": 300, "country": "FR"},
    {"email": "cy@example.com", "title": "Student"},
]


def _burst_state(db_url, config, clock, post):
    """Every row the burst leaves (less random message ids and secrets), after ``post``."""
    data = config.model_dump(mode="json", by_alias=True)
    data["teams"][0]["assign"] = "round_robin"
    db = Database(db_url)
    runtime = Runtime(
        settings=Settings(LEADBOT_DATABASE_URL=db_url),
        config=parse_config(data),
        db=db,
        clock=clock,
    )
    with db.transaction() as s:
        key = create_key(s, "tests", now=clock())
        webhook_endpoints.add(
            s, "http://127.0.0.1:9/hooks", events=None, description=None, resolve=resolve,
            now=clock(), allow_private=True,
        )  # fmt: skip
    with TestClient(create_app(runtime), headers={"Authorization": f"Bearer {key}"}) as client:
        for profile in PROFILES:
            assert client.post("/api/v1/leads", json=profile).status_code == 201
        names = {p["email"].split("@")[0].lower(): p["email"].lower() for p in PROFILES}
        names.update(dev="dev@startup.io", new="new@example.com")
        replies = post(
            client,
            [
                {"email": names[who], "type": kind, **({"event_id": rest[0]} if rest else {})}
                for who, kind, *rest in BURST
            ],
        )
        leads = [client.get(f"/api/v1/leads/{i}").json() for i in range(1, 6)]
    skipped = {"api_keys", "webhook_endpoints"}
    with db.transaction() as s:
        rows = {
            table.name: [
                {k: v for k, v in row._mapping.items() if k not in ("message_id", "secret")}
                for row in s.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
            if table.name not in skipped
        }
    db.dispose()
    accepted = sum(r["accepted"] for r in replies)
    return accepted, sum(r["duplicates"] for r in replies), leads, rows


def test_a_burst_in_one_batch_leaves_what_the_same_events_one_by_one_leave(
    db_url, config, clock, request
):
    def one_batch(client, events):
        return [client.post("/api/v1/events", json={"events": events}).json()]

    def one_by_one(client, events):
        return [client.post("/api/v1/events", json=event).json() for event in events]

    batched = _burst_state(db_url, config, clock, one_batch)
    if db_url.startswith("sqlite"):
        shutil.copy(request.getfixturevalue("sqlite_template"), make_url(db_url).database)
    else:
        _truncate_pg(db_url)
    single = _burst_state(db_url, config, clock, one_by_one)

    accepted, duplicates, leads, rows = batched
    assert (accepted, duplicates) == (len(BURST) - 2, 2)
    assert [(lead["email"], lead["stage"], lead["team"]) for lead in leads] == [
        ("ada@acme.de", "mql", "emea"),
        ("bob@acme.fr", "mql", "emea"),
        ("cy@example.com", "lead", None),
        ("dev@startup.io", "pql", "na"),
        ("new@example.com", "lead", None),
    ]
    assert [(o["lead_id"], o["rep"]) for o in rows["offers"]] == [(1, "U0REP1"), (2, "U0REP2")]
    assert [(o["kind"], o["lead_id"]) for o in rows["outbox"]] == [
        ("lead_qualified", 1), ("offer_dm", 1), ("lead_qualified", 2), ("offer_dm", 2),
        ("lead_qualified", 4),
    ]  # fmt: skip
    moved = ["lead.stage_changed", "lead.qualified"]
    assert [e["type"] for e in rows["webhook_events"]] == [
        *moved,
        "lead.owner_changed",
        *moved,
        "lead.owner_changed",
        *moved,
    ]
    assert single == batched


def test_a_batch_takes_the_same_few_statements_however_many_leads_it_touches(db, config, clock):
    """One statement per step for the whole batch (lock, create the new leads or load the known
    leads' events, dedupe, insert, update scores), not one per lead or per event."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def batch(name, leads, run=""):
        evs = [
            EventIn(email=f"{name}{i % leads}@example.com", type="page_view", event_id=f"{run}{i}")
            for i in range(1000)
        ]
        statements.clear()
        with db.transaction() as s:
            result = intake.record_events(s, evs, config=config, now=clock())
        assert result.accepted == 1000
        return result.created_leads, len(statements)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        few, many = batch("a", 2, "1-"), batch("b", 200, "2-")
        known = batch("b", 200, "3-")[1]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert (few[0], many[0]) == (2, 200)
    # A batch that creates leads asks once more (whether any of their addresses was erased) and
    # writes their first snapshots in one insert; known leads' profiles did not change.
    assert few[1] == many[1] == known + 2 <= 10
