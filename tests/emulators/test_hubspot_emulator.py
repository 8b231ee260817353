"""The HubSpot emulator over real HTTP: shapes, limits and faults as HubSpot documents them."""

from __future__ import annotations

import httpx
import pytest

from emulators.hubspot import Fault, HubSpotEmulator, ManualClock, RateLimits

BASE = 1_700_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(BASE)


@pytest.fixture
def hub(clock: ManualClock):
    with HubSpotEmulator(clock=clock.now) as emulator:
        yield emulator


def client(hub: HubSpotEmulator, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=hub.url, headers={"Authorization": f"Bearer {token or hub.token}"}, timeout=5
    )


def search_body(after: str | None = None, limit: int = 200, since_ms: int = 0) -> dict:
    body = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}
                ]
            }
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email", "lifecyclestage"],
        "limit": limit,
    }
    if after is not None:
        body["after"] = after
    return body


def test_wrong_token_gets_hubspots_401_body(hub: HubSpotEmulator) -> None:
    with client(hub, "pat-wrong") as http:
        answer = http.get("/crm/v3/properties/contacts")
    assert answer.status_code == 401
    body = answer.json()
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["correlationId"]
    assert "message" in body


def test_missing_scope_is_403_naming_it(hub: HubSpotEmulator) -> None:
    hub.set_scopes(["crm.objects.contacts.read"])
    with client(hub) as http:
        answer = http.get("/crm/v3/owners")
    assert answer.status_code == 403
    body = answer.json()
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.owners.read"]


def test_search_pages_in_modification_order_with_total_and_after(hub: HubSpotEmulator) -> None:
    ids = hub.add_contacts(450, start=BASE - 100, spread_seconds=60)
    seen: list[str] = []
    after = None
    with client(hub) as http:
        while True:
            page = http.post("/crm/v3/objects/contacts/search", json=search_body(after)).json()
            assert page["total"] == 450
            seen += [r["id"] for r in page["results"]]
            assert set(page["results"][0]["properties"]) == {
                "email",
                "lifecyclestage",
                "createdate",
                "hs_object_id",
                "lastmodifieddate",
            }
            if "paging" not in page:
                break
            after = page["paging"]["next"]["after"]
    assert seen == ids


def test_limit_over_200_and_after_past_10000_are_refused(hub: HubSpotEmulator) -> None:
    with client(hub) as http:
        too_big = http.post("/crm/v3/objects/contacts/search", json=search_body(limit=201))
        too_far = http.post("/crm/v3/objects/contacts/search", json=search_body(after="10000"))
        last_ok = http.post("/crm/v3/objects/contacts/search", json=search_body(after="9999"))
    assert too_big.status_code == 400
    assert too_big.json()["category"] == "VALIDATION_ERROR"
    assert too_far.status_code == 400
    assert "10,000" in too_far.json()["message"]
    assert last_ok.status_code == 200


def test_10000_cap_with_12000_contacts_in_a_minute(hub: HubSpotEmulator) -> None:
    hub.add_contacts(12_000, start=BASE - 120, spread_seconds=60)
    with client(hub) as http:
        page = http.post("/crm/v3/objects/contacts/search", json=search_body(after="9800")).json()
        assert page["total"] == 12_000
        assert page["paging"]["next"]["after"] == "10000"
        refused = http.post("/crm/v3/objects/contacts/search", json=search_body(after="10000"))
    assert refused.status_code == 400


