"""The handoff against a real `leadbot serve` process and the emulated Slack workspace."""

import os
import subprocess
import sys

import httpx

from emulators.slack import SlackDriver


def test_event_to_alert_to_accept(served):
    key = served.leadbot("api-key", "create", "e2e").stdout.strip().splitlines()[-1]
    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as http:
        http.post(
            "/api/v1/leads",
            json={
                "email": "grace@acme.de",
                "first_name": "Grace",
                "title": "Director IT",
                "company": "Acme",
                "country": "DE",
            },
        )
        assert (
            http.post(
                "/api/v1/events", json={"email": "grace@acme.de", "type": "demo_request"}
            ).status_code
            == 200
        )
        emulator = served.emulator
        assert emulator.wait_for(lambda: emulator.messages("C0EMEA"), 10), (
            "no alert in the emea channel"
        )
        alert = emulator.messages("C0EMEA")[-1]
        slack = SlackDriver(emulator, f"{served.url}/slack/events", emulator.signing_secret)
        try:
            assert slack.click(alert, "Accept", user="U0REP1").status == 200
            assert emulator.wait_for(
                lambda: "Accepted by <@U0REP1>" in str(emulator.message(alert["ts"])["blocks"]), 10
            )
            assert emulator.wait_for(lambda: emulator.messages("C0MKTG"), 10)
        finally:
            slack.close()
        lead = http.get("/api/v1/leads", params={"email": "grace@acme.de"}).json()["leads"][0]
        assert (lead["stage"], lead["owner"]) == ("sal", "U0REP1")


def test_serve_names_a_missing_slack_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env["LEADBOT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "leadbot: SLACK_BOT_TOKEN is not set (see the README's configuration table)"
    )


def test_socket_mode_needs_the_app_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(SLACK_BOT_TOKEN="xoxb-test", LEADBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--socket-mode"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN is not set" in result.stderr and "SIGNING_SECRET" not in result.stderr
