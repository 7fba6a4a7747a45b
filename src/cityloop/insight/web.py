"""Pages: the hotspot map and ranking with the proposals an account may decide, and the classifier
versions (administrators activate one). The task page's before/after chart is an include
(templates/insight/_before_after.html) drawn from the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cityloop.config import get_settings
from cityloop.core.errors import AppError, NotFound
from cityloop.core.http import DB, check_csrf, request_locale
from cityloop.core.validation import Id, Int
from cityloop.insight import permissions as perm
from cityloop.insight import registry, service
from cityloop.insight.api import category_codes
from cityloop.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


def _hotspots_page(
    request: Request, me: PageUser, db: DB, error: str | None = None, status: int = 200
) -> HTMLResponse:
    spots = service.list_hotspots(db, principal=me, limit=200)
    codes = category_codes(db)
    points = [
        {"rank": h.rank, "lon": h.lon, "lat": h.lat, "heat": h.heat, "place": h.place, "summary": h.summary}
        for h in spots
        if h.lon is not None and h.lat is not None
    ]
    proposals = service.list_proposals(db, principal=me) if me.can(perm.PROPOSALS) else []
    return render(
        request,
        "insight/hotspots.html",
        status_code=status,
        spots=spots,
        codes=codes,
        points=points,
        proposals=proposals,
        error=error,
    )


@router.get("/insight/hotspots", response_class=HTMLResponse)
def hotspots_page(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(perm.HOTSPOTS)
    return _hotspots_page(request, me, db)


@router.post("/insight/proposals/{proposal_id}/{decision}", response_class=HTMLResponse)
def decide(
    proposal_id: Id,
    decision: str,
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    version: Annotated[Int, Form()] = 0,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(request, csrf)
    try:
        if decision == "accept":
            task = service.accept(
                db, principal=me, proposal_id=proposal_id, data=service.AcceptInput(version=version)
            )
            db.commit()
            return RedirectResponse(f"/programme/tasks/{task.id}", status_code=303)
        if decision == "dismiss":
            service.dismiss(db, principal=me, proposal_id=proposal_id, version=version, reason=reason)
            db.commit()
            return RedirectResponse("/insight/hotspots", status_code=303)
        raise NotFound("insight.error.proposal_not_found", ref=proposal_id)
    except AppError as exc:
        db.rollback()
        if exc.status_code in (401, 403, 404):
            raise
        return _hotspots_page(
            request, me, db, error=exc.message(request_locale(request)), status=exc.status_code
        )


@router.get("/insight/models", response_class=HTMLResponse)
def models_page(request: Request, me: PageUser, db: DB, error: str | None = None) -> HTMLResponse:
    me.require(perm.MODELS_READ)
    rows = registry.list_models(db)
    active = next((m for m in rows if m.active), None)
    return render(
        request,
        "insight/models.html",
        models=rows,
        active=active,
        threshold=get_settings().insight_prefill_confidence,
        can_manage=me.can(perm.MODELS_MANAGE),
        error=error,
    )


@router.post("/insight/models/activate", response_class=HTMLResponse)
def activate_page(
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    version: Annotated[Int, Form()] = 0,
) -> Response:
    me.require(perm.MODELS_MANAGE)
    check_csrf(request, csrf)
    try:
        registry.activate_version(db, actor=me, version=version)
        db.commit()
    except AppError as exc:
        db.rollback()
        return models_page(request, me, db, error=exc.message(request_locale(request)))
    return RedirectResponse("/insight/models", status_code=303)
