"""The CRM port's pure rules and the ``[crm]`` config."""

from __future__ import annotations

import pytest

from core import crm
from core.config import ConfigError, Settings, parse_config

BASE = {"marketing": {"channel": "C0MKTG"}}


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("100-500", 100),
        ("1000+", 1000),
        ("1-5", 1),
        ("250", 250),
        ("1,200", 1200),
        ("many", None),
        ("0", None),
    ],
)
def test_employee_ranges_become_their_lower_bound(value: str, size: int | None) -> None:
    assert crm.employees(value) == size


def test_lead_fields_are_mapped_and_cleaned() -> None:
    props = {
        "email": "Ann@Example.COM",
        "jobtitle": " VP Sales ",
        "numemployees": "500-1000",
        "country": "de",
        "hs_analytics_source": "ORGANIC_SEARCH",
        "phone": "",
        "industry": None,
    }
    assert crm.lead_fields(props, crm.DEFAULT_HUBSPOT_FIELDS) == {
        "email": "ann@example.com",
        "title": "VP Sales",
        "company_size": 500,
        "country": "DE",
        "source": "organic_search",
    }


def test_a_country_that_is_not_an_iso_code_is_left_out_not_guessed() -> None:
    assert crm.lead_fields({"country": "Germany"}, {"country": "country"}) == {}


@pytest.mark.parametrize(
    ("current", "target", "backwards"),
    [
        ("salesqualifiedlead", "marketingqualifiedlead", True),
        ("customer", "lead", True),
        ("lead", "marketingqualifiedlead", False),
        ("marketingqualifiedlead", "marketingqualifiedlead", False),
        (None, "subscriber", False),
        ("", "lead", False),
        ("customstage123", "lead", False),
    ],
)
def test_moving_backwards(current: str | None, target: str, backwards: bool) -> None:
    assert crm.moves_backwards(current, target) is backwards


