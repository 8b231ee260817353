"""Opening the lead modals (from `/lead` or from a button): checks first, then views.open.

Each opener raises ``Refused``/``IllegalTransition`` with a message for the user when the modal
must not open; nothing is changed by opening a modal."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.views.forms import assign_modal, bant_modal, opportunity_modal
from core import access
from core.lifecycle import QUALIFIED, IllegalTransition, Stage
from core.services import leads as lead_queries
from core.services import qualification
from core.services.handoff import Refused, get_lead

BANT_OPTIONS = {
    "budget": qualification.BUDGET,
    "authority": qualification.AUTHORITY,
    "need": qualification.NEED,
    "timeline": qualification.TIMELINE,
}


def open_bant(
    client: WebClient, trigger_id: str, runtime: Runtime, lead_id: int, user: str
) -> None:
    config = runtime.config
    with runtime.db.transaction() as session:
        lead = get_lead(session, lead_id)
        stage = Stage(lead.stage)
        if stage in QUALIFIED:
            if not access.can_handle_alert(config, user, lead.team):
                raise Refused(
                    access.refusal("qualifying this lead", f"the {lead.team or 'sales'} team")
                )
        elif stage is Stage.SAL:
            if not access.can_work_lead(config, user, lead.owner, lead.team):
                raise Refused(
                    access.refusal(
                        "qualifying this lead", "the lead's owner or a manager of its team"
                    )
                )
        else:
            raise IllegalTransition(stage, Stage.SQL)
        last = lead_queries.latest_qualification(session, lead.id)
        answers = (
            {
                "budget": last.budget,
                "budget_amount": last.budget_amount,
                "authority": last.authority,
                "need": last.need,
                "need_text": last.need_text,
                "timeline": last.timeline,
                "notes": last.notes,
            }
            if last
            else None
        )
        view = bant_modal(lead.id, lead.full_name, BANT_OPTIONS, answers)
    client.views_open(trigger_id=trigger_id, view=view)


def open_opportunity(
    client: WebClient, trigger_id: str, runtime: Runtime, lead_id: int, user: str
) -> None:
    with runtime.db.transaction() as session:
        lead = get_lead(session, lead_id)
        if not access.can_work_lead(runtime.config, user, lead.owner, lead.team):
            raise Refused(
                access.refusal(
                    "recording an opportunity", "the lead's owner or a manager of its team"
                )
            )
        if Stage(lead.stage) is not Stage.SQL:
            raise IllegalTransition(Stage(lead.stage), Stage.SQO)
        default = f"{lead.company or lead.full_name}: new business"
        view = opportunity_modal(
            lead.id, lead.full_name, list(qualification.CURRENCIES), runtime.now().date(), default
        )
    client.views_open(trigger_id=trigger_id, view=view)


def open_assign(
    client: WebClient, trigger_id: str, runtime: Runtime, lead_id: int, user: str
) -> None:
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
        view = assign_modal(lead.id, lead.full_name)
    client.views_open(trigger_id=trigger_id, view=view)
