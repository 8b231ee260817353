"""Learned scoring use cases: backtest a history file, train and store model versions, pick the
active one, and score a stored lead with it."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import csvread
from core.config import WorkspaceConfig
from core.learning.backtest import BacktestError, Options, compare, run, split, suspected_leaks
from core.learning.features import PROPERTY_PREFIX, Happened, feature_label, lead_features
from core.learning.labels import Move, label
from core.learning.model import Explanation, Model, TrainingError, train
from core.learning.promotion import Competitor, Decision, decide
from core.learning.table import TableError, read_table
from core.learning.terms import value_of
from core.models import Event, Lead, ScoringModel, StageTransition
from core.refusals import LeadbotError
from core.scoring import fit_score
from core.services.leads import profile_of

log = logging.getLogger(__name__)

#: A version's status (see core.models.ScoringModel.status).
PROMOTED, CHOSEN, SHADOW, UNCHECKED = "promoted", "chosen", "shadow", "unchecked"
QUALIFYING = frozenset({PROMOTED, CHOSEN})


class LearningError(LeadbotError):
    """A request the learned scoring cannot serve; the message is one line for a person."""


def header_fields(headers: Sequence[str]) -> dict[str, str]:
    """Header -> lead field, exactly as the CSV import maps it (the first header per field)."""
    fields: dict[str, str] = {}
    for header in headers:
        name = csvread.lead_field(header)
        if name and name not in fields.values():
            fields[header] = name
    return fields


def backtest_file(
    path: Path, options: Options, config: WorkspaceConfig
) -> tuple[dict[str, Any], Model]:
    """The backtest report of a history file, and the model trained on its training rows."""
    try:
        table = read_table(path)
        report, _, model = run(table, options, header_fields(table.headers), config.scoring.fit)
    except (TableError, BacktestError, TrainingError) as exc:
        raise LearningError(f"{path}: {exc}") from exc
    return report, model


# --- training from the database's own outcomes -------------------------------------------------

#: Outcomes of each class a model needs before it may be trained.
MIN_OUTCOMES = 50


@dataclass
class Sample:
    lead_id: int
    moment: datetime
    label: int
    features: dict[str, Any]
    profile: dict[str, Any]


def database_samples(
    session: Session, config: WorkspaceConfig, now: datetime
) -> tuple[list[Sample], int]:
    """Every qualified lead whose outcome is known, with its features as of its qualification,
    and how many are still open inside the window (not used yet)."""
    settings = config.scoring.model
    moves: dict[int, list[Move]] = {}
    for lead_id, to_stage, at in session.execute(
        select(StageTransition.lead_id, StageTransition.to_stage, StageTransition.at)
    ):
        moves.setdefault(lead_id, []).append(Move(to_stage, at))
    labelled: dict[int, tuple[datetime, int]] = {}
    still_open = 0
    for lead_id, history in moves.items():
        outcome = label(
            history,
            positive_stage=settings.positive_stage,
            window_days=settings.window_days,
            now=now,
        )
        if outcome is None:
            continue
        if outcome[1] is None:
            still_open += 1
        else:
            labelled[lead_id] = (outcome[0], outcome[1])
    if not labelled:
        return [], still_open
    events: dict[int, list[Happened]] = {}
    for lead_id, kind, occurred in session.execute(
        select(Event.lead_id, Event.type, Event.occurred_at).where(
            Event.lead_id.in_(labelled.keys())
        )
    ):
        events.setdefault(lead_id, []).append(Happened(kind, occurred))
    samples = []
    for lead in session.scalars(select(Lead).where(Lead.id.in_(labelled.keys()))):
        moment, outcome_label = labelled[lead.id]
        profile = profile_of(lead)
        samples.append(
            Sample(
                lead.id,
                moment,
                outcome_label,
                lead_features(profile, events.get(lead.id, ()), as_of=moment),
                profile,
            )
        )
    samples.sort(key=lambda sample: (sample.moment, sample.lead_id))
    return samples, still_open


def _enough(labels: Sequence[int]) -> None:
    good = sum(labels)
    bad = len(labels) - good
    if good >= MIN_OUTCOMES and bad >= MIN_OUTCOMES:
        return
    missing = [
        f"{MIN_OUTCOMES - count} more {word}"
        for count, word in ((good, "good"), (bad, "bad"))
        if count < MIN_OUTCOMES
    ]
    raise LearningError(
        f"not enough outcomes to learn from: {good} good and {bad} bad, at least "
        f"{MIN_OUTCOMES} of each are needed ({' and '.join(missing)})"
    )


def _headline(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {key: value for key, value in figures[name].items() if key != "calibration"}
        for name in ("learned", "rules")
    }


def train_from_database(session: Session, config: WorkspaceConfig, now: datetime) -> ScoringModel:
    """A new version from the workspace's outcomes: trained on the earliest 70% of them (by
    the moment each was scored) and checked on the latest 30% against the active version and
    the rules (:func:`promotion_check`), then trained on all. It goes live only when the check
    promotes it; otherwise it is kept in shadow with the reason."""
    samples, still_open = database_samples(session, config, now)
    labels = [sample.label for sample in samples]
    _enough(labels)
    options = Options(target="outcome")
    order = [sample.moment.timestamp() for sample in samples]
    train_index, test_index = split(labels, order, options)
    time_ordered = len({labels[i] for i in test_index}) == 2
    if not time_ordered:
        train_index, test_index = split(labels, None, options)
    rows = [sample.features for sample in samples]
    fits = [fit_score(config.scoring.fit, sample.profile)[0] for sample in samples]
    settings = config.scoring.model
    names = sorted({name for row in rows for name in row})
    # The same leak guard as a backtest's, on the training rows only: a property sales fill in
    # once the verdict is known ranks the outcome too well to be a trait of the lead.
    excluded = suspected_leaks(
        {name: [value_of(rows[i], name) for i in train_index] for name in names},
        [labels[i] for i in train_index],
        f"reaching {settings.positive_stage}",
    )
    left_out = {PROPERTY_PREFIX + item["column"] for item in excluded} | {
        item["column"] for item in excluded
    }
    kept = [name for name in names if name not in left_out]
    if not kept:
        raise LearningError(
            "no feature is left to learn from after the leak guard ("
            + "; ".join(f"{item['column']!r}: {item['why']}" for item in excluded)
            + ")"
        )
    try:
        held_out = train(
            [rows[i] for i in train_index],
            [labels[i] for i in train_index],
            features=kept,
            order=[order[i] for i in train_index],
        )
        figures = compare(
            held_out,
            [rows[i] for i in test_index],
            [labels[i] for i in test_index],
            (
                [fits[i] for i in train_index],
                [labels[i] for i in train_index],
                [fits[i] for i in test_index],
            ),
        )
        model = train(rows, labels, features=kept, order=order)
    except TrainingError as exc:
        raise LearningError(str(exc)) from exc
    decision = promotion_check(
        session,
        [labels[i] for i in test_index],
        [held_out.probability(rows[i]) for i in test_index],
        [rows[i] for i in test_index],
        [fits[i] for i in test_index],
        time_ordered=time_ordered,
    )
    return store(
        session,
        model,
        decision=decision,
        source="database",
        positive=f"{settings.positive_stage} within {settings.window_days} days",
        trained=(samples[0].moment, samples[-1].moment),
        labels=labels,
        metrics={
            **_headline(figures),
            "train_rows": len(train_index),
            "test_rows": len(test_index),
            "still_open": still_open,
            "excluded": excluded,
        },
        now=now,
    )


def train_from_file(
    session: Session, path: Path, options: Options, config: WorkspaceConfig, now: datetime
) -> tuple[ScoringModel, dict[str, Any]]:
    """A new version from a history file: the backtest's figures and the promotion check on
    its test rows (time-ordered only with ``--time``), then trained on all of the file's usable
    rows with the columns the backtest kept."""
    try:
        table = read_table(path)
        options = replace(options, min_class=MIN_OUTCOMES)
        report, prepared, held_out = run(
            table, options, header_fields(table.headers), config.scoring.fit
        )
        model = train(
            prepared.rows(range(len(prepared.labels))),
            prepared.labels,
            features=prepared.features,
            seed=options.seed,
        )
    except (TableError, BacktestError, TrainingError) as exc:
        raise LearningError(f"{path}: {exc}") from exc
    trained: tuple[datetime, datetime] | None = None
    if prepared.order is not None:
        known = [key for key in prepared.order if key != -math.inf]
        if known:
            trained = (
                datetime.fromtimestamp(min(known), UTC),
                datetime.fromtimestamp(max(known), UTC),
            )
    test_rows = prepared.rows(prepared.test_index)
    decision = promotion_check(
        session,
        [prepared.labels[i] for i in prepared.test_index],
        [held_out.probability(row) for row in test_rows],
        test_rows,
        [fit_score(config.scoring.fit, prepared.leads[i])[0] for i in prepared.test_index],
        time_ordered=options.time is not None,
    )
    version = store(
        session,
        model,
        decision=decision,
        source=f"file {path.name}"[:300],
        positive=f"{options.target} is {prepared.positive!r}"[:300],
        trained=trained,
        labels=prepared.labels,
        metrics={
            **_headline(report),
            "train_rows": report["train_rows"],
            "test_rows": report["test_rows"],
            "excluded": report["excluded"],
        },
        now=now,
    )
    return version, report


#: A process that finds a version trained from the database this recently does not train again
#: (several processes share one database, each with its scheduler).
RETRAIN_AFTER = timedelta(days=6)


def retrain_weekly(session: Session, config: WorkspaceConfig, now: datetime) -> str:
    """The scheduler's weekly retraining; what happened, in a few words."""
    if config.scoring.model.use == "off":
        return 'off (scoring.model.use = "off")'
    recent = session.scalar(
        select(ScoringModel.id)
        .where(ScoringModel.source == "database", ScoringModel.created_at > now - RETRAIN_AFTER)
        .limit(1)
    )
    if recent is not None:
        return f"version {recent} is less than a week old"
    try:
        version = train_from_database(session, config, now)
    except LearningError as exc:
        return f"skipped: {exc}"
    return f"version {version.id} trained on {version.rows} outcomes, {version.decision}"


