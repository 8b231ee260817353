"""The intake API (``/api/v1``): leads and events from forms, webhooks and marketing automation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.http.metrics import Metrics
from bot.runtime import Runtime
from bot.usecase import run_for_http
from core.db import with_retry
from core.lifecycle import Stage
from core.models import Lead
from core.refusals import UnknownLead
from core.schemas import (
    MAX_DB_ID,
    EventBatch,
    EventIn,
    EventsAccepted,
    EventsBody,
    LeadDetail,
    LeadIn,
    LeadOut,
    LeadPage,
    LikelihoodOut,
    check_storable,
    unstorable,
)
from core.services import intake, leads, learning, privacy
from core.services.apikeys import verify_key

KEY_TOUCH_INTERVAL = timedelta(minutes=5)


class EraseBody(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(check_storable)]


UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked API key"}
}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


def check_key(rt: Runtime, authorization: str | None) -> tuple[str | None, str | None]:
    """``(key name, None)`` for ``Bearer <live key>``, else ``(None, why not)``."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return None, "missing API key: send Authorization: Bearer <key>"
    if unstorable(presented):  # no key holds a NUL, and PostgreSQL could not look it up
        return None, "unknown or revoked API key"
    with rt.db.transaction() as session:
        key = verify_key(session, presented.strip())
        if key is None:
            return None, "unknown or revoked API key"
        now = rt.now()
        if key.last_used_at is None or now - key.last_used_at > KEY_TOUCH_INTERVAL:
            key.last_used_at = now
        return key.name, None


def require_key(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """``Authorization: Bearer <key>`` with a live key; anything else is 401. The server's
    middleware checks it before the body is read (so a bad key is 401 even with a bad body);
    this dependency documents the header and covers an app mounted without that middleware."""
    checked: str | None = getattr(request.state, "api_key", None)
    if checked:
        return checked
    name, error = check_key(runtime(request), authorization)
    if name is None:
        raise HTTPException(401, error, headers={"WWW-Authenticate": "Bearer"})
    return name


router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_key)], responses=UNAUTHORIZED)


def _unprocessable(
    errors: list[tuple[tuple[str | int, ...], str]], prefix: tuple[str | int, ...]
) -> RequestValidationError:
    return RequestValidationError(
        [
            {"type": "value_error", "loc": (*prefix, *loc), "msg": msg, "input": None}
            for loc, msg in errors
        ]
    )


@router.post(
    "/leads",
    status_code=201,
    responses={200: {"model": LeadOut, "description": "Updated"}, 201: {"description": "Created"}},
)
def post_lead(body: LeadIn, request: Request, response: Response) -> LeadOut:
    """Create or update a lead by e-mail: 201 created, 200 updated (or unchanged)."""
    rt = runtime(request)

    by_status = rt.away_by_status()  # Slack calls, if any, before the transaction

    def work(session: Session) -> tuple[LeadOut, intake.Outcome, intake.Qualified | None]:
        lead, outcome, qualified = intake.upsert_lead(
            session, body, config=rt.config, now=rt.now(), by_status=by_status
        )
        return leads.lead_out(lead), outcome, qualified

    try:
        out, outcome, qualified = with_retry(rt.db, work)
    except intake.BadInput as exc:
        raise _unprocessable(exc.errors, ("body",)) from exc
    except privacy.Suppressed as exc:
        raise HTTPException(409, str(exc)) from exc
    response.status_code = 201 if outcome == "created" else 200
    metrics(request).leads_upserted.labels(outcome).inc()
    if qualified:
        _qualified(request, [qualified])
    return out


