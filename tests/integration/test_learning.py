"""Learned scoring against a real database: outcomes from stage history, training, versions,
the live likelihood, and use = "on" qualifying a lead, on every engine."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.config import WorkspaceConfig
from core.learning.labels import Move, label
from core.lifecycle import Stage
from core.models import Event, ScoringModel, StageTransition
from core.schemas import EventIn, LeadIn
from core.services import learning
from core.services.intake import record_events, upsert_lead
from core.services.stages import transition
from tests.factories import make_lead

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
#: The planted signal: how often sales takes a lead of each source to SQL.
SQL_RATE = {"referral": 0.85, "webinar": 0.45, "ads": 0.1}


def with_model(config: WorkspaceConfig, **settings) -> WorkspaceConfig:
    model = config.scoring.model.model_copy(update=settings)
    return config.model_copy(update={"scoring": config.scoring.model_copy(update={"model": model})})


def seed_outcomes(session, count: int, *, seed: int = 3, good_share: float | None = None) -> None:
    """``count`` qualified leads over the last 80 days, each sent to SQL or rejected as the
    planted rates say; a good lead also books a meeting *after* qualification, which the model
    must never learn from."""
    rng = random.Random(seed)
    for n in range(count):
        source = rng.choice(list(SQL_RATE))
        qualified = NOW - timedelta(days=80) + timedelta(hours=12 * n % (24 * 70))
        lead = make_lead(
            session, source=source, title=rng.choice(["VP Sales", "Analyst"]), now=qualified
        )
        session.add(
            Event(
                lead_id=lead.id,
                type="page_view",
                occurred_at=qualified - timedelta(days=2),
                received_at=qualified,
                properties={},
            )
        )
        good = rng.random() < (SQL_RATE[source] if good_share is None else good_share)
        transition(session, lead, Stage.MQL, actor="system", now=qualified, reason="test")
        transition(session, lead, Stage.SAL, actor="U0REP1", now=qualified + timedelta(hours=2))
        if good:
            transition(session, lead, Stage.SQL, actor="U0REP1", now=qualified + timedelta(days=3))
            session.add(
                Event(
                    lead_id=lead.id,
                    type="meeting_booked",
                    occurred_at=qualified + timedelta(days=4),
                    received_at=NOW,
                    properties={},
                )
            )
        else:
            transition(
                session,
                lead,
                Stage.UNQUALIFIED,
                actor="U0REP1",
                now=qualified + timedelta(days=1),
                reason="Bad fit",
            )
    session.flush()


def test_labels_from_history():
    t0 = NOW - timedelta(days=200)
    window = {"positive_stage": "sql", "window_days": 90, "now": NOW}
    assert label([Move("sal", t0)], **window) is None  # never qualified
    assert label(
        [Move("mql", t0), Move("sal", t0), Move("sql", t0 + timedelta(days=5))], **window
    ) == (t0, 1)
    # Reaching sqo means it went through sql.
    assert label([Move("mql", t0), Move("sqo", t0 + timedelta(days=5))], **window) == (t0, 1)
    assert label([Move("mql", t0), Move("sql", t0 + timedelta(days=95))], **window) == (t0, 0)
    assert label([Move("pql", t0), Move("nurture", t0 + timedelta(days=1))], **window) == (t0, 0)
    recent = NOW - timedelta(days=10)
    assert label([Move("mql", recent), Move("sal", recent)], **window) == (recent, None)
    assert label([Move("mql", recent), Move("unqualified", recent)], **window) == (recent, 0)


def test_training_refuses_too_few_outcomes_and_says_how_many_more(db, config):
    with db.transaction() as session:
        seed_outcomes(session, 70, good_share=0.3)
    with db.transaction() as session, pytest.raises(learning.LearningError) as error:
        learning.train_from_database(session, config, NOW)
    with db.transaction() as session:
        samples, _ = learning.database_samples(session, config, NOW)
    good = sum(sample.label for sample in samples)
    assert len(samples) == 70 and good < 50
    message = str(error.value)
    assert f"{good} good and {70 - good} bad" in message and "at least 50 of each" in message
    assert f"{50 - good} more good" in message
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ScoringModel)) == 0


#: Enough outcomes that the latest 30% (the promotion check's holdout) hold over 200 rows.
PROVABLE = 700


def test_train_list_use_and_the_live_likelihood(db, config):
    with db.transaction() as session:
        seed_outcomes(session, PROVABLE)
    with db.transaction() as session:
        version = learning.train_from_database(session, config, NOW)
        assert version.rows == PROVABLE and version.source == "database"
        # Clearly better than the rules (which rank on a title unrelated to the outcome).
        assert version.active and version.status == "promoted", version.decision
        assert version.decision.startswith("promoted: AUC ")
        assert version.metrics["learned"]["auc"] > version.metrics["rules"]["auc"]
        names = [feature["name"] for feature in version.model["features"]]
        assert "source" in names
        # Point in time: what happened after qualification is not a feature.
        assert not any("meeting_booked" in name for name in names)
        first = version.id
    with db.transaction() as session:
        # The same outcomes again: no better than the active version, so it stays in shadow.
        second = learning.train_from_database(session, config, NOW)
        assert not second.active and second.status == "shadow"
        assert f"not clearly above version {first}" in second.decision
        second_id = second.id
    with db.transaction() as session:
        versions = learning.list_models(session)
        assert [(v.id, v.active) for v in versions] == [(first, True), (second_id, False)]
        with pytest.raises(learning.LearningError, match="no model version 99"):
            learning.use_model(session, 99, NOW)
    with db.transaction() as session:
        # A person may decide anyway.
        chosen = learning.use_model(session, second_id, NOW)
        assert chosen.active and chosen.status == "chosen"
    with db.transaction() as session:
        assert learning.use_model(session, first, NOW).active
    with db.transaction() as session:
        assert [v.id for v in learning.list_models(session) if v.active] == [first]
        likely = {}
        for source in SQL_RATE:
            lead = make_lead(session, source=source, title="Analyst")
            result = learning.likelihood_of(session, lead, config, NOW)
            assert result is not None and result.version == first
            data = result.as_dict()
            assert data["base"] + sum(r["points"] for r in data["reasons"]) == pytest.approx(
                result.explanation.log_odds
            )
            likely[source] = result.probability
        assert likely["referral"] > likely["webinar"] > likely["ads"]
        assert learning.likelihood_of(session, lead, with_model(config, use="off"), NOW) is None


def test_few_outcomes_keep_a_version_in_shadow_and_say_why(db, config):
    from bot.cli.scoring_text import version_lines

    with db.transaction() as session:
        seed_outcomes(session, 240)
    with db.transaction() as session:
        version = learning.train_from_database(session, config, NOW)
        assert not version.active and version.status == "shadow"
        assert version.decision.startswith("kept in shadow: the holdout has 72 outcomes")
        lines = list(version_lines(version))
        assert "(shadow)" in lines[0]
        assert "    " + version.decision in lines
        # Stored, not live: no likelihood is shown from it.
        assert learning.likelihood_of(session, make_lead(session), config, NOW) is None


def test_noisy_outcomes_keep_a_version_in_shadow_and_say_why(db, config):
    """Outcomes that do not depend on anything the lead holds: whatever the model learned is
    noise, and it does not beat the rules with any confidence."""
    with db.transaction() as session:
        seed_outcomes(session, PROVABLE, good_share=0.3)
    with db.transaction() as session:
        version = learning.train_from_database(session, config, NOW)
        assert not version.active and version.status == "shadow"
        assert "not clearly above the rules" in version.decision
        assert "\n" not in version.decision


def test_promotions_and_hold_backs_are_lines_in_the_digest(db, config):
    from bot.views.digest import digest_message
    from core.services.digest import digest_day, digest_numbers

    with db.transaction() as session:
        seed_outcomes(session, PROVABLE)
    with db.transaction() as session:
        promoted = learning.train_from_database(session, config, NOW).id
    with db.transaction() as session:
        held = learning.train_from_database(session, config, NOW + timedelta(minutes=5)).id
    with db.transaction() as session:
        numbers = digest_numbers(session, config, digest_day(NOW + timedelta(days=1)))
        earlier = digest_numbers(session, config, digest_day(NOW))
    assert earlier.models == ()
    assert len(numbers.models) == 2
    assert numbers.models[0].startswith(f"Learned score version {promoted} (from database): ")
    assert "promoted: AUC" in numbers.models[0]
    assert numbers.models[1].startswith(f"Learned score version {held} ")
    assert "kept in shadow" in numbers.models[1]
    blocks = {block["block_id"]: block for block in digest_message(numbers)["blocks"]}
    assert "promoted: AUC" in blocks["models"]["text"]["text"]
    assert "models" not in {b["block_id"] for b in digest_message(earlier)["blocks"]}


def test_weekly_retrain(db, config):
    with db.transaction() as session:
        assert learning.retrain_weekly(session, with_model(config, use="off"), NOW).startswith(
            "off"
        )
        assert learning.retrain_weekly(session, config, NOW).startswith("skipped: not enough")
        seed_outcomes(session, PROVABLE)
    with db.transaction() as session:
        said = learning.retrain_weekly(session, config, NOW)
        assert "promoted: AUC" in said
    with db.transaction() as session:
        assert "less than a week old" in learning.retrain_weekly(
            session, config, NOW + timedelta(days=2)
        )
        # A week on, the same outcomes prove nothing new: the retrain goes through the check.
        said = learning.retrain_weekly(session, config, NOW + timedelta(days=7))
        assert "kept in shadow" in said
        assert session.scalar(select(func.count()).select_from(ScoringModel)) == 2
        assert session.scalar(select(func.count()).where(ScoringModel.active.is_(True))) == 1


def test_use_on_qualifies_a_likely_lead_with_the_rule_in_its_history(db, config):
    with db.transaction() as session:
        seed_outcomes(session, PROVABLE)
    with db.transaction() as session:
        assert learning.train_from_database(session, config, NOW).status == "promoted"
    on = with_model(config, use="on", mql_likelihood=0.6)
    later = NOW + timedelta(days=1)

    def analyst(session, email: str, source: str, config):
        """A lead no rule qualifies: an analyst at a mid-sized German company."""
        lead_in = LeadIn(
            email=email, source=source, title="Analyst", company_size=500, country="DE"
        )
        lead, _, qualified = upsert_lead(session, lead_in, config=config, now=later)
        return lead, qualified

    with db.transaction() as session:
        # A referral with one page view: no rule makes it an MQL, the likelihood does.
        lead, qualified = analyst(session, "ref@example.com", "referral", on)
        assert qualified is not None and qualified.stage is Stage.MQL
        assert qualified.rule.startswith("likelihood ") and "mql_likelihood 60%" in qualified.rule
        moves = session.scalars(
            select(StageTransition).where(StageTransition.lead_id == lead.id)
        ).all()
        assert [(m.to_stage, m.reason) for m in moves] == [("mql", qualified.rule)]
        # The same lead under shadow decides nothing; an unlikely one under "on" neither.
        shadow_lead, none = analyst(session, "ref2@example.com", "referral", config)
        assert none is None and shadow_lead.stage == "lead"
        ads, none = analyst(session, "ads@example.com", "ads", on)
        assert none is None and ads.stage == "lead"
        result = record_events(
            session, [EventIn(email="ads@example.com", type="page_view")], config=on, now=later
        )
        assert result.qualified == []


def test_database_training_runs_the_leak_guard_and_lists_what_it_left_out(db, config):
    """A property sales fill in once the verdict is known ("lost reason") predicts it perfectly;
    database training leaves it out, as a backtest would, and `scoring models` says so."""
    from bot.cli.scoring_text import version_lines
    from core.models import Lead

    with db.transaction() as session:
        seed_outcomes(session, 240)
    with db.transaction() as session:
        samples, _ = learning.database_samples(session, config, NOW)
        verdict = {sample.lead_id: sample.label for sample in samples}
        rng = random.Random(4)
        for lead in session.scalars(select(Lead)):
            reason = "Closed won" if verdict[lead.id] else rng.choice(["Bad fit", "No budget"])
            lead.properties = {**(lead.properties or {}), "lost_reason": reason}
    with db.transaction() as session:
        version = learning.train_from_database(session, config, NOW)
        names = [feature["name"] for feature in version.model["features"]]
        assert "properties.lost_reason" not in names and "source" in names
        assert [item["column"] for item in version.metrics["excluded"]] == ["lost_reason"]
        lines = list(version_lines(version))
        assert any("left out 'lost_reason'" in line for line in lines)


def test_use_on_never_qualifies_with_a_version_not_promoted_or_chosen(db, config):
    """A version stored before promotion checks existed stays active (its likelihood is shown)
    but turns no lead into an MQL until a person chooses it with `scoring use`."""
    with db.transaction() as session:
        seed_outcomes(session, PROVABLE)
    with db.transaction() as session:
        version = learning.train_from_database(session, config, NOW)
        assert version.status == "promoted"
        version.status = "unchecked"  # as the migration leaves versions stored before it
        number = version.id
    on = with_model(config, use="on", mql_likelihood=0.6)
    later = NOW + timedelta(days=1)

    def referral(session, email: str):
        lead_in = LeadIn(email=email, source="referral", title="Analyst", company_size=500)
        return upsert_lead(session, lead_in, config=on, now=later)

    with db.transaction() as session:
        lead, _, qualified = referral(session, "one@example.com")
        assert qualified is None and lead.stage == "lead"
        shown = learning.likelihood_of(session, lead, on, later)
        assert shown is not None and shown.probability >= 0.6
    with db.transaction() as session:
        assert learning.use_model(session, number, later).status == "chosen"
    with db.transaction() as session:
        lead, _, qualified = referral(session, "two@example.com")
        assert qualified is not None and qualified.stage is Stage.MQL
        assert f"(model {number})" in qualified.rule