def promotion_check(
    session: Session,
    labels: Sequence[int],
    candidate: Sequence[float],
    rows: Sequence[dict[str, Any]],
    fits: Sequence[float],
    *,
    time_ordered: bool,
) -> Decision:
    """The candidate against the active version and the rules on the same holdout rows."""
    if not time_ordered:
        return Decision(
            False,
            "kept in shadow: no time-ordered holdout (the latest outcomes hold one class only, "
            "or the history has no time column)",
            len(labels),
            sum(labels),
        )
    competitors = []
    active = ACTIVE.get(session)
    if active is not None:
        competitors.append(
            Competitor(f"version {active.version}", [active.model.probability(r) for r in rows])
        )
    competitors.append(Competitor("the rules", list(fits)))
    return decide(labels, candidate, competitors)


def store(
    session: Session,
    model: Model,
    *,
    decision: Decision,
    source: str,
    positive: str,
    trained: tuple[datetime, datetime] | None,
    labels: Sequence[int],
    metrics: dict[str, Any],
    now: datetime,
) -> ScoringModel:
    """Store ``model`` as a new version: the active one when ``decision`` promotes it, else
    kept in shadow (stored, not active) with the reason."""
    version = ScoringModel(
        created_at=now,
        source=source,
        positive=positive,
        trained_from=trained[0] if trained else None,
        trained_to=trained[1] if trained else None,
        rows=len(labels),
        positives=sum(labels),
        metrics=_json_safe({**metrics, "promotion": decision.as_dict()}),
        model=model.as_data(),
        active=False,
        status=PROMOTED if decision.promote else SHADOW,
        decision=decision.reason,
    )
    session.add(version)
    session.flush()
    if decision.promote:
        _activate(session, version, now)
    return version


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False, default=str))


