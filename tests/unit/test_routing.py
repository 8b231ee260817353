import pytest

from core.config import Route
from core.routing import route_lead, route_matches


@pytest.mark.parametrize(
    ("lead", "team"),
    [
        ({"country": "de"}, "emea"),
        ({"country": "GB", "company_size": 5}, "emea"),
        ({"country": "US"}, "na"),
        ({}, "na"),
    ],
)
def test_first_matching_team_wins(config, lead, team):
    assert route_lead(config.teams, lead).name == team


def test_no_route_matches_gives_none(config):
    assert route_lead(config.teams[:1], {"country": "US"}) is None


@pytest.mark.parametrize(
    ("route", "lead", "expected"),
    [
        ({"company_size_at_least": 200}, {"company_size": 200}, True),
        ({"company_size_at_least": 200}, {"company_size": 199}, False),
        ({"company_size_at_least": 200}, {}, False),
        ({"company_size_below": 50}, {"company_size": 49}, True),
        ({"company_size_below": 50}, {"company_size": 50}, False),
        ({"industry": ["SaaS"], "country": ["US"]}, {"industry": "saas", "country": "US"}, True),
        ({"industry": ["SaaS"], "country": ["US"]}, {"industry": "saas", "country": "DE"}, False),
        ({"source": ["webinar"]}, {"source": "  Webinar "}, True),
        ({"default": True}, {"country": "ZZ"}, True),
    ],
)
def test_route_conditions_all_hold(route, lead, expected):
    assert route_matches(Route.model_validate(route), lead) is expected