def test_search_lags_writes_and_modification_time_is_write_time(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    hub.set_search_lag(5)
    [contact] = hub.add_contacts(1, spread_seconds=0)
    with client(hub) as http:
        assert http.post("/crm/v3/objects/contacts/search", json=search_body()).json()["total"] == 0
        # A direct read is not lagged.
        direct = http.get(f"/crm/v3/objects/contacts/{contact}", params={"properties": "email"})
        assert direct.status_code == 200
        clock.advance(5)
        page = http.post("/crm/v3/objects/contacts/search", json=search_body()).json()
    assert [r["id"] for r in page["results"]] == [contact]
    assert page["results"][0]["properties"]["lastmodifieddate"] == "2023-11-14T22:13:20.000Z"


def test_search_shows_the_old_value_until_the_lag_has_passed(
    hub: HubSpotEmulator, clock: ManualClock
) -> None:
    [contact] = hub.add_contacts([{"email": "a@example.com", "lifecyclestage": "lead"}])
    hub.set_search_lag(3)
    clock.advance(1)
    hub.set_lifecycle_stage(contact, "marketingqualifiedlead")
    with client(hub) as http:
        before = http.post("/crm/v3/objects/contacts/search", json=search_body()).json()
        clock.advance(3)
        after = http.post("/crm/v3/objects/contacts/search", json=search_body()).json()
    assert before["results"][0]["properties"]["lifecyclestage"] == "lead"
    assert after["results"][0]["properties"]["lifecyclestage"] == "marketingqualifiedlead"


def test_patch_validates_properties_and_options(hub: HubSpotEmulator) -> None:
    [contact] = hub.add_contacts(1)
    with client(hub) as http:
        unknown = http.patch(
            f"/crm/v3/objects/contacts/{contact}", json={"properties": {"nosuch": "x"}}
        )
        option = http.patch(
            f"/crm/v3/objects/contacts/{contact}", json={"properties": {"hs_lead_status": "MAYBE"}}
        )
        owner = http.patch(
            f"/crm/v3/objects/contacts/{contact}", json={"properties": {"hubspot_owner_id": "1"}}
        )
        ok = http.patch(
            f"/crm/v3/objects/contacts/{contact}",
            json={"properties": {"hs_lead_status": "IN_PROGRESS"}},
        )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert option.status_code == 400
    assert option.json()["errors"][0]["code"] == "INVALID_OPTION"
    assert owner.status_code == 400
    assert ok.status_code == 200
    assert ok.json()["properties"]["hs_lead_status"] == "IN_PROGRESS"
    assert hub.contact(contact)["hs_lead_status"] == "IN_PROGRESS"


def test_lifecycle_cannot_move_backwards_until_cleared(hub: HubSpotEmulator) -> None:
    [contact] = hub.add_contacts(
        [{"email": "b@example.com", "lifecyclestage": "salesqualifiedlead"}]
    )
    url = f"/crm/v3/objects/contacts/{contact}"
    with client(hub) as http:
        back = http.patch(url, json={"properties": {"lifecyclestage": "marketingqualifiedlead"}})
        assert back.status_code == 400
        assert back.json()["category"] == "VALIDATION_ERROR"
        assert "lifecyclestage" in back.json()["message"]
        assert hub.contact(contact)["lifecyclestage"] == "salesqualifiedlead"
        assert http.patch(url, json={"properties": {"lifecyclestage": ""}}).status_code == 200
        again = http.patch(url, json={"properties": {"lifecyclestage": "marketingqualifiedlead"}})
        forward = http.patch(url, json={"properties": {"lifecyclestage": "opportunity"}})
    assert again.status_code == 200
    assert forward.status_code == 200
    assert hub.contact(contact)["lifecyclestage"] == "opportunity"


def test_a_person_may_move_the_stage_backwards(hub: HubSpotEmulator) -> None:
    [contact] = hub.add_contacts([{"email": "c@example.com", "lifecyclestage": "customer"}])
    hub.set_lifecycle_stage(contact, "lead")
    assert hub.contact(contact)["lifecyclestage"] == "lead"


def test_notes_are_created_associated_and_found(hub: HubSpotEmulator) -> None:
    [contact] = hub.add_contacts(1)
    note = {
        "properties": {
            "hs_timestamp": "2024-01-01T00:00:00Z",
            "hs_note_body": "BANT met [leadbot:w-17]",
        },
        "associations": [
            {
                "to": {"id": contact},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
            }
        ],
    }
    with client(hub) as http:
        created = http.post("/crm/v3/objects/notes", json=note)
        assert created.status_code == 201
        note_id = created.json()["id"]
        read = http.get(f"/crm/v3/objects/contacts/{contact}", params={"associations": "notes"})
        assoc = read.json()["associations"]["notes"]["results"]
        batch = http.post(
            "/crm/v3/objects/notes/batch/read",
            json={"properties": ["hs_note_body"], "inputs": [{"id": note_id}]},
        )
        found = http.post(
            "/crm/v3/objects/notes/search",
            json={
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "hs_note_body",
                                "operator": "CONTAINS_TOKEN",
                                "value": "w-17",
                            },
                            {
                                "propertyName": "associations.contact",
                                "operator": "EQ",
                                "value": contact,
                            },
                        ]
                    }
                ]
            },
        )
        missing_ts = http.post("/crm/v3/objects/notes", json={"properties": {"hs_note_body": "x"}})
    assert [a["id"] for a in assoc] == [note_id]
    assert batch.json()["results"][0]["properties"]["hs_note_body"].endswith("[leadbot:w-17]")
    assert [r["id"] for r in found.json()["results"]] == [note_id]
    assert missing_ts.status_code == 400
    assert [n["hs_note_body"] for n in hub.notes_of(contact)] == ["BANT met [leadbot:w-17]"]


def test_owners_page_and_filter_by_email(hub: HubSpotEmulator) -> None:
    for i in range(5):
        hub.add_owner(f"rep{i}@example.com", "Rep", str(i))
    with client(hub) as http:
        first = http.get("/crm/v3/owners", params={"limit": 3}).json()
        second = http.get(
            "/crm/v3/owners", params={"limit": 3, "after": first["paging"]["next"]["after"]}
        ).json()
        one = http.get("/crm/v3/owners", params={"email": "REP2@example.com"}).json()
    assert len(first["results"]) == 3 and len(second["results"]) == 2
    assert "paging" not in second
    assert [o["email"] for o in one["results"]] == ["rep2@example.com"]