def _activate(session: Session, version: ScoringModel, now: datetime) -> None:
    session.execute(
        update(ScoringModel)
        .where(ScoringModel.active.is_(True), ScoringModel.id != version.id)
        .values(active=False)
    )
    version.active = True
    version.activated_at = now
    session.flush()


def list_models(session: Session) -> list[ScoringModel]:
    return list(session.scalars(select(ScoringModel).order_by(ScoringModel.id)))


def use_model(session: Session, number: int, now: datetime) -> ScoringModel:
    version = session.get(ScoringModel, number, with_for_update=True)
    if version is None:
        known = session.scalars(select(ScoringModel.id).order_by(ScoringModel.id)).all()
        listed = ", ".join(map(str, known)) if known else "none yet (run `leadbot scoring train`)"
        raise LearningError(f"no model version {number} (versions: {listed})")
    version.status = CHOSEN
    _activate(session, version, now)
    return version


# --- the live likelihood -----------------------------------------------------------------------


@dataclass(frozen=True)
class Likelihood:
    probability: float
    version: int
    explanation: Explanation

    def reasons(self, count: int | None = None) -> list[dict[str, Any]]:
        parts = self.explanation.contributions
        return [
            {"feature": feature_label(c.feature), "value": c.value, "points": round(c.points, 4)}
            for c in (parts if count is None else parts[:count])
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "probability": self.probability,
            "model": self.version,
            "base": self.explanation.base,
            "reasons": [
                {"feature": c.feature, "value": c.value, "points": c.points}
                for c in self.explanation.contributions
            ],
        }


