"""``leadbot crm check|sync|status``, the start-up check, and one sync at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import preflight
from bot.cli.main import main
from core.config import Settings, WorkspaceConfig
from core.services import crm_sync
from emulators.hubspot import HubSpotEmulator
from tests.conftest import ROOT

CRM = """
[crm]
system = "hubspot"
sync_every_seconds = 60
"""


@pytest.fixture
def hub():
    with HubSpotEmulator() as emulator:
        yield emulator


@pytest.fixture
def workspace(tmp_path, monkeypatch, hub):
    path = tmp_path / "leadbot.toml"
    path.write_text((ROOT / "leadbot.example.toml").read_text() + CRM)
    monkeypatch.setenv("LEADBOT_CONFIG", str(path))
    monkeypatch.setenv("LEADBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", hub.token)
    monkeypatch.setenv("LEADBOT_HUBSPOT_API_URL", hub.url)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    return path


def test_sync_then_status(workspace, hub, capsys):
    hub.add_contacts(30, spread_seconds=5)
    assert main(["crm", "sync"]) == 0
    out = capsys.readouterr().out
    assert "read 30" in out and "30 created" in out
    assert main(["crm", "status"]) == 0
    out = capsys.readouterr().out
    assert "records seen: 30; leads linked: 30" in out
    assert "writes: 0 pending, 0 failed" in out


def test_check_lists_each_problem_on_its_own_line_and_exits_1(workspace, hub, capsys):
    hub.remove_option("hs_lead_status", "BAD_TIMING")
    assert main(["crm", "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any("crm.hubspot.stages.nurture" in line and "BAD_TIMING" in line for line in lines)
    # no Slack token: the reps cannot be matched by e-mail, and it says so, one line each
    assert any(line.startswith("U0REP1: no HubSpot owner") for line in lines)


def test_a_wrong_token_is_one_line_naming_it_and_nothing_is_stored(workspace, monkeypatch, capsys):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-wrong")
    assert main(["crm", "sync"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("leadbot: HUBSPOT_ACCESS_TOKEN") and "\n" not in err


def test_start_up_with_an_unreachable_hubspot_names_the_url(config: WorkspaceConfig):
    data = config.model_dump(by_alias=True, exclude_none=True)
    data["crm"] = {"system": "hubspot"}
    crm_config = WorkspaceConfig.model_validate(data)
    settings = Settings(HUBSPOT_ACCESS_TOKEN="pat-x", LEADBOT_HUBSPOT_API_URL="http://127.0.0.1:9")
    with pytest.raises(preflight.StartupError, match=r"^LEADBOT_HUBSPOT_API_URL"):
        preflight.crm(settings, crm_config)


def test_one_sync_at_a_time_across_processes(db):
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    lease = timedelta(minutes=5)
    with db.transaction() as session:
        assert crm_sync.take_lease(session, "hubspot", "a", now, now + lease) is None
    with db.transaction() as session:
        assert crm_sync.take_lease(session, "hubspot", "b", now, now + lease) == "a"
    with db.transaction() as session:  # a kept renewing with each page
        assert crm_sync.holds_lease(session, "hubspot", "a", now + lease)
        assert not crm_sync.holds_lease(session, "hubspot", "b", now + lease)
    later = now + 2 * lease  # a was killed: its lease runs out and b takes over
    with db.transaction() as session:
        assert crm_sync.take_lease(session, "hubspot", "b", later, later + lease) is None
    with db.transaction() as session:
        assert not crm_sync.holds_lease(session, "hubspot", "a", later + lease)
