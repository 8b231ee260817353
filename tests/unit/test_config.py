import tomllib
from pathlib import Path

import pytest

from core.config import ConfigError, Duration, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = tomllib.loads((ROOT / "leadbot.example.toml").read_text())


def _errors(mutate) -> list[str]:
    data = tomllib.loads((ROOT / "leadbot.example.toml").read_text())
    mutate(data)
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.errors


def test_example_config_is_valid():
    config = load_config(ROOT / "leadbot.example.toml")
    assert [team.name for team in config.teams] == ["emea", "na"]
    assert config.sla.mql_accept == Duration(4, "h")
    assert config.teams[0].business_hours.weekdays == frozenset(range(5))
    assert config.scoring.grade_allows("B") and not config.scoring.grade_allows("D")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["scoring"].update(mql_treshold=5), "scoring.mql_treshold: unknown key"),
        (
            lambda d: d["sla"].update(mql_accept="4 hours"),
            "sla.mql_accept: '4 hours' is not a duration",
        ),
        (
            lambda d: d["sla"].update(sal_qualify="0d"),
            "sla.sal_qualify: '0d' must be longer than zero",
        ),
        (lambda d: d["scoring"].update(min_grade="E"), "scoring.min_grade: Input should be"),
        (
            lambda d: d["teams"][1].update(timezone="Mars/Olympus"),
            "teams[1].timezone: unknown time zone",
        ),
        (
            lambda d: d["teams"][0]["business_hours"].update(start="9am"),
            "teams[0].business_hours.start: '9am' is not a time of day",
        ),
        (
            lambda d: d["teams"][0]["business_hours"].update(start="19:00"),
            "teams[0].business_hours: end must be later than start",
        ),
        (
            lambda d: d["teams"][0].update(channel="#emea"),
            "teams[0].channel: '#emea' is not a Slack channel ID",
        ),
        (
            lambda d: d["teams"][1].update(route={}),
            "teams[1].route: a route needs at least one condition",
        ),
        (
            lambda d: d["scoring"]["fit"][0].update({"in": ["x"]}),
            "scoring.fit[0]: needs exactly one of",
        ),
        (
            lambda d: d["scoring"]["fit"][1].update(field="headcount"),
            "scoring.fit[1].field: unknown field",
        ),
        (
            lambda d: d["scoring"].update(hand_raisers=["call_me"]),
            "scoring: hand_raisers 'call_me' must be keys",
        ),
        (lambda d: d["teams"][1].update(name="emea"), "(top level): team names must be unique"),
        (lambda d: d.pop("marketing"), "marketing: required key is missing"),
        (lambda d: d["qualification"].update(bant_required=5), "qualification.bant_required:"),
    ],
)
def test_each_bad_key_is_named(mutate, expected):
    errors = _errors(mutate)
    assert any(line.startswith(expected) for line in errors), errors


def test_all_errors_are_reported_together():
    def mutate(data):
        data["sla"]["mql_accept"] = "4 hours"
        data["scoring"]["min_grade"] = "E"
        data["teams"][0]["timezone"] = "Nowhere/City"
        data["teams"][1]["managerz"] = ["U0MGR2"]

    paths = {line.split(":")[0] for line in _errors(mutate)}
    assert paths == {
        "sla.mql_accept",
        "scoring.min_grade",
        "teams[0].timezone",
        "teams[1].managerz",
    }


def test_unreadable_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[marketing\nchannel=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_config_round_trips_through_a_dump():
    config = load_config(ROOT / "leadbot.example.toml")
    assert parse_config(config.model_dump(mode="json", by_alias=True)) == config


def test_reps_take_plain_ids_and_weighted_entries():
    def mutate(data):
        data["teams"][0]["reps"] = ["U0REP1", {"id": "U0REP2", "weight": 2, "max_open": 25}]
        data["teams"][0]["assign"] = "round_robin"
        data["routing"] = {"use_slack_status": True, "away_statuses": ["ooo"]}

    data = tomllib.loads((ROOT / "leadbot.example.toml").read_text())
    mutate(data)
    config = parse_config(data)
    team = config.teams[0]
    assert team.reps == ["U0REP1", "U0REP2"]
    assert [(r.weight, r.max_open) for r in team.rep_entries] == [(1.0, None), (2.0, 25)]
    assert (team.assign, team.claim_minutes) == ("round_robin", 15)
    assert config.routing.use_slack_status and config.routing.match_accounts
    assert parse_config(config.model_dump(mode="json", by_alias=True)) == config


def test_routing_defaults_cover_the_usual_away_statuses():
    config = load_config(ROOT / "leadbot.example.toml")
    assert not config.routing.use_slack_status and config.routing.match_accounts
    assert {"vacation", "ooo", ":palm_tree:"} <= set(config.routing.away_statuses)
    assert config.teams[1].assign == "claim"


@pytest.mark.parametrize(
    ("reps", "expected"),
    [
        (
            [{"id": "U0REP1", "weight": 0}],
            "teams[0].reps[0].weight: Input should be greater than 0",
        ),
        ([{"id": "U0REP1", "weight": -2}], "teams[0].reps[0].weight: Input should be greater"),
        ([{"id": "U0REP1", "weight": "heavy"}], "teams[0].reps[0].weight: Input should be a valid"),
        ([{"id": "U0REP1", "max_open": 0}], "teams[0].reps[0].max_open: Input should be greater"),
        ([{"id": "U0REP1", "max_opn": 3}], "teams[0].reps[0].max_opn: unknown key"),
        (["U0REP1", "rita"], "teams[0].reps[1]: 'rita' is not a Slack user ID"),
        ([{"weight": 2}], "teams[0].reps[0].id: required key is missing"),
        (["U0REP1", {"id": "U0REP1"}], "teams[0].reps: lists a rep twice (U0REP1)"),
    ],
)
def test_bad_reps_are_named_by_key_path(reps, expected):
    errors = _errors(lambda d: d["teams"][0].update(reps=reps))
    assert any(line.startswith(expected) for line in errors), errors


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["teams"][0].update(assign="fastest"), "teams[0].assign: Input should be"),
        (lambda d: d["teams"][0].update(claim_minutes=0), "teams[0].claim_minutes: Input should"),
        (lambda d: d.update(routing={"use_slack_stats": True}), "routing.use_slack_stats: unknown"),
        (lambda d: d.update(routing={"away_statuses": [""]}), "routing.away_statuses[0]:"),
    ],
)
def test_bad_routing_keys_are_named(mutate, expected):
    errors = _errors(mutate)
    assert any(line.startswith(expected) for line in errors), errors