@dataclass(frozen=True)
class ActiveModel:
    version: int
    status: str
    model: Model

    @property
    def may_qualify(self) -> bool:
        """Only a version that proved itself, or that a person chose, turns leads into MQLs."""
        return self.status in QUALIFYING


class _ActiveModels:
    """The active model per database, loaded once and again only when another version becomes
    active (one indexed query per use tells which version is active)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[int, datetime | None, Model]] = {}

    def get(self, session: Session) -> ActiveModel | None:
        row = session.execute(
            select(ScoringModel.id, ScoringModel.activated_at, ScoringModel.status).where(
                ScoringModel.active.is_(True)
            )
        ).first()
        if row is None:
            return None
        key = str(session.get_bind().engine.url)
        with self._lock:
            cached = self._loaded.get(key)
            if cached is not None and cached[:2] == (row.id, row.activated_at):
                return ActiveModel(row.id, row.status, cached[2])
        data = session.scalar(select(ScoringModel.model).where(ScoringModel.id == row.id))
        model = Model.from_data(data or {})
        with self._lock:
            self._loaded[key] = (row.id, row.activated_at, model)
        return ActiveModel(row.id, row.status, model)


ACTIVE = _ActiveModels()


def likelihood_of(
    session: Session, lead: Lead, config: WorkspaceConfig, now: datetime
) -> Likelihood | None:
    """The lead's likelihood as of ``now`` from the active model; None with ``use = "off"`` or
    no active model."""
    if config.scoring.model.use == "off":
        return None
    active = ACTIVE.get(session)
    if active is None:
        return None
    return _likelihood(session, lead, active, now)


def _likelihood(
    session: Session, lead: Lead, active: ActiveModel, now: datetime
) -> Likelihood | None:
    events = [
        Happened(kind, occurred)
        for kind, occurred in session.execute(
            select(Event.type, Event.occurred_at).where(Event.lead_id == lead.id)
        )
    ]
    try:
        explanation = active.model.explain(lead_features(profile_of(lead), events, as_of=now))
    except (ArithmeticError, ValueError, TypeError) as exc:
        # The likelihood only informs: a value no model reads must never stop the lead's page,
        # its alert or its qualification by the rules.
        log.warning(
            "lead %s: no likelihood (model %s cannot read it: %s)", lead.id, active.version, exc
        )
        return None
    return Likelihood(explanation.probability, active.version, explanation)


def qualification_by_likelihood(
    session: Session, lead: Lead, config: WorkspaceConfig, grade: str, now: datetime
) -> str | None:
    """With ``use = "on"``: the rule that makes the lead an MQL by its likelihood, or None."""
    settings = config.scoring.model
    if settings.use != "on" or not config.scoring.grade_allows(grade):
        return None
    active = ACTIVE.get(session)
    if active is None or not active.may_qualify:
        return None
    likelihood = _likelihood(session, lead, active, now)
    if likelihood is None or likelihood.probability < settings.mql_likelihood:
        return None
    return (
        f"likelihood {likelihood.probability:.0%} >= mql_likelihood "
        f"{settings.mql_likelihood:.0%} (model {likelihood.version}) with grade {grade}"
    )