def test_properties_with_options(hub: HubSpotEmulator) -> None:
    with client(hub) as http:
        stage = http.get("/crm/v3/properties/contacts/lifecyclestage").json()
        missing = http.get("/crm/v3/properties/contacts/nosuch")
        listing = http.get("/crm/v3/properties/contacts").json()
    assert [o["value"] for o in stage["options"]][:3] == [
        "subscriber",
        "lead",
        "marketingqualifiedlead",
    ]
    assert missing.status_code == 404
    assert missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert {"email", "hs_lead_status", "hubspot_owner_id"} <= {
        p["name"] for p in listing["results"]
    }


def test_token_info_and_account_details(hub: HubSpotEmulator) -> None:
    with client(hub) as http:
        info = http.post(
            "/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": hub.token}
        )
        wrong = http.post("/oauth/v2/private-apps/get/access-token-info", json={"tokenKey": "x"})
        details = http.get("/account-info/v3/details")
    assert "crm.objects.contacts.write" in info.json()["scopes"]
    assert wrong.status_code == 401
    assert details.json()["portalId"] == hub.portal_id


def test_rate_limits_answer_429_with_policy_and_recover(clock: ManualClock) -> None:
    limits = RateLimits(enabled=True, per_ten_seconds=3, search_per_second=2, per_day=8)
    with HubSpotEmulator(clock=clock.now, rate_limits=limits) as hub, client(hub) as http:
        searches = [
            http.post("/crm/v3/objects/contacts/search", json=search_body()).status_code
            for _ in range(3)
        ]
        limited = http.post("/crm/v3/objects/contacts/search", json=search_body()).json()
        clock.advance(1)
        assert http.post("/crm/v3/objects/contacts/search", json=search_body()).status_code == 200
        gets = [http.get("/crm/v3/owners") for _ in range(4)]
        assert gets[0].headers["X-HubSpot-RateLimit-Max"] == "3"
        assert gets[-1].status_code == 429
        assert gets[-1].json()["policyName"] == "TEN_SECONDLY_ROLLING"
        clock.advance(10)
        rest = [http.get("/crm/v3/owners") for _ in range(3)]
    assert searches == [200, 200, 429]
    assert limited["policyName"] == "SECONDLY"
    assert limited["errorType"] == "RATE_LIMIT"
    assert [r.status_code for r in rest][:2] == [200, 200]
    assert rest[-1].json()["policyName"] == "DAILY"


def test_faults_plain_and_performed(hub: HubSpotEmulator) -> None:
    [contact] = hub.add_contacts(1)
    hub.fail_next("contacts.update", Fault(status=503))
    hub.fail_next("contacts.update", Fault(status=500, performed=True))
    hub.fail_next("owners.list", Fault(status=429, policy="SECONDLY"))
    url = f"/crm/v3/objects/contacts/{contact}"
    with client(hub) as http:
        first = http.patch(url, json={"properties": {"hs_lead_status": "OPEN"}})
        assert "hs_lead_status" not in hub.contact(contact)
        second = http.patch(url, json={"properties": {"hs_lead_status": "OPEN"}})
        limited = http.get("/crm/v3/owners")
    assert first.status_code == 503
    assert second.status_code == 500
    assert hub.contact(contact)["hs_lead_status"] == "OPEN"
    assert limited.json()["policyName"] == "SECONDLY"
    assert hub.count("contacts.update", status=500) == 1


def test_hang_holds_the_connection_without_an_answer(hub: HubSpotEmulator) -> None:
    hub.fail_next("owners.list", Fault(hang=True, hold_seconds=2))
    with client(hub) as http, pytest.raises(httpx.ReadTimeout):
        http.get("/crm/v3/owners", timeout=0.2)
    with client(hub) as http:
        assert http.get("/crm/v3/owners").status_code == 200


def test_archived_and_merged_contacts(hub: HubSpotEmulator) -> None:
    a, b, c = hub.add_contacts(3)
    hub.archive_contact(c)
    hub.merge_contacts(a, b)
    with client(hub) as http:
        found = http.post(
            "/crm/v3/objects/contacts/search",
            json={**search_body(), "properties": ["hs_merged_object_ids"]},
        ).json()
        via_old = http.get(f"/crm/v3/objects/contacts/{b}").json()
        archived = http.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()
        gone = http.get(f"/crm/v3/objects/contacts/{c}")
    assert [r["id"] for r in found["results"]] == [a]
    assert found["results"][0]["properties"]["hs_merged_object_ids"] == b
    assert via_old["id"] == a
    assert [r["id"] for r in archived["results"]] == [c]
    assert archived["results"][0]["archivedAt"]
    assert gone.status_code == 404
