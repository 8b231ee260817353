"""Modal submissions: the Reject reason."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.runtime import Runtime
from bot.views import ids
from core.lifecycle import IllegalTransition
from core.services import handoff
from core.services.stages import Conflict


def value_of(view: dict[str, Any], block: str) -> str | None:
    """The submitted value of input ``block`` (action_id equal to the block_id)."""
    state = view["state"]["values"].get(block, {}).get(block, {})
    if "selected_option" in state:
        return (state["selected_option"] or {}).get("value")
    return state.get("value")


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
