"""The modals the bot opened, and the one submission each may have.

A signed ``view_submission`` proves only that Slack (or whoever holds the signing secret) sent
it, and the same signed request can be replayed for five minutes. So every modal is recorded
when it opens (which form, for whom, about which lead) and a submission is acted on only if it
matches that record and the record is still unused. ``use`` marks it used by compare-and-set in
the submission's own transaction: if the use case then refuses (a wrong amount, the lead moved
on), the transaction rolls back and the form may be corrected and sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.models import OpenedView
from core.refusals import Refused

NOT_OPENED = "This form was not opened by leadbot. Please open it again from Slack."
NOT_YOURS = "This form was opened for someone else. Please open your own from Slack."
ALREADY_USED = "This form was already submitted; nothing was changed."


#: How long a form may stay open: older records are pruned (Slack keeps a modal for as long
#: as its window is open, but nobody submits a form after a week).
KEPT_FOR = timedelta(days=7)


class FormRefused(Refused):
    """A submission of a view the bot never opened, someone else's, or one already used."""


def record(
    session: Session, *, nonce: str, callback_id: str, user: str, lead_id: int, now: datetime
) -> None:
    """Before ``views.open``: the form identified by ``nonce`` (its ``external_id``)."""
    session.add(
        OpenedView(
            nonce=nonce, callback_id=callback_id, user_id=user, lead_id=lead_id, opened_at=now
        )
    )


def opened(session: Session, nonce: str, view_id: str) -> None:
    """After ``views.open``: Slack's id for the view."""
    session.execute(
        update(OpenedView)
        .where(OpenedView.nonce == nonce, OpenedView.view_id.is_(None))
        .values(view_id=view_id)
    )


def forget(session: Session, nonce: str) -> None:
    """Slack did not open the view: nothing can be submitted."""
    session.execute(delete(OpenedView).where(OpenedView.nonce == nonce))


def use(session: Session, view: Mapping[str, Any], *, user: str, now: datetime) -> int:
    """Mark the submitted ``view`` used and return the lead it was opened for, or raise
    :class:`FormRefused`. Call it inside the transaction that acts on the submission."""
    nonce = str(view.get("external_id") or "")
    view_id = str(view.get("id") or "")
    row = (
        session.scalars(select(OpenedView).where(OpenedView.nonce == nonce)).first()
        if nonce
        else None
    )
    if (
        row is None
        or row.callback_id != view.get("callback_id")
        or (row.view_id is not None and row.view_id != view_id)
    ):
        raise FormRefused(NOT_OPENED)
    if row.user_id != user:
        raise FormRefused(NOT_YOURS)
    result = session.execute(
        update(OpenedView)
        .where(OpenedView.id == row.id, OpenedView.used_at.is_(None))
        .values(used_at=now, view_id=view_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise FormRefused(ALREADY_USED)
    return row.lead_id


def prune(session: Session, now: datetime) -> int:
    """Forget the forms opened more than :data:`KEPT_FOR` ago (used or not): how many."""
    result = session.execute(
        delete(OpenedView)
        .where(OpenedView.opened_at < now - KEPT_FOR)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