def test_backwards_stage_is_cleared_then_set() -> None:
    props = {"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "OPEN"}
    assert crm.property_steps(props, "opportunity") == [{"lifecyclestage": ""}, props]
    assert crm.property_steps(props, "lead") == [props]
    assert crm.property_steps({"hs_lead_status": "OPEN"}, "customer") == [
        {"hs_lead_status": "OPEN"}
    ]
    assert crm.property_steps({}, "lead") == []


def test_lifecycle_order_is_hubspots() -> None:
    ranks = [crm.lifecycle_rank(s) for s in crm.LIFECYCLE_ORDER]
    assert ranks == sorted(ranks)
    assert crm.LIFECYCLE_ORDER.index("lead") < crm.LIFECYCLE_ORDER.index("marketingqualifiedlead")
    assert crm.LIFECYCLE_ORDER[-1] == "other"


@pytest.mark.parametrize(
    ("stage", "qualifies"),
    [
        ("lead", False),
        ("subscriber", False),
        ("marketingqualifiedlead", True),
        ("customer", True),
        (None, False),
        ("x", False),
    ],
)
def test_crm_qualifies_from_mql_on(stage: str | None, qualifies: bool) -> None:
    assert crm.crm_qualifies(stage) is qualifies


def test_stage_for_lifecycle_inverts_the_stage_map() -> None:
    stages = crm.DEFAULT_HUBSPOT_STAGES
    assert crm.stage_for_lifecycle("salesqualifiedlead", stages) == "sql"
    assert crm.stage_for_lifecycle("opportunity", stages) == "sqo"
    assert crm.stage_for_lifecycle("customer", stages) is None
    assert crm.stage_for_lifecycle(None, stages) is None


def test_writes_for_stage_carry_the_key() -> None:
    write = crm.writes_for_stage(7, "sal", crm.DEFAULT_HUBSPOT_STAGES, "w-1", "101")
    assert write == crm.CrmWrite(
        7, "set_properties", "w-1", "101", {"hs_lead_status": "IN_PROGRESS"}
    )
    assert crm.writes_for_stage(7, "lead", crm.DEFAULT_HUBSPOT_STAGES, "w-2") is None


def test_echo_is_recognised_by_value() -> None:
    written = {"hubspot_owner_id": "512345"}
    assert crm.is_echo({"hubspot_owner_id": "512345", "email": "a@b.c"}, written)
    assert not crm.is_echo({"hubspot_owner_id": "600000"}, written)
    assert not crm.is_echo({"hubspot_owner_id": "512345"}, {})


def test_note_marker() -> None:
    assert crm.note_marker("abc-1") == "[leadbot:abc-1]"


# --- config -------------------------------------------------------------------------------


def config_errors(section: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config({**BASE, "crm": section})
    return info.value.errors


def test_no_crm_section_means_no_crm() -> None:
    config = parse_config(BASE)
    assert config.crm.system is None
    assert config.crm.qualify == "crm"
    assert config.crm.sync_every_seconds == 60


def test_the_issues_example_parses_and_merges_over_defaults() -> None:
    config = parse_config(
        {
            **BASE,
            "crm": {
                "system": "hubspot",
                "qualify": "leadbot",
                "sync_every_seconds": 120,
                "hubspot": {
                    "fields": {
                        "jobtitle": "title",
                        "numemployees": "company_size",
                        "hs_persona": "campaign",
                    },
                    "stages": {
                        "sal": {"hs_lead_status": "OPEN"},
                        "lead": {"lifecyclestage": "lead"},
                    },
                },
                "owners": {"U0REP1": "512345"},
            },
        }
    )
    hub = config.crm.hubspot
    assert hub.field_map["hs_persona"] == "campaign"
    assert hub.field_map["email"] == "email"
    assert hub.stage_map["sal"] == {"hs_lead_status": "OPEN"}
    assert hub.stage_map["mql"] == {"lifecyclestage": "marketingqualifiedlead"}
    assert hub.stage_map["lead"] == {"lifecyclestage": "lead"}
    assert config.crm.owners == {"U0REP1": "512345"}


def test_a_default_field_can_be_dropped_and_replaced() -> None:
    config = parse_config(
        {
            **BASE,
            "crm": {
                "system": "hubspot",
                "hubspot": {"fields": {"jobtitle": "", "x_role": "title"}},
            },
        }
    )
    assert "jobtitle" not in config.crm.hubspot.field_map
    assert config.crm.hubspot.field_map["x_role"] == "title"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"system": "pipedrive"}, "crm.system:"),
        ({"qualify": "both"}, "crm.qualify:"),
        ({"sync_every_seconds": 1}, "crm.sync_every_seconds:"),
        ({"sync_every": 60}, "crm.sync_every: unknown key"),
        ({"hubspot": {"field": {}}}, "crm.hubspot.field: unknown key"),
        (
            {"hubspot": {"fields": {"jobtitle": "job"}}},
            "crm.hubspot.fields: jobtitle = 'job': not a lead field",
        ),
        ({"hubspot": {"fields": {"Job Title": "title"}}}, "crm.hubspot.fields.Job Title:"),
        (
            {"hubspot": {"fields": {"x_title": "title"}}},
            "more than one HubSpot property fills title",
        ),
        ({"hubspot": {"fields": {"email": ""}}}, "some HubSpot property must fill email"),
        (
            {"hubspot": {"stages": {"won": {"lifecyclestage": "customer"}}}},
            "'won' is not a leadbot stage",
        ),
        ({"hubspot": {"stages": {"mql": {"Lifecycle": "x"}}}}, "crm.hubspot.stages.mql.Lifecycle:"),
        ({"owners": {"U0REP1": "abc"}}, "crm.owners.U0REP1: 'abc' is not a HubSpot owner id"),
        ({"owners": {"rep1": "512345"}}, "crm.owners.rep1"),
    ],
)
def test_bad_crm_config_names_the_key(section: dict, expected: str) -> None:
    errors = config_errors(section)
    assert any(expected in e for e in errors), errors


def test_settings_read_the_hubspot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("LEADBOT_HUBSPOT_API_URL", raising=False)
    assert Settings().hubspot_api_url == "https://api.hubapi.com"
    assert Settings().hubspot_access_token is None
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-x")
    monkeypatch.setenv("LEADBOT_HUBSPOT_API_URL", "http://127.0.0.1:9")
    settings = Settings()
    assert settings.hubspot_access_token == "pat-na1-x"
    assert settings.hubspot_api_url == "http://127.0.0.1:9"
