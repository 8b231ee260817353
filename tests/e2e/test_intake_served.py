"""The intake story against a real `leadbot serve` process, as a marketing system would use it."""

from pathlib import Path

import httpx


def test_key_lead_events_to_mql(served):
    created = served.leadbot("api-key", "create", "webforms")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("lbk_")
    listed = served.leadbot("api-key", "list")
    assert "webforms" in listed.stdout and key not in listed.stdout

    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as http:
        lead = http.post(
            "/api/v1/leads",
            json={
                "email": "ada@acme.de",
                "first_name": "Ada",
                "title": "VP Engineering",
                "company": "Acme",
                "company_size": 500,
                "country": "DE",
            },
        )
        assert lead.status_code == 201
        lead_id = lead.json()["id"]
        reply = http.post(
            "/api/v1/events",
            json={
                "events": [
                    {"lead_id": lead_id, "type": "webinar_attended", "event_id": "wb-1"},
                    {"lead_id": lead_id, "type": "pricing_page_view", "event_id": "pp-1"},
                    {"lead_id": lead_id, "type": "content_download", "event_id": "cd-1"},
                    {"lead_id": lead_id, "type": "webinar_attended", "event_id": "wb-2"},
                ]
            },
        )
        assert reply.json() == {"accepted": 4, "duplicates": 0}
        detail = http.get(f"/api/v1/leads/{lead_id}").json()
        assert (detail["stage"], detail["team"]) == ("mql", "emea")
        assert detail["score"]["reasons"][0] == {
            "rule": "engagement: webinar_attended x2",
            "points": 30.0,
        }
        assert "mql_threshold" in detail["history"][-1]["reason"]
        assert (
            http.get("/api/v1/leads", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
        assert 'leadbot_leads{stage="mql",team="emea"} 1.0' in http.get("/metrics").text

    assert served.leadbot("api-key", "revoke", "webforms").returncode == 0
    assert (
        httpx.get(
            f"{served.url}/api/v1/leads", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 401
    )


def test_serve_refuses_a_broken_config_before_starting(tmp_path):
    import os
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text("[marketing]\nchannel = 'C0MKTG'\nmembrs = []\n")
    env = {
        **os.environ,
        "LEADBOT_CONFIG": str(bad),
        "LEADBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "marketing.membrs: unknown key" in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing started, nothing created


def test_serve_keeps_its_sqlite_files_private(served):
    import stat

    path = Path(served.env["LEADBOT_DATABASE_URL"].removeprefix("sqlite:///"))
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert {p.name for p in files} >= {path.name, f"{path.name}-wal", f"{path.name}-shm"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {
        p.name: "0o600" for p in files
    }
