"""Learned scoring end to end: sales' verdicts given in Slack (alerts, Accept, BANT to SQL,
Reject as bad fit) train a model with `leadbot scoring train`, whose likelihood then ranks new
leads in the planted order, shows in the API, the alert and `/lead lookup`, and with use = "on"
makes a likely lead an MQL, the rule named in its history. Too few outcomes to promote it, the
version is kept in shadow until `leadbot scoring use 1` chooses it. Both engines."""

from __future__ import annotations

import subprocess

from sqlalchemy import select

from core.models import Lead, StageTransition
from tests import commands

EMEA = "C0EMEA"
BANT_ALL = {
    "budget": "approved",
    "authority": "decision_maker",
    "need": "critical",
    "timeline": "1_3_months",
}
#: The planted signal: (source, good outcomes, bad outcomes) given in Slack.
VERDICTS = [("referral", 44, 6), ("webinar", 8, 8), ("ads", 6, 44)]


def texts(message) -> str:
    return " ".join(str(block) for block in message.get("blocks", []))


def new_modal(bot, user: str, callback: str, seen: set[str]) -> dict:
    found: list[dict] = []

    def opened() -> bool:
        found[:] = [
            v
            for v in bot.slack.views(user)
            if v.get("callback_id") == callback and v["id"] not in seen
        ]
        return bool(found)

    assert bot.emulator.wait_for(opened, 5), f"no {callback} modal opened"
    seen.add(found[-1]["id"])
    return found[-1]


def stage_of(bot, lead_id: int) -> str:
    with bot.db.transaction() as session:
        return session.get(Lead, lead_id).stage


def leadbot(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    return commands.leadbot(*args, env=commands.environment(LEADBOT_DATABASE_URL=db_url))


def verdicts(bot) -> None:
    seen: set[str] = set()
    plan = [
        (source, good)
        for source, goods, bads in VERDICTS
        for good in [True] * goods + [False] * bads
    ]
    # Interleaved, so the latest 30% (the held-out rows) hold both outcomes.
    plan = plan[0::2] + plan[1::2]
    for n, (source, good) in enumerate(plan):
        lead_id = bot.qualify(f"lead{n}@{source}.example", source=source)
        alert = bot.alert(lead_id)
        if good:
            bot.slack.click(alert, "Accept", user="U0REP1")
            bot.wait_stage(lead_id, "sal")
            bot.slack.command("/lead", f"qualify {lead_id}", user="U0REP1", channel=EMEA)
            done = bot.slack.submit(
                new_modal(bot, "U0REP1", "lead_bant_submit", seen), BANT_ALL, user="U0REP1"
            )
            assert not done.errors
            bot.wait_stage(lead_id, "sql")
        else:
            bot.slack.click(alert, "Reject", user="U0REP2")
            modal = new_modal(bot, "U0REP2", "lead_reject_submit", seen)
            done = bot.slack.submit(
                modal, {"reason": "bad_fit", "comment": "not our market"}, user="U0REP2"
            )
            assert done.closed and not done.errors
            bot.wait_stage(lead_id, "unqualified")


def test_sales_verdicts_train_a_model_that_ranks_explains_and_qualifies(bot, db_url):
    too_early = leadbot("scoring", "train", db_url=db_url)
    assert too_early.returncode == 2 and "at least 50 of each" in too_early.stderr
    assert len(too_early.stderr.strip().splitlines()) == 1

    verdicts(bot)
    trained = leadbot("scoring", "train", db_url=db_url)
    assert trained.returncode == 0, trained.stderr
    # 116 outcomes leave a holdout too small to prove anything: kept in shadow, and said why.
    assert "version 1 (shadow)" in trained.stdout and "116 outcomes (58 good" in trained.stdout
    assert "    kept in shadow: the holdout has 35 outcomes" in trained.stdout
    listed = leadbot("scoring", "models", db_url=db_url)
    assert listed.returncode == 0 and listed.stdout.startswith("  version 1 (shadow)")
    unknown = leadbot("scoring", "use", "99", db_url=db_url)
    assert (
        unknown.returncode == 2
        and unknown.stderr.strip() == "leadbot: no model version 99 (versions: 1)"
    )
    # A person may decide anyway.
    chosen = leadbot("scoring", "use", "1", db_url=db_url)
    assert chosen.returncode == 0 and chosen.stdout.startswith("* version 1 (active, chosen")

    # New leads, not qualified: the likelihood ranks them in the planted order, with reasons.
    likely = {}
    for source in ("ads", "webinar", "referral"):
        reply = bot.api.post(
            "/api/v1/leads",
            json={
                "email": f"new@{source}.example",
                "title": "VP Engineering",
                "company_size": 500,
                "country": "DE",
                "source": source,
            },
        )
        assert reply.status_code == 201, reply.text
        detail = bot.api.get(f"/api/v1/leads/{reply.json()['id']}").json()
        likelihood = detail["likelihood"]
        assert likelihood["model"] == 1 and detail["stage"] == "lead"
        points = sum(reason["points"] for reason in likelihood["reasons"])
        assert abs(likelihood["base"] + points - _logit(likelihood["probability"])) < 1e-9
        top = likelihood["reasons"][0]
        assert (top["feature"], top["value"]) == ("source", source)
        likely[source] = likelihood["probability"]
    assert likely["referral"] > likely["webinar"] > likely["ads"]

    lookup = bot.slack.command("/lead", "lookup new@referral.example", user="U0REP1", channel=EMEA)
    shown = (lookup.text or "") + " ".join(str(b) for b in (lookup.blocks or []))
    assert f"Likelihood {likely['referral']:.0%}" in shown and "source = referral" in shown

    # A fresh MQL's alert carries its likelihood and top three reasons.
    alert = bot.alert(bot.qualify("fresh@referral.example", source="referral"))
    assert "Likelihood" in texts(alert) and "of reaching SQL (model 1)" in texts(alert)

    # With use = "on", a likely lead becomes an MQL without any hand-raiser or threshold.
    config = bot.runtime.config
    model = config.scoring.model.model_copy(update={"use": "on", "mql_likelihood": 0.6})
    bot.runtime.config = config.model_copy(
        update={"scoring": config.scoring.model_copy(update={"model": model})}
    )
    events = bot.api.post(
        "/api/v1/events", json={"email": "new@referral.example", "type": "page_view"}
    )
    assert events.status_code == 200, events.text
    with bot.db.transaction() as session:
        lead = session.scalars(select(Lead).where(Lead.email == "new@referral.example")).one()
        moves = session.scalars(
            select(StageTransition).where(StageTransition.lead_id == lead.id)
        ).all()
        assert lead.stage == "mql"
        assert [m.to_stage for m in moves] == ["mql"]
        assert moves[0].reason.startswith("likelihood ") and "mql_likelihood 60%" in moves[0].reason
        lead_id = lead.id
    assert "Likelihood" in texts(bot.alert(lead_id))
    # The unlikely one stays where it was.
    bot.api.post("/api/v1/events", json={"email": "new@ads.example", "type": "page_view"})
    with bot.db.transaction() as session:
        assert (
            session.scalars(select(Lead.stage).where(Lead.email == "new@ads.example")).one()
            == "lead"
        )


def _logit(probability: float) -> float:
    import math

    return math.log(probability / (1 - probability))
