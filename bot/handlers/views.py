"""Modal submissions: the Reject reason."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import Ack, App

from bot.runtime import Runtime
from bot.views import ids
from bot.views.forms import result_view
from core.lifecycle import IllegalTransition, Stage
from core.services import handoff, leadops, qualification
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
        lead_id = int(view["private_metadata"].split("|")[0])
        try:
            with runtime.db.transaction() as session:
                handoff.reject(
                    session,
                    lead_id,
                    actor=body["user"]["id"],
                    reason=reason,
                    comment=value_of(view, ids.REJECT_COMMENT),
                    config=runtime.config,
                    now=runtime.now(),
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
            with runtime.db.transaction() as session:
                result = qualification.qualify(
                    session,
                    int(view["private_metadata"]),
                    answers,
                    actor=body["user"]["id"],
                    config=runtime.config,
                    now=runtime.now(),
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
        try:
            with runtime.db.transaction() as session:
                opportunity = qualification.record_opportunity(
                    session,
                    int(view["private_metadata"]),
                    name=value_of(view, "name"),
                    amount=value_of(view, "amount"),
                    currency=value_of(view, "currency"),
                    close_date=date.fromisoformat(picked) if picked else None,
                    crm_url=value_of(view, "crm_url"),
                    actor=body["user"]["id"],
                    config=runtime.config,
                    now=runtime.now(),
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
        try:
            with runtime.db.transaction() as session:
                leadops.assign(
                    session,
                    int(view["private_metadata"]),
                    owner,
                    actor=body["user"]["id"],
                    config=runtime.config,
                    now=runtime.now(),
                )
        except (handoff.Refused, Conflict, IllegalTransition) as refusal:
            ack(response_action="errors", errors={"owner": str(refusal)[:150]})
            return
        ack()
        runtime.outbox_changed()
