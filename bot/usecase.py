"""Running a use case from an edge: one transaction, a refusal turned into the reply its surface
gives (a note only the user sees, an inline error in the modal, an HTTP 4xx), and the outbox
woken once the transaction has committed. A handler is: ack, parse, run, reply.

The use cases run this way return a value (a row, a result), never None, so None means
"refused, and the user has been told"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException
from slack_bolt import Ack
from sqlalchemy.orm import Session

from bot.runtime import Runtime
from bot.views.text import mention
from core.db import with_retry
from core.lifecycle import IllegalTransition
from core.refusals import ErasedLead, Invalid, Refusal, UnknownLead
from core.services.privacy import AlreadyErased, Suppressed
from core.services.stages import Conflict

T = TypeVar("T")
UseCase = Callable[[Session], T]

#: Slack shows at most this much of an inline error.
MODAL_ERROR = 150


def run(runtime: Runtime, use_case: UseCase[T], *, wake: bool = True) -> T:
    """``use_case`` in one transaction; a :class:`Refusal` rolls it back and propagates. After
    the commit the notifier is woken for whatever the use case queued (``wake=False`` for reads)."""
    # Again from the start when PostgreSQL reports a deadlock with a concurrent writer (or a
    # unique key another writer just took): the retry sees the other's rows.
    result = with_retry(runtime.db, use_case)
    if wake:
        runtime.outbox_changed()
    return result


def run_or_tell(
    runtime: Runtime, tell: Callable[[str], None], use_case: UseCase[T], *, wake: bool = True
) -> T | None:
    """For a button or command: a refusal becomes a note to the user."""
    try:
        return run(runtime, use_case, wake=wake)
    except Refusal as refusal:
        tell(slack_text(refusal))
        return None


def slack_text(refusal: Refusal) -> str:
    """The refusal as Slack shows it: the people it names as mentions."""
    return refusal.text(mention)


def modal_errors(refusal: Refusal, block: str) -> dict[str, str]:
    """Bad answers on their own blocks; any other refusal on ``block`` (the form's first)."""
    if isinstance(refusal, Invalid):
        return refusal.errors
    return {block: slack_text(refusal)[:MODAL_ERROR]}


def run_in_modal(runtime: Runtime, ack: Ack, block: str, use_case: UseCase[T]) -> T | None:
    """For a modal submission: a refusal is acknowledged as inline errors and the modal stays
    open; on success the caller acknowledges (closing or updating the modal)."""
    try:
        return run(runtime, use_case)
    except Refusal as refusal:
        ack(response_action="errors", errors=modal_errors(refusal, block))
        return None


def http_status(refusal: Refusal) -> int:
    if isinstance(refusal, ErasedLead):
        return 410
    if isinstance(refusal, UnknownLead):
        return 404
    if isinstance(refusal, Invalid):
        return 422
    if isinstance(refusal, Conflict | IllegalTransition | Suppressed | AlreadyErased):
        return 409
    return 403


def run_for_http(runtime: Runtime, use_case: UseCase[T], *, wake: bool = True) -> T:
    """For an HTTP route: a refusal becomes a 4xx whose ``detail`` says why."""
    try:
        return run(runtime, use_case, wake=wake)
    except Refusal as refusal:
        detail: Any = refusal.errors if isinstance(refusal, Invalid) else str(refusal)
        raise HTTPException(http_status(refusal), detail) from refusal
