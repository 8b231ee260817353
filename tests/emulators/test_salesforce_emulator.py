"""The Salesforce emulator answers over real HTTPS with Salesforce's shapes and errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import certifi
import pytest
import requests

from emulators.salesforce import SalesforceEmulator
from emulators.salesforce.soql import SoqlError, parse

V = "/services/data/v62.0"
START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def sf(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
        yield emulator


class Client:
    def __init__(self, sf: SalesforceEmulator) -> None:
        self.sf = sf
        self.http = requests.Session()
        self.token = self.login().json()["access_token"]

    def login(self, secret: str | None = None, client_id: str | None = None) -> requests.Response:
        return self.http.post(
            self.sf.url + "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id or self.sf.client_id,
                "client_secret": secret or self.sf.client_secret,
            },
            timeout=5,
        )

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.http.request(method, self.sf.url + path, headers=headers, timeout=5, **kwargs)

    def query(self, soql: str, endpoint: str = "query") -> requests.Response:
        return self.call("GET", f"{V}/{endpoint}", params={"q": soql})


@pytest.fixture
def client(sf: SalesforceEmulator) -> Client:
    return Client(sf)


def test_token_has_salesforces_fields_and_refuses_wrong_credentials(sf, client):
    answer = client.login().json()
    assert {"access_token", "instance_url", "token_type", "issued_at", "signature", "id"} <= set(
        answer
    )
    assert answer["instance_url"] == sf.url
    assert answer["id"].endswith("/" + sf.integration_user_id)
    wrong_secret = client.login(secret="nope")
    assert wrong_secret.status_code == 400
    assert wrong_secret.json()["error"] == "invalid_client"
    wrong_id = client.login(client_id="nope")
    assert wrong_id.json()["error"] == "invalid_client_id"


def test_a_client_without_the_emulators_ca_is_refused(sf):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(sf.url + "/services/data/", verify=certifi.where(), timeout=5)
    assert requests.get(sf.url + "/services/data/", verify=sf.ca_bundle, timeout=5).ok


def test_query_pages_through_next_records_url_in_order(sf, client):
    ids = sf.add_leads(5000, start=START)
    soql = "SELECT Id, SystemModstamp FROM Lead ORDER BY SystemModstamp, Id"
    page = client.query(soql).json()
    assert page["totalSize"] == 5000 and page["done"] is False
    assert page["nextRecordsUrl"].startswith(f"{V}/query/01g")
    assert page["records"][0]["attributes"]["type"] == "Lead"
    seen = [r["Id"] for r in page["records"]]
    pages = 1
    while not page["done"]:
        page = client.call("GET", page["nextRecordsUrl"]).json()
        seen += [r["Id"] for r in page["records"]]
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    stamps = [sf.lead(i)["SystemModstamp"] for i in seen]
    assert stamps == sorted(stamps)
    # whole seconds: about 83 Leads share each stamp
    assert len(set(stamps)) == 60


def test_where_with_datetime_and_or_and_limit(sf, client):
    sf.add_leads(120, start=START)
    rows = client.query(
        "SELECT Id, Email FROM Lead WHERE SystemModstamp >= 2024-05-01T09:00:30Z "
        "AND (Email = 'LEAD100@example.com' OR Email = 'lead110@example.com') "
        "ORDER BY SystemModstamp LIMIT 1"
    ).json()
    assert [r["Email"] for r in rows["records"]] == ["lead100@example.com"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Lead WHERE Email = 'a' AND Id = 'b' OR Id = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE SystemModstamp > '2024-01-01'", "INVALID_FIELD"),
        ("SELECT Nope FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Leed", "INVALID_TYPE"),
        ("SELECT Id FROM Lead LIMIT", "MALFORMED_QUERY"),
    ],
)
def test_bad_soql_gets_salesforces_error_list(client, soql, code):
    answer = client.query(soql)
    assert answer.status_code == 400
    [error] = answer.json()
    assert error["errorCode"] == code and error["message"]


def test_soql_parser_reads_in_not_and_nulls_last():
    query = parse(
        "select Id from Lead where not (Status in ('A','B')) order by Email desc nulls last"
    )
    assert query.order_by == [("Email", True, True)]
    with pytest.raises(SoqlError):
        parse("SELECT FROM Lead")


def test_deleted_leads_only_in_query_all_and_get_deleted(sf, client):
    keep = sf.add_lead(LastName="Keep")
    gone = sf.add_lead(LastName="Gone")
    sf.delete_lead(gone)
    soql = "SELECT Id, IsDeleted FROM Lead"
    assert [r["Id"] for r in client.query(soql).json()["records"]] == [keep]
    every = {r["Id"]: r["IsDeleted"] for r in client.query(soql, "queryAll").json()["records"]}
    assert every == {keep: False, gone: True}
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(minutes=1)).isoformat(),
    }
    deleted = client.call("GET", f"{V}/sobjects/Lead/deleted/", params=window).json()
    assert [row["id"] for row in deleted["deletedRecords"]] == [gone]
    too_old = {"start": (now - timedelta(days=40)).isoformat(), "end": now.isoformat()}
    answer = client.call("GET", f"{V}/sobjects/Lead/deleted/", params=too_old)
    assert answer.json()[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    assert client.call("GET", f"{V}/sobjects/Lead/{gone}").json()[0]["errorCode"] == (
        "ENTITY_IS_DELETED"
    )


def test_patch_writes_as_the_integration_user_and_refuses_what_salesforce_refuses(sf, client):
    lead = sf.add_lead(LastName="Lovelace")
    ok = client.call("PATCH", f"{V}/sobjects/Lead/{lead}", json={"Status": "Working - Contacted"})
    assert ok.status_code == 204 and ok.content == b""
    assert sf.lead(lead)["Status"] == "Working - Contacted"
    assert sf.lead(lead)["LastModifiedById"] == sf.integration_user_id

    def error(body: dict, record: str = lead) -> dict:
        answer = client.call("PATCH", f"{V}/sobjects/Lead/{record}", json=body)
        assert answer.status_code in (400, 404)
        [item] = answer.json()
        return item

    assert error({"Nope__c": 1})["errorCode"] == "INVALID_FIELD"
    inactive = error({"Status": "Recycled"})
    assert inactive["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert inactive["fields"] == ["Status"]
    assert error({"IsConverted": True})["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error({"Status": "Nurture"}, "00Q5j0000009999AAA")["errorCode"] == "NOT_FOUND"
    gone = sf.add_user("gone@example.com", active=False)
    assert error({"OwnerId": gone})["errorCode"] == "INACTIVE_OWNER_OR_USER"
    sf.convert_lead(lead)
    assert error({"Status": "Nurture"})["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert sf.lead(lead)["Status"] == "Closed - Converted"


def test_convert_sets_the_converted_fields(sf, client):
    lead = sf.add_lead(LastName="Hopper")
    opportunity = sf.convert_lead(lead)
    [row] = client.query(
        "SELECT Id, IsConverted, ConvertedOpportunityId, ConvertedDate FROM Lead"
    ).json()["records"]
    assert row["IsConverted"] is True
    assert row["ConvertedOpportunityId"] == opportunity and opportunity.startswith("006")
    assert len(row["ConvertedDate"]) == 10


def test_task_create_and_lookup_by_subject(sf, client):
    lead = sf.add_lead(LastName="Turing")
    created = client.call(
        "POST",
        f"{V}/sobjects/Task/",
        json={"WhoId": lead, "Subject": "BANT [leadbot 7]", "Status": "Completed"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == [] and body["id"].startswith("00T")
    found = client.query(
        f"SELECT Id FROM Task WHERE WhoId = '{lead}' AND Subject = 'BANT [leadbot 7]'"
    ).json()
    assert [r["Id"] for r in found["records"]] == [body["id"]]
    [task] = sf.tasks(lead)
    assert task["IsClosed"] is True and task["OwnerId"] == sf.integration_user_id


def test_queue_and_user_owners(sf, client):
    queue = sf.add_queue("Inbound")
    rep = sf.add_user("rep@example.com", "Rep One")
    lead = sf.add_lead(OwnerId=queue)
    assert queue.startswith("00G") and rep.startswith("005")
    assert client.call("PATCH", f"{V}/sobjects/Lead/{lead}", json={"OwnerId": rep}).ok
    users = client.query("SELECT Id, Email FROM User WHERE IsActive = true").json()["records"]
    assert {"rep@example.com"} <= {u["Email"] for u in users}


def test_expired_session_gets_invalid_session_id(sf, client):
    sf.expire_sessions()
    answer = client.query("SELECT Id FROM Lead")
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_daily_limit_is_counted_and_enforced(sf, client):
    sf.set_api_limit(100, remaining=2)
    limits = client.call("GET", f"{V}/limits").json()
    assert limits["DailyApiRequests"] == {"Max": 100, "Remaining": 1}
    assert client.query("SELECT Id FROM Lead").headers["Sforce-Limit-Info"] == "api-usage=100/100"
    refused = client.query("SELECT Id FROM Lead")
    assert refused.status_code == 403
    assert refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_faults_before_and_after_the_work(sf, client):
    lead = sf.add_lead()
    sf.fail("create", status=503)
    answer = client.call("POST", f"{V}/sobjects/Task", json={"WhoId": lead, "Subject": "a"})
    assert answer.status_code == 503 and sf.tasks(lead) == []
    sf.fail("create", status=500, performed=True)
    answer = client.call("POST", f"{V}/sobjects/Task", json={"WhoId": lead, "Subject": "b"})
    assert answer.status_code == 500
    assert [t["Subject"] for t in sf.tasks(lead)] == ["b"]
    sf.fail("query", hang=True, hold_seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.http.get(
            sf.url + f"{V}/query",
            params={"q": "SELECT Id FROM Lead"},
            headers={"Authorization": f"Bearer {client.token}"},
            timeout=0.5,
        )
    sf.fail("query", expire_session=True)
    assert client.query("SELECT Id FROM Lead").status_code == 401


def test_unknown_paths_and_versions_are_not_found(client):
    for path in ("/services/data/v20.0/limits", f"{V}/nothing", "/elsewhere"):
        answer = client.call("GET", path)
        assert answer.status_code == 404
        assert answer.json()[0]["errorCode"] == "NOT_FOUND"
