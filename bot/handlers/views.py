"""Modal submissions: Reject, BANT, opportunity and assign. Bad answers come back inline on
their block and nothing is stored; any other refusal (the stage moved on, no permission) shows
on the form's first block. Each is acted on only if the bot opened that form for that user,
and only once (:func:`lead_of`, inside the submission's transaction)."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltContext
from sqlalchemy.orm import Session

from bot.runtime import Runtime
from bot.slack.middleware import runtime_of
from bot.usecase import run_in_modal
from bot.views import ids
from bot.views.forms import result_view
from core.lifecycle import Stage
from core.refusals import Invalid
from core.services import handoff, leadops, opened_views, qualification

View = dict[str, Any]


def value_of(view: View, block: str) -> str | None:
    """The submitted value of input ``block`` (action_id equal to the block_id)."""
    state = view["state"]["values"].get(block, {}).get(block, {})
    value = (
        (state.get("selected_option") or {}).get("value")
        if "selected_option" in state
        else (state.get("value"))
    )
    return str(value) if value is not None else None


def lead_of(runtime: Runtime, session: Session, body: dict[str, Any], view: View) -> int:
    """The lead the submitted form was opened for, once: the form is marked used (and a
    replayed, forged or someone else's form refused) in the submission's transaction."""
    return opened_views.use(session, view, user=body["user"]["id"], now=runtime.now())


def qualified_text(result: qualification.Qualified, required: int) -> str:
    met = ", ".join(name.title() for name, ok in result.met.items() if ok) or "none"
    if result.stage is Stage.SQL:
        text = f":white_check_mark: The lead is now *SQL*. Met: {met}."
    else:
        missing = ", ".join(name.title() for name in result.missing)
        text = (
            f"Saved. The lead stays *SAL*: {required} of {qualification.CRITERIA} criteria are "
            f"needed and these are not met yet: *{missing}*."
        )
    if result.accepted_first:
        text += " You accepted it in the same step."
    return text


def on_reject_submit(ack: Ack, body: dict[str, Any], view: View, context: BoltContext) -> None:
    runtime = runtime_of(context)
    reason = value_of(view, ids.REJECT_REASON)
    if not reason:
        ack(response_action="errors", errors={ids.REJECT_REASON: "Choose a reason."})
        return
    done = run_in_modal(
        runtime,
        ack,
        ids.REJECT_REASON,
        lambda session: handoff.reject(
            session,
            lead_of(runtime, session, body, view),
            actor=body["user"]["id"],
            reason=reason,
            comment=value_of(view, ids.REJECT_COMMENT),
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    if done is not None:
        ack()


def on_bant(ack: Ack, body: dict[str, Any], view: View, context: BoltContext) -> None:
    runtime = runtime_of(context)
    try:
        answers = qualification.build_bant(
            **{name: value_of(view, name) for name in qualification.FIELDS}
        )
    except Invalid as exc:
        ack(response_action="errors", errors=exc.errors)
        return
    result = run_in_modal(
        runtime,
        ack,
        qualification.QUESTIONS[0].key,
        lambda session: qualification.qualify(
            session,
            lead_of(runtime, session, body, view),
            answers,
            actor=body["user"]["id"],
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    if result is not None:
        text = qualified_text(result, runtime.config.qualification.bant_required)
        ack(response_action="update", view=result_view("Qualification saved", text))


def on_opportunity(ack: Ack, body: dict[str, Any], view: View, context: BoltContext) -> None:
    runtime = runtime_of(context)
    picked = (
        view["state"]["values"].get("close_date", {}).get("close_date", {}).get("selected_date")
    )
    try:
        close_date = date.fromisoformat(picked) if isinstance(picked, str) else None
    except ValueError:
        ack(response_action="errors", errors={"close_date": "Pick a date from the calendar."})
        return
    opportunity = run_in_modal(
        runtime,
        ack,
        "name",
        lambda session: qualification.record_opportunity(
            session,
            lead_of(runtime, session, body, view),
            name=value_of(view, "name"),
            amount=value_of(view, "amount"),
            currency=value_of(view, "currency"),
            close_date=close_date,
            crm_url=value_of(view, "crm_url"),
            actor=body["user"]["id"],
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    if opportunity is not None:
        summary = f"{opportunity.amount} {opportunity.currency}, closing {opportunity.close_date}"
        ack(
            response_action="update",
            view=result_view("Opportunity saved", f":moneybag: The lead is now *SQO*: {summary}."),
        )


def on_assign(ack: Ack, body: dict[str, Any], view: View, context: BoltContext) -> None:
    runtime = runtime_of(context)
    owner = view["state"]["values"].get("owner", {}).get("owner", {}).get("selected_user")
    if not isinstance(owner, str) or not owner:
        ack(response_action="errors", errors={"owner": "Choose a person."})
        return
    done = run_in_modal(
        runtime,
        ack,
        "owner",
        lambda session: leadops.assign(
            session,
            lead_of(runtime, session, body, view),
            owner,
            actor=body["user"]["id"],
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    if done is not None:
        ack()


def register(app: App) -> None:
    app.view(ids.REJECT_VIEW)(on_reject_submit)
    app.view(ids.BANT_VIEW)(on_bant)
    app.view(ids.OPPORTUNITY_VIEW)(on_opportunity)
    app.view(ids.ASSIGN_VIEW)(on_assign)