@router.post("/events")
def post_events(body: EventsBody, request: Request) -> EventsAccepted:
    """One event object, or ``{"events": [...]}`` of at most 1000, stored in one transaction."""
    rt = runtime(request)
    batch = isinstance(body, EventBatch)
    events: list[EventIn] = body.events if isinstance(body, EventBatch) else [body]
    by_status = rt.away_by_status()  # Slack calls, if any, before the transaction
    try:
        result = with_retry(
            rt.db,
            lambda s: intake.record_events(
                s, events, config=rt.config, now=rt.now(), by_status=by_status
            ),
        )
    except privacy.Suppressed as exc:
        raise HTTPException(409, str(exc)) from exc
    except intake.BadInput as exc:
        if batch:
            raise _unprocessable(exc.errors, ("body", "events")) from exc
        raise _unprocessable([(loc[1:], msg) for loc, msg in exc.errors], ("body",)) from exc
    m = metrics(request)
    m.events.labels("accepted").inc(result.accepted)
    m.events.labels("duplicate").inc(result.duplicates)
    if result.qualified:
        _qualified(request, result.qualified)
    return EventsAccepted(accepted=result.accepted, duplicates=result.duplicates)


def _qualified(request: Request, qualified: list[intake.Qualified]) -> None:
    for item in qualified:
        metrics(request).qualified.labels(item.stage.value, item.team or "none").inc()
    runtime(request).outbox_changed()


@router.get("/leads/{lead_id}", responses={404: {"description": "No such lead"}})
def get_lead(lead_id: Annotated[int, Path(ge=1, le=MAX_DB_ID)], request: Request) -> LeadDetail:
    """One lead with its stage history, latest BANT answers, opportunity and likelihood."""
    rt = runtime(request)

    def work(session: Session) -> LeadDetail:
        lead = leads.get_lead(session, lead_id)
        detail = leads.lead_detail(session, lead, rt.now())
        found = learning.likelihood_of(session, lead, rt.config, rt.now())
        if found is not None:
            detail.likelihood = LikelihoodOut.model_validate(found.as_dict())
        return detail

    return run_for_http(rt, work, wake=False)


@router.get("/leads")
def list_leads(
    request: Request,
    email: Annotated[str | None, Query(max_length=320), AfterValidator(check_storable)] = None,
    stage: Stage | None = None,
    limit: Annotated[int, Query(ge=1, le=leads.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=100), AfterValidator(check_storable)] = None,
) -> LeadPage:
    """A page of leads in id order; pass ``next_cursor`` back as ``cursor`` for the next page."""
    with runtime(request).db.transaction() as session:
        try:
            return leads.list_leads(session, email=email, stage=stage, limit=limit, cursor=cursor)
        except leads.BadCursor as exc:
            raise _unprocessable([(("cursor",), str(exc))], ("query",)) from exc


@router.delete(
    "/leads/{lead_id}",
    responses={
        404: {"description": "No such lead"},
        409: {"description": "Already erased"},
    },
)
def erase_lead(
    lead_id: Annotated[int, Path(ge=1, le=MAX_DB_ID)],
    body: EraseBody,
    request: Request,
    key: Annotated[str, Depends(require_key)],
) -> dict[str, Any]:
    """Erase the person everywhere (database, Slack messages, queued payloads), keep an
    anonymous tombstone, and refuse the address from now on (see the README)."""
    rt = runtime(request)

    def work(session: Session) -> dict[str, Any]:
        lead = session.scalars(select(Lead).where(Lead.id == lead_id).with_for_update()).first()
        if lead is None:
            raise UnknownLead(f"There is no lead with id {lead_id}.")
        erased = privacy.erase(
            session,
            lead,
            config=rt.config,
            actor=f"api-key:{key}",
            reason=body.reason,
            now=rt.now(),
        )
        return {
            "id": erased.lead_id,
            "erased": True,
            "slack_messages": erased.slack_messages,
            "homes": erased.homes,
        }

    result = run_for_http(rt, work)
    rt.db.checkpoint()  # SQLite: the pages as they were go from the -wal file too
    return result


@router.get("/leads/{lead_id}/export", responses={404: {"description": "No such lead"}})
def export_lead(
    lead_id: Annotated[int, Path(ge=1, le=MAX_DB_ID)], request: Request
) -> JSONResponse:
    """Everything held about the person, one JSON document."""
    rt = runtime(request)

    def work(session: Session) -> dict[str, Any]:
        lead = session.get(Lead, lead_id)
        if lead is None:
            raise UnknownLead(f"There is no lead with id {lead_id}.")
        return privacy.export(session, lead, config=rt.config, now=rt.now())

    return JSONResponse(run_for_http(rt, work, wake=False))
