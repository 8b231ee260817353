"""The Salesforce adapter against the emulator over real HTTPS."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from bot.crm.salesforce import (
    ApiUsage,
    ReadCursor,
    SalesforceClient,
    SalesforceSettings,
    SalesforceSetupError,
    SalesforceUnavailable,
    match_owner,
    matches_rule,
    sync_interval,
)
from emulators.salesforce import SalesforceEmulator

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
STAGES = {
    "mql": {"Status": "Marketing Qualified"},
    "sal": {"Status": "Working - Contacted"},
    "sql": {"Status": "Sales Qualified"},
    "nurture": {"Status": "Nurture"},
    "unqualified": {"Status": "Closed - Not Converted"},
}
MQL_WHEN = {"Status": ["Marketing Qualified"]}


@pytest.fixture
def sf() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emulator:
        yield emulator


def make_client(sf: SalesforceEmulator, **overrides) -> SalesforceClient:
    settings = SalesforceSettings(
        overrides.pop("url", sf.url),
        overrides.pop("client_id", sf.client_id),
        overrides.pop("client_secret", sf.client_secret),
    )
    options = {"ca_bundle": sf.ca_bundle, "sleep": lambda _s: None, "timeout": 2.0}
    options.update(overrides)
    return SalesforceClient(settings, **options)


@pytest.fixture
def client(sf: SalesforceEmulator) -> Iterator[SalesforceClient]:
    c = make_client(sf)
    yield c
    c.close()


def read_all(client: SalesforceClient, cursor: ReadCursor | None = None):
    changes = []
    pages = 0
    for page in client.read_changes(cursor):
        changes += page.changes
        cursor = page.cursor
        pages += 1
    return changes, cursor, pages


# reading --------------------------------------------------------------------------------------


def test_5000_leads_in_one_minute_read_once_across_pages_despite_expiry_and_5xx(sf, client):
    ids = sf.add_leads(5000, start=START)
    sf.fail("query", status=500)
    sf.fail("query_more", status=503, times=2)
    sf.fail("query_more", expire_session=True)

    changes, cursor, pages = read_all(client)

    assert pages == 3
    assert len(changes) == 5000
    assert sorted(c.id for c in changes) == sorted(ids)
    assert client.tokens_fetched == 2  # the expired session was renewed once
    assert len(sf.calls("query_more")) == 2 + 3  # two 503s, the 401, then two pages
    assert cursor.modstamp == START + timedelta(seconds=59)

    again, _, _ = read_all(client, ReadCursor.from_json(cursor.to_json()))
    assert again == []


def test_a_query_locator_that_expired_between_pages_restarts_from_the_cursor(sf, client):
    ids = sf.add_leads(5000, start=START)
    changes = []
    for number, page in enumerate(client.read_changes()):
        changes += page.changes
        if number == 0:
            sf.forget_query_locators()
    assert sorted(c.id for c in changes) == sorted(ids)
    assert sf.calls("query_more")[0].status == 400


def test_a_late_commit_inside_the_overlap_is_read_and_nothing_else(sf, client):
    ids = sf.add_leads(300, start=START)
    _, cursor, _ = read_all(client)
    # a transaction that started 30 s before the newest stamp read commits only now
    sf.change_lead(ids[7], at=cursor.modstamp - timedelta(seconds=30), Title="CFO")
    changes, cursor, _ = read_all(client, cursor)
    assert [(c.id, c.values["Title"]) for c in changes] == [(ids[7], "CFO")]
    assert read_all(client, cursor)[0] == []


def test_changes_carry_the_mapping_the_owner_and_who_made_them(sf, client):
    rep = sf.add_user("rep@example.com", "Rep One")
    queue = sf.add_queue("Inbound")
    by_rep = sf.add_lead(
        Email="ada@acme.example", Title="CTO", NumberOfEmployees=250, OwnerId=rep, at=START
    )
    queued = sf.add_lead(Email="bob@acme.example", OwnerId=queue, at=START)
    changes = {c.id: c for c in read_all(client)[0]}

    ada = changes[by_rep]
    assert ada.fields["title"] == "CTO" and ada.fields["company_size"] == 250
    assert ada.email == "ada@acme.example"
    assert ada.owner_user_id == rep and ada.owner_queue_id is None
    assert ada.by_integration_user is False
    assert changes[queued].owner_user_id is None  # a queue: no owner
    assert changes[queued].owner_queue_id == queue


def test_an_owner_changed_by_a_person_and_one_written_by_leadbot_are_told_apart(sf, client):
    rep = sf.add_user("rep@example.com")
    other = sf.add_user("other@example.com")
    lead = sf.add_lead(Email="ada@acme.example", at=START)
    _, cursor, _ = read_all(client)

    sf.change_lead(lead, OwnerId=rep)
    [by_person], cursor, _ = read_all(client, cursor)
    assert by_person.owner_user_id == rep and not by_person.by_integration_user

    # within the same second as the person's change: SystemModstamp alone cannot tell them apart
    assert client.set_owner(lead, other).outcome == "done"
    [echo], _, _ = read_all(client, cursor)
    assert echo.owner_user_id == other and echo.by_integration_user


def test_converted_lead_is_reported_with_its_opportunity_and_never_written(sf, client):
    lead = sf.add_lead(Email="ada@acme.example", Status="Working - Contacted", at=START)
    opportunity = sf.convert_lead(lead)
    [change] = read_all(client)[0]
    assert change.converted and change.converted_opportunity_id == opportunity
    assert change.converted_date is not None
    before = sf.lead(lead)

    update = client.update_lead(lead, {"Status": "Sales Qualified"})
    task = client.log_task(lead, key="bant-1", subject="BANT answers", description="Budget: yes")

    assert (update.outcome, update.final) == ("converted", True)
    assert task.outcome == "converted"
    assert sf.lead(lead) == before and sf.tasks(lead) == []
    assert [c.status for c in sf.calls("update")] == [400]


def test_deleted_and_merged_leads_are_reported(sf, client):
    survivor = sf.add_lead(Email="ada@acme.example", at=START)
    loser = sf.add_lead(Email="ada.l@acme.example", at=START)
    gone = sf.add_lead(Email="gone@acme.example", at=START)
    _, cursor, _ = read_all(client)
    sf.delete_lead(gone)
    sf.delete_lead(loser, merged_into=survivor)

    changes = {c.id: c for c in read_all(client, cursor)[0]}
    assert changes[gone].deleted and changes[gone].merged_into is None
    assert changes[loser].deleted and changes[loser].merged_into == survivor

    now = datetime.now(UTC)
    deleted = client.deleted_between(now - timedelta(days=1), now + timedelta(minutes=1))
    assert {d.id for d in deleted} == {gone, loser}


# writing --------------------------------------------------------------------------------------


def test_stage_fields_and_owner_are_written(sf, client):
    rep = sf.add_user("rep@example.com")
    lead = sf.add_lead(Email="ada@acme.example")
    assert client.update_lead(lead, STAGES["sal"]).outcome == "done"
    assert client.set_owner(lead, rep).outcome == "done"
    stored = sf.lead(lead)
    assert stored["Status"] == "Working - Contacted" and stored["OwnerId"] == rep
    assert stored["LastModifiedById"] == sf.integration_user_id


def test_a_write_salesforce_refuses_is_final_with_its_reason(sf, client):
    lead = sf.add_lead()
    unknown = client.update_lead(lead, {"Nope__c": "x"})
    inactive = client.update_lead(lead, {"Status": "Recycled"})
    assert unknown.outcome == "refused" and "INVALID_FIELD" in unknown.message
    assert inactive.outcome == "refused"
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in inactive.message
    assert sf.lead(lead)["Status"] == "Open - Not Contacted"


def test_a_retried_task_create_after_performed_then_5xx_adds_no_second_task(sf, client):
    lead = sf.add_lead(Email="ada@acme.example")
    sf.fail("create", status=500, performed=True)

    first = client.log_task(lead, key="note-41", subject="BANT answers", description="B: yes")
    again = client.log_task(lead, key="note-41", subject="BANT answers", description="B: yes")

    [task] = sf.tasks(lead)
    assert first.outcome == "done" and first.record_id == task["Id"]
    assert again.outcome == "done" and again.record_id == task["Id"]
    assert task["Status"] == "Completed" and task["WhoId"] == lead
    assert task["Subject"] == "BANT answers [leadbot note-41]"
    assert task["Description"] == "B: yes"
    assert [c.status for c in sf.calls("create")] == [500]


def test_a_task_create_that_hangs_after_the_work_is_not_doubled(sf):
    client = make_client(sf, timeout=0.5)
    lead = sf.add_lead()
    sf.fail("create", hang=True, performed=True, hold_seconds=2)
    result = client.log_task(lead, key="reject-9", subject="Rejected: budget", description="")
    assert result.outcome == "done"
    assert len(sf.tasks(lead)) == 1
    other = client.log_task(lead, key="reject-10", subject="Rejected: budget", description="")
    assert other.outcome == "done" and len(sf.tasks(lead)) == 2


def test_a_task_create_that_keeps_failing_is_left_for_a_retry(sf, client):
    lead = sf.add_lead()
    sf.fail("create", status=503, times=10)
    result = client.log_task(lead, key="k", subject="s", description="d")
    assert result.outcome == "retry" and result.retry_after and result.retry_after > 0
    assert sf.tasks(lead) == []


# limits ---------------------------------------------------------------------------------------


def test_the_daily_limit_slows_down_instead_of_crashing(sf, client):
    lead = sf.add_lead()
    sf.set_api_limit(1000, remaining=60)
    usage = client.api_usage()
    assert usage == ApiUsage(1000, 59) and usage.low
    assert client.last_known_usage() == ApiUsage(1000, 59)
    assert sync_interval(usage, 60) > 60

    sf.set_api_limit(1000, remaining=0)
    with pytest.raises(SalesforceUnavailable) as raised:
        list(client.read_changes())
    assert raised.value.limit and raised.value.retry_after == client.limit_pause
    result = client.update_lead(lead, {"Status": "Nurture"})
    assert result.outcome == "retry" and result.retry_after == client.limit_pause
    assert len(sf.calls("query")) == 1  # no retry loop against the limit


def test_sync_interval_stretches_as_the_allowance_shrinks():
    assert sync_interval(None, 60) == 60
    assert sync_interval(ApiUsage(1000, 900), 60) == 60
    assert 60 < sync_interval(ApiUsage(1000, 200), 60) < sync_interval(ApiUsage(1000, 50), 60)
    assert sync_interval(ApiUsage(1000, 5), 60) == 3600


def test_token_is_cached_and_renewed_on_invalid_session(sf, client):
    sf.add_lead()
    for _ in range(3):
        read_all(client)
    assert client.tokens_fetched == 1
    sf.expire_sessions()
    assert len(read_all(client)[0]) == 1
    assert client.tokens_fetched == 2


def test_requests_ca_bundle_from_the_environment_is_enough(sf, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sf.ca_bundle)
    client = make_client(sf, ca_bundle=None)
    sf.add_lead()
    assert len(read_all(client)[0]) == 1


def test_rules_and_owner_matching_are_plain_functions(sf):
    assert matches_rule({"Status": "Marketing Qualified"}, MQL_WHEN)
    assert not matches_rule({"Status": "Nurture"}, MQL_WHEN)
    assert not matches_rule({"Status": "Nurture"}, {})


# check ----------------------------------------------------------------------------------------


def test_check_passes_on_a_good_setup(sf, client):
    rep = sf.add_user("Rep@Example.com")
    problems = client.check(
        stages=STAGES, mql_when=MQL_WHEN, rep_emails={"U0REP1": "rep@example.com"}
    )
    assert problems == []
    assert match_owner(client.users(), "rep@example.com") == rep


def one_line(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    assert "\n" not in problems[0] and "Traceback" not in problems[0]
    return problems[0]


def test_check_wrong_secret_names_the_secret(sf):
    line = one_line(make_client(sf, client_secret="wrong").check(stages=STAGES))
    assert "SALESFORCE_CLIENT_SECRET" in line and "invalid_client" in line


def test_check_wrong_client_id_names_the_client_id(sf):
    line = one_line(make_client(sf, client_id="wrong").check(stages=STAGES))
    assert line.startswith("SALESFORCE_CLIENT_ID ")


def test_check_unknown_field(sf, client):
    line = one_line(client.check(stages={**STAGES, "sqo": {"Stage__c": "SQO"}}))
    assert line == "[crm.salesforce.stages] sqo: Lead has no field Stage__c"


def test_check_inactive_and_missing_picklist_values(sf, client):
    sf.set_picklist_value("Lead", "Status", "Nurture", active=False)
    line = one_line(client.check(stages=STAGES))
    assert line == "[crm.salesforce.stages] nurture: Status picklist value 'Nurture' is inactive"
    line = one_line(client.check(mql_when={"Status": ["MQL"]}))
    assert "mql_when" in line and "no picklist value 'MQL'" in line


def test_check_field_that_cannot_be_written(sf, client):
    line = one_line(client.check(stages={"sqo": {"IsConverted": True}}))
    assert "IsConverted is not updateable" in line


def test_check_unmatched_and_inactive_reps(sf, client):
    gone = sf.add_user("gone@example.com", active=False)
    problems = client.check(
        rep_emails={"U0REP1": "nobody@example.com", "U0REP2": "gone@example.com"},
        owners={"U0REP3": "0055j000000ZZZZAAA"},
    )
    assert len(problems) == 3
    assert any("U0REP1" in p and "matches no Salesforce User" in p for p in problems)
    assert any("U0REP2" in p and gone in p for p in problems)
    assert any("[crm.owners] U0REP3" in p for p in problems)


class _NotSalesforce(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"<html><body>Welcome to nginx</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def not_salesforce(tmp_path) -> Iterator[tuple[str, str]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotSalesforce)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", str(bundle)
    finally:
        server.shutdown()
        server.server_close()


def test_check_a_url_that_is_not_a_salesforce_org(sf, not_salesforce):
    url, bundle = not_salesforce
    line = one_line(make_client(sf, url=url, ca_bundle=bundle).check(stages=STAGES))
    assert line.startswith(f"LEADBOT_SALESFORCE_URL={url} is not a Salesforce org")
    assert "HTTP 404 (text/html)" in line


def test_check_an_unreachable_url(sf, tmp_path):
    url = sf.url
    bundle = shutil.copy(sf.ca_bundle, tmp_path / "ca.pem")
    client = make_client(sf, ca_bundle=str(bundle))
    sf.stop()
    line = one_line(client.check())
    assert line.startswith(f"LEADBOT_SALESFORCE_URL={url} cannot be reached")


def test_check_a_certificate_that_is_not_trusted(sf, not_salesforce):
    _, other_bundle = not_salesforce
    line = one_line(make_client(sf, ca_bundle=other_bundle).check())
    assert line.startswith(f"LEADBOT_SALESFORCE_URL={sf.url}: its TLS certificate is not trusted")


def test_settings_from_the_environment():
    with pytest.raises(SalesforceSetupError) as missing:
        SalesforceSettings.from_env({"LEADBOT_SALESFORCE_URL": "https://acme.my.salesforce.com"})
    assert missing.value.line.startswith(
        "SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET are not set"
    )
    with pytest.raises(SalesforceSetupError) as plain:
        SalesforceSettings.from_env(
            {
                "LEADBOT_SALESFORCE_URL": "http://acme.my.salesforce.com",
                "SALESFORCE_CLIENT_ID": "id",
                "SALESFORCE_CLIENT_SECRET": "secret",
            }
        )
    assert "LEADBOT_SALESFORCE_URL" in plain.value.line and "https://" in plain.value.line
    good = SalesforceSettings.from_env(
        {
            "LEADBOT_SALESFORCE_URL": "https://acme.my.salesforce.com/",
            "SALESFORCE_CLIENT_ID": "id",
            "SALESFORCE_CLIENT_SECRET": "secret",
        }
    )
    assert good.url == "https://acme.my.salesforce.com"
