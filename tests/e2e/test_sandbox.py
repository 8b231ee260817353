"""`leadbot sandbox`: the bot, the emulator and its web page, used the way the page uses them."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli.sandbox import (
    DEFAULT_DATABASE_URL,
    SAMPLE_PEOPLE,
    Sandbox,
    SandboxError,
    config_path,
    database_url,
    packaged_config,
    sample_lead,
    start_sandbox,
)
from core.config import load_config
from emulators.slack.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
REP, OTHER_REP, MANAGER = "U0REP1", "U0REP2", "U0MGR1"
EMEA = "C0EMEA"


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    started = start_sandbox(
        port=free_port(),
        page_port=0,
        database=f"sqlite:///{tmp_path / 'sandbox.db'}",
        environ={},
        cwd=tmp_path,
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def page(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.page_url, timeout=10) as client:
        yield client


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    with httpx.Client(base_url=sandbox.api_url, headers=headers, timeout=10) as client:
        yield client


def state(page: httpx.Client, user: str = REP, channel: str = EMEA) -> dict[str, Any]:
    reply = page.get("/sandbox/state", params={"user": user, "channel": channel})
    assert reply.status_code == 200
    return reply.json()


def qualify(api: httpx.Client, email: str = "ada@acme.de") -> int:
    lead = api.post(
        "/leads",
        json={
            "email": email,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "title": "VP Engineering",
            "company": "Acme",
            "company_size": 500,
            "country": "DE",
        },
    )
    assert lead.status_code == 201, lead.text
    event = api.post("/events", json={"email": email, "type": "demo_request"})
    assert event.json() == {"accepted": 1, "duplicates": 0}
    return int(lead.json()["id"])


def alert(page: httpx.Client) -> dict[str, Any]:
    """The newest message in the team channel that has buttons, once it is there."""

    def found() -> dict[str, Any] | None:
        for message in reversed(state(page)["messages"]):
            if any(b["type"] == "actions" for b in message["blocks"]):
                return message
        return None

    return wait_for(found)


def button(blocks: list[dict[str, Any]], label: str) -> dict[str, Any]:
    for block in blocks:
        for b in block.get("buttons", []):
            if b["label"] == label:
                return b
    raise AssertionError(f"no button {label!r}")


def text_of(message: dict[str, Any]) -> str:
    return " ".join(b.get("html", "") for b in message["blocks"]) + message["html"]


# --- where the sandbox takes things from ----------------------------------------------------


def test_config_falls_back_to_the_packaged_example(tmp_path):
    assert config_path({}, tmp_path) == packaged_config()
    (tmp_path / "leadbot.toml").write_text("")
    assert config_path({}, tmp_path) == tmp_path / "leadbot.toml"
    assert config_path({"LEADBOT_CONFIG": "/x/ws.toml"}, tmp_path) == Path("/x/ws.toml")


def test_packaged_config_is_the_repository_example():
    assert packaged_config().read_text() == (ROOT / "leadbot.example.toml").read_text()
    assert load_config(packaged_config()).teams


def test_database_defaults_to_the_sandbox_file():
    assert database_url({}) == DEFAULT_DATABASE_URL == "sqlite:///leadbot-sandbox.db"
    assert database_url({"LEADBOT_DATABASE_URL": "sqlite:///x.db"}) == "sqlite:///x.db"


def test_a_taken_port_is_named(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SandboxError, match=f"port {port} is in use"):
            start_sandbox(port=port, database=f"sqlite:///{tmp_path / 'x.db'}", environ={})


# --- the page -------------------------------------------------------------------------------


def test_page_and_state_show_the_configured_workspace(sandbox, page):
    html = page.get("/")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "#leads-emea" in html.text and "#marketing" in html.text
    assert "<script src" not in html.text and "<link" not in html.text  # self-contained

    config = load_config(packaged_config())
    first = state(page, user="", channel="")
    people = {u["id"] for u in first["users"]}
    expected = {*config.marketing.members}
    for team in config.teams:
        expected |= {*team.reps, *team.managers}
    assert people == expected
    assert first["user"] == config.teams[0].reps[0]
    names = [c["name"] for c in first["channels"]]
    assert names[:3] == ["#leads-emea", "#leads-na", "#marketing"]
    assert names[3] == "leadbot (DM)"
    assert first["messages"] == [] and first["modal"] is None and first["home"] is None
    assert page.get("/nothing-here").status_code == 404


def test_the_page_has_an_icon(sandbox, page):
    icon = page.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    ico = icon.content
    assert ico[:6] == b"\x00\x00\x01\x00\x01\x00"  # an icon directory holding one image
    width, height, size, offset = ico[6], ico[7], *struct.unpack("<II", ico[14:22])
    image = ico[offset : offset + size]
    assert (width, height, len(image)) == (32, 32, len(ico) - offset)
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", image[16:24]) == (32, 32)
    pixels = zlib.decompress(image[image.index(b"IDAT") + 4 : image.index(b"IEND") - 8])
    assert len(pixels) == 32 * (1 + 32 * 4)  # every row of RGBA pixels is there


def test_alert_accept_and_lookup_through_the_page(sandbox, page, api):
    lead_id = qualify(api)
    message = alert(page)
    assert "Ada Lovelace" in text_of(message)
    accept = button(message["blocks"], "Accept")

    clicked = page.post(
        "/sandbox/click",
        json={
            "user": REP,
            "ts": message["ts"],
            **{k: accept[k] for k in ("action_id", "block_id")},
        },
    )
    assert clicked.json()["ok"] is True
    wait_for(lambda: api.get(f"/leads/{lead_id}").json()["stage"] == "sal")
    assert api.get(f"/leads/{lead_id}").json()["owner"] == REP
    updated = wait_for(
        lambda: next(
            (
                m
                for m in state(page)["messages"]
                if m["ts"] == message["ts"] and "Accepted by" in text_of(m)
            ),
            None,
        )
    )
    assert not any(b["type"] == "actions" for b in updated["blocks"])

    ran = page.post(
        "/sandbox/command", json={"user": REP, "channel": EMEA, "text": "/lead lookup ada@acme.de"}
    )
    assert ran.json()["ok"] is True
    mine = state(page)["ephemerals"]
    assert len(mine) == 1 and mine[0]["channel"] == EMEA
    assert "Ada Lovelace" in " ".join(b.get("html", "") for b in mine[0]["blocks"])
    assert state(page, user=OTHER_REP)["ephemerals"] == []


def test_reject_modal_shows_inline_errors_then_closes(sandbox, page, api):
    lead_id = qualify(api)
    message = alert(page)
    reject = button(message["blocks"], "Reject")
    page.post(
        "/sandbox/click",
        json={
            "user": REP,
            "ts": message["ts"],
            "action_id": reject["action_id"],
            "block_id": reject["block_id"],
        },
    )
    modal = wait_for(lambda: state(page)["modal"])
    inputs = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert inputs["reason"]["element"]["type"] == "static_select"
    assert inputs["comment"]["element"]["multiline"] is True

    empty = page.post(
        "/sandbox/submit", json={"user": REP, "view": modal["id"], "values": {"reason": ""}}
    )
    assert empty.json()["errors"] == {"reason": "Please complete this required field."}
    shown = state(page)["modal"]
    assert [b["error"] for b in shown["blocks"] if b.get("block_id") == "reason"] == [
        "Please complete this required field."
    ]

    done = page.post(
        "/sandbox/submit",
        json={
            "user": REP,
            "view": modal["id"],
            "values": {"reason": "not_ready", "comment": "next year"},
        },
    )
    assert done.json()["closed"] is True
    assert state(page)["modal"] is None
    wait_for(lambda: api.get(f"/leads/{lead_id}").json()["stage"] == "nurture")


def test_cancel_closes_the_modal_and_changes_nothing(sandbox, page, api):
    lead_id = qualify(api)
    message = alert(page)
    page.post("/sandbox/click", json={"user": REP, "ts": message["ts"], "action_id": "lead_reject"})
    modal = wait_for(lambda: state(page)["modal"])
    assert page.post("/sandbox/close", json={"user": REP, "view": modal["id"]}).json()["ok"]
    assert state(page)["modal"] is None
    assert api.get(f"/leads/{lead_id}").json()["stage"] == "mql"


def test_app_home_opens_for_the_chosen_user(sandbox, page, api):
    qualify(api)
    alert(page)
    assert page.post("/sandbox/home", json={"user": MANAGER}).json()["ok"]
    home = wait_for(lambda: state(page, user=MANAGER)["home"])
    assert home["type"] == "home"
    assert "Ada Lovelace" in " ".join(b.get("html", "") for b in home["blocks"])
    assert button(home["blocks"], "Assign")["action_id"] == "lead_assign"
    assert state(page, user=REP)["home"] is None


def test_sample_button_makes_an_alert(sandbox, page):
    assert page.post("/sandbox/sample", json={}).json()["ok"] is True
    assert "Accept" in [b["label"] for b in alert(page)["blocks"][-1]["buttons"]]


def test_each_sample_is_someone_else(sandbox, page, api):
    config = load_config(packaged_config())
    people = len(SAMPLE_PEOPLE)
    emails = [sample_lead(n, config)["email"] for n in range(people + 1)]
    assert len(set(emails)) == people + 1
    assert (emails[0], emails[people]) == ("ada@acme.de", "ada2@acme.de")

    qualify(api, "grace@globex.de")  # taken before the page's button gets to it
    sent = [page.post("/sandbox/sample", json={}).json() for _ in range(2)]
    assert [s["email"] for s in sent] == ["ada@acme.de", "katherine@initech.de"]
    assert sandbox.fresh_sample()["email"] == "alan@hooli.de"
    wait_for(lambda: len(state(page)["messages"]) == 3)
    shown = [text_of(m) for m in state(page)["messages"][1:]]
    assert "Ada Lovelace" in shown[0] and "Katherine Johnson" in shown[1]


def test_bad_actions_are_refused_without_effect(sandbox, page):
    assert page.post("/sandbox/click", json={"ts": "1.0"}).status_code == 400
    assert page.post("/sandbox/click", json={"user": REP, "ts": "1.0"}).status_code == 400
    other = page.post("/sandbox/command", json={"user": REP, "channel": EMEA, "text": "/giphy x"})
    assert other.status_code == 400 and "/giphy" in other.json()["error"]
    assert page.post("/sandbox/submit", content=b"not json").status_code == 400
    assert state(page)["ephemerals"] == []


def test_a_restart_issues_a_new_key_and_revokes_the_old(tmp_path):
    url = f"sqlite:///{tmp_path / 'again.db'}"
    first = start_sandbox(port=free_port(), page_port=0, database=url, environ={})
    first.stop()
    second = start_sandbox(port=free_port(), page_port=0, database=url, environ={})
    try:
        assert (first.key_name, second.key_name) == ("sandbox", "sandbox-2")
        leads = f"{second.api_url}/leads"
        assert (
            httpx.get(leads, headers={"Authorization": f"Bearer {second.api_key}"}).status_code
            == 200
        )
        assert (
            httpx.get(leads, headers={"Authorization": f"Bearer {first.api_key}"}).status_code
            == 401
        )
    finally:
        second.stop()


# --- the command ----------------------------------------------------------------------------


def test_leadbot_sandbox_command_on_a_fresh_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADBOT_", "SLACK_"))}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while not any(line.startswith("API key") for line in lines[:-1]):
            line = process.stdout.readline()
            if not line:
                pytest.fail("leadbot sandbox exited early:\n" + "".join(lines))
            lines.append(line)
        output = "".join(lines)
        page_url = re.search(r"web page\): (http://\S+)", output).group(1)
        assert f"http://127.0.0.1:{port}/api/v1/leads" in output
        assert "demo_request" in output
        key = lines[-1].strip()
        assert key.startswith("lbk_") and f"Bearer {key}" in output
        assert httpx.get(page_url, timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert (tmp_path / "leadbot-sandbox.db").exists()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode == 0
