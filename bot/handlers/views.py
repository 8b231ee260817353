"""Modal submissions: the Reject reason, BANT, opportunity and assign. Each is acted on only if
the bot opened that form for that user, and only once (``opened_views.use``, first thing in the
submission's transaction); the lead is the one the form was opened for."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import Ack, App

from bot.runtime import Runtime
from bot.views import ids
from bot.views.forms import result_view
from core.lifecycle import IllegalTransition, Stage
from core.services import handoff, leadops, opened_views, qualification
from core.services.stages import Conflict


def value_of(view: dict[str, Any], block: str) -> str | None:
    """The submitted value of input ``block`` (action_id equal to the block_id)."""
    state = view["state"]["values"].get(block, {}).get(block, {})
    value = (
        (state.get("selected_option") or {}).get("value")
        if "selected_option" in state
        else (state.get("value"))
    )
    return str(value) if value is not None else None


def register(app: App, runtime: Runtime) -> None:
    @app.view(ids.REJECT_VIEW)
    def on_reject_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = value_of(view, ids.REJECT_REASON)
        if not reason:
            ack(response_action="errors", errors={ids.REJECT_REASON: "Choose a reason."})
            return
        user, now = body["user"]["id"], runtime.now()
        try:
            with runtime.db.transaction() as session:
                lead_id = opened_views.use(session, view, user=user, now=now)
                handoff.reject(
                    session,
                    lead_id,
                    actor=body["user"]["id"],
                    reason=reason,
                    comment=value_of(view, ids.REJECT_COMMENT),
                    config=runtime.config,
                    now=now,
                )
        except (handoff.Refused, Conflict, IllegalTransition) as refusal:
            ack(response_action="errors", errors={ids.REJECT_REASON: str(refusal)[:150]})
            return
        ack()
        runtime.outbox_changed()


def register_lead_forms(app: App, runtime: Runtime) -> None:
    """BANT, opportunity and assign submissions. Bad answers come back inline on their block and
    nothing is stored; a refusal (stage moved on, no permission) shows on the first block."""

    @app.view(ids.BANT_VIEW)
    def on_bant(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            answers = qualification.build_bant(
                **{
                    name: value_of(view, name)
                    for name in (
                        "budget",
                        "authority",
                        "need",
                        "timeline",
                        "budget_amount",
                        "need_text",
                        "notes",
                    )
                }
            )
            user, now = body["user"]["id"], runtime.now()
            with runtime.db.transaction() as session:
                result = qualification.qualify(
                    session,
                    opened_views.use(session, view, user=user, now=now),
                    answers,
                    actor=user,
                    config=runtime.config,
                    now=now,
                )
        except qualification.Invalid as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        except (handoff.Refused, Conflict, IllegalTransition) as refusal:
            ack(response_action="errors", errors={"budget": str(refusal)[:150]})
            return
        met = ", ".join(name.title() for name, ok in result.met.items() if ok) or "none"
        if result.stage is Stage.SQL:
            text = f":white_check_mark: The lead is now *SQL*. Met: {met}."
        else:
            missing = ", ".join(name.title() for name in result.missing)
            text = (
                f"Saved. The lead stays *SAL*: {runtime.config.qualification.bant_required} of 4 "
                f"criteria are needed and these are not met yet: *{missing}*."
            )
        if result.accepted_first:
            text += " You accepted it in the same step."
        ack(response_action="update", view=result_view("Qualification saved", text))
        runtime.outbox_changed()

    @app.view(ids.OPPORTUNITY_VIEW)
    def on_opportunity(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        state = view["state"]["values"].get("close_date", {}).get("close_date", {})
        picked = state.get("selected_date")
        user, now = body["user"]["id"], runtime.now()
        try:
            with runtime.db.transaction() as session:
                opportunity = qualification.record_opportunity(
                    session,
                    opened_views.use(session, view, user=user, now=now),
                    name=value_of(view, "name"),
                    amount=value_of(view, "amount"),
                    currency=value_of(view, "currency"),
                    close_date=date.fromisoformat(picked) if picked else None,
                    crm_url=value_of(view, "crm_url"),
                    actor=user,
                    config=runtime.config,
                    now=now,
                )
                summary = (
                    f"{opportunity.amount} {opportunity.currency}, closing {opportunity.close_date}"
                )
        except qualification.Invalid as exc:
            ack(response_action="errors", errors=exc.errors)
            return
        except (handoff.Refused, Conflict, IllegalTransition) as refusal:
            ack(response_action="errors", errors={"name": str(refusal)[:150]})
            return
        ack(
            response_action="update",
            view=result_view("Opportunity saved", f":moneybag: The lead is now *SQO*: {summary}."),
        )
        runtime.outbox_changed()

    @app.view(ids.ASSIGN_VIEW)
    def on_assign(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        owner = view["state"]["values"].get("owner", {}).get("owner", {}).get("selected_user")
        if not owner:
            ack(response_action="errors", errors={"owner": "Choose a person."})
            return
        user, now = body["user"]["id"], runtime.now()
        try:
            with runtime.db.transaction() as session:
                leadops.assign(
                    session,
                    opened_views.use(session, view, user=user, now=now),
                    owner,
                    actor=user,
                    config=runtime.config,
                    now=now,
                )
        except (handoff.Refused, Conflict, IllegalTransition) as refusal:
            ack(response_action="errors", errors={"owner": str(refusal)[:150]})
            return
        ack()
        runtime.outbox_changed()
