"""The lead modals (from `/lead` or from a button): who may open them, and what they show.

Each builder raises ``Refused``/``IllegalTransition`` with a message for the user when the modal
must not open; permission is checked before the stage, so nobody learns a stage they may not
see. Nothing is changed by opening a modal. Callers acknowledge Slack first, then call
``views.open`` with the view (see :func:`open_view`)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.runtime import Runtime
from bot.views.forms import assign_modal, bant_modal, opportunity_modal
from core import access
from core.businesstime import hours_of
from core.lifecycle import QUALIFIED, IllegalTransition, Stage
from core.services import leads as lead_queries
from core.services import qualification
from core.services.handoff import Refused, check_may_accept, get_lead

BANT_OPTIONS = {
    "budget": qualification.BUDGET,
    "authority": qualification.AUTHORITY,
    "need": qualification.NEED,
    "timeline": qualification.TIMELINE,
}
OWNER_OR_MANAGER = "the lead's owner or a manager of its team"


def bant_view(runtime: Runtime, lead_id: int, user: str) -> dict[str, Any]:
    config = runtime.config
    with runtime.db.transaction() as session:
        lead = get_lead(session, lead_id)
        stage = Stage(lead.stage)
        may = (
            access.can_handle_alert(config, user, lead.team)
            if stage in QUALIFIED
            else access.can_work_lead(config, user, lead.owner, lead.team)
        )
        if not may:
            raise Refused(access.refusal("qualifying this lead", OWNER_OR_MANAGER))
        if stage in QUALIFIED:  # qualifying accepts it: not while it is offered to someone else
            check_may_accept(session, lead, user, config, runtime.now())
        if stage not in QUALIFIED and stage is not Stage.SAL:
            raise IllegalTransition(stage, Stage.SQL)
        last = lead_queries.latest_qualification(session, lead.id)
        answers = None
        if last:
            answers = {
                "budget": last.budget,
                "budget_amount": last.budget_amount,
                "authority": last.authority,
                "need": last.need,
                "need_text": last.need_text,
                "timeline": last.timeline,
                "notes": last.notes,
            }
        return bant_modal(lead.id, lead.full_name, BANT_OPTIONS, answers)


def opportunity_view(runtime: Runtime, lead_id: int, user: str) -> dict[str, Any]:
    config = runtime.config
    with runtime.db.transaction() as session:
        lead = get_lead(session, lead_id)
        if not access.can_work_lead(config, user, lead.owner, lead.team):
            raise Refused(access.refusal("recording an opportunity", OWNER_OR_MANAGER))
        if Stage(lead.stage) is not Stage.SQL:
            raise IllegalTransition(Stage(lead.stage), Stage.SQO)
        default = f"{lead.company or lead.full_name}: new business"[:300]
        today = runtime.now().astimezone(hours_of(config, lead.team)[1]).date()
        return opportunity_modal(
            lead.id, lead.full_name, list(qualification.CURRENCIES), today, default
        )


def assign_view(runtime: Runtime, lead_id: int, user: str) -> dict[str, Any]:
    config = runtime.config
    with runtime.db.transaction() as session:
        lead = get_lead(session, lead_id)
        manager = (
            access.is_team_manager(config, user, lead.team)
            if lead.team
            else config.is_manager(user)
        )
        if not manager:
            raise Refused(
                access.refusal("assigning leads", f"managers of the {lead.team or 'sales'} team")
            )
        return assign_modal(lead.id, lead.full_name)


def open_view(client: WebClient, trigger_id: str, view: dict[str, Any]) -> str | None:
    """``views.open``; a message for the user if Slack refused (an expired trigger, say)."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response else "unknown error"
        return f"Slack could not open the form ({error}). Please try again."
    return None
