"""Pages for the 15-minute circle: the accessibility map with coverage and gaps, siting with the
one-click task, and the data (facilities, residential areas, imports)."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from cityloop.core.errors import AppError
from cityloop.core.http import DB, check_csrf, request_locale
from cityloop.core.validation import Id, Int, finite, parse_int
from cityloop.livability import accessibility, service, siting
from cityloop.livability.api import MAX_UPLOAD, plan_out, propose
from cityloop.livability.models import PlanSite, SitePlan
from cityloop.livability.permissions import (
    LIVABILITY_ANALYSE,
    LIVABILITY_READ,
    LIVABILITY_WRITE,
    can_propose,
    leads_the_action,
    require_plans,
    require_propose,
    view_of,
)
from cityloop.web.pages import HOME_EXTRA_LINKS, PageUser, render

router = APIRouter(include_in_schema=False)


def _lead_department_links(session: Any, principal: Any) -> list[tuple[str, str]]:
    """The department that leads the 15-minute-circle action gets the circle on its home page."""
    return [("nav.livability", "/livability")] if leads_the_action(session, principal) else []


HOME_EXTRA_LINKS.append(_lead_department_links)


def _coverage_context(db: DB, me: Any) -> dict[str, Any]:
    try:
        run = accessibility.latest_run(db)
    except AppError:
        return {"run": None, "coverage": [], "gaps": [], "streets": []}
    rows = accessibility.results(db, run=run, principal=view_of(db, me))
    cov = accessibility.coverage(rows)
    gaps = [r for r in rows if not r.covered]
    gaps.sort(key=lambda r: (-r.area.elderly_population, r.area.id))
    streets = sorted({c["unit_name"] for c in cov if c["unit"] != "*"})
    return {"run": run, "coverage": cov, "gaps": gaps[:300], "gap_count": len(gaps), "streets": streets}


@router.get("/livability", response_class=HTMLResponse)
def accessibility_page(request: Request, me: PageUser, db: DB, error: str | None = None) -> HTMLResponse:
    me.require(LIVABILITY_READ)
    ctx = _coverage_context(db, me)
    table: dict[str, dict[str, Any]] = defaultdict(dict)
    for c in ctx["coverage"]:
        table[c["unit_name"]][c["type"]] = c
    return render(
        request,
        "livability/accessibility.html",
        types=list(service.list_types(db)),
        table=dict(table),
        can_run=me.can(LIVABILITY_ANALYSE),
        lead_department=leads_the_action(db, me),
        error=error,
        **ctx,
    )


@router.post("/livability/runs", response_class=HTMLResponse)
def run_form(
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    minutes: Annotated[str, Form()] = "15",
    speed_kmh: Annotated[str, Form()] = "4.5",
    per_type: Annotated[str, Form()] = "",
) -> Response:
    me.require(LIVABILITY_ANALYSE)
    check_csrf(request, csrf)
    try:
        accessibility.run(
            db,
            actor=me,
            minutes=None if per_type else _float(minutes),
            speed_kmh=_float(speed_kmh),
        )
        db.commit()
    except AppError as exc:
        db.rollback()
        return accessibility_page(request, me, db, error=exc.message(request_locale(request)))
    return RedirectResponse("/livability?saved=1", status_code=303)


def _float(text: str) -> float:
    number = finite(text)
    return float("nan") if number is None else number  # refused by the service, naming the field


@router.get("/livability/siting", response_class=HTMLResponse)
def siting_page(
    request: Request,
    me: PageUser,
    db: DB,
    plan: Id | None = None,
    error: str | None = None,
    v: dict[str, Any] | None = None,
    status_code: Annotated[Int, Query(ge=200, le=599)] = 200,
) -> HTMLResponse:
    require_plans(db, me)
    plans = db.execute(select(SitePlan).order_by(SitePlan.id.desc()).limit(20)).scalars().all()
    current = db.get(SitePlan, plan) if plan else (plans[0] if plans else None)
    return render(
        request,
        "livability/siting.html",
        status_code=status_code,
        types=list(service.list_types(db)),
        plans=plans,
        plan=plan_out(db, current) if current else None,
        idle_count=len(siting.idle_space_candidates(db)),
        can_propose=can_propose(db, me),
        can_plan=me.can(LIVABILITY_ANALYSE),
        lead_department=leads_the_action(db, me),
        error=error,
        v=v or {"k": 3, "method": "mclp", "minutes": 15},
    )


@router.post("/livability/siting", response_class=HTMLResponse)
def siting_form(
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
    k: Annotated[str, Form()] = "",
    method: Annotated[str, Form()] = "mclp",
    weight_by: Annotated[str, Form()] = "",
    minutes: Annotated[str, Form()] = "15",
) -> Response:
    me.require(LIVABILITY_ANALYSE)
    check_csrf(request, csrf)
    values = {"type": type, "k": k, "method": method, "weight_by": weight_by, "minutes": minutes}
    try:
        plan = siting.plan(
            db,
            actor=me,
            type_code=type,
            k=parse_int(k, lo=0, hi=100_000) or 0,  # 0 is refused by the service, naming the field
            candidates=siting.idle_space_candidates(db),
            candidate_source="idle-spaces",
            method=method,
            weight_by=weight_by or None,
            minutes=_float(minutes),
        )
        db.commit()
    except AppError as exc:
        db.rollback()
        return siting_page(
            request,
            me,
            db,
            error=exc.message(request_locale(request)),
            v=values,
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/livability/siting?plan={plan.id}", status_code=303)


@router.post("/livability/plan-sites/{site_id}/propose-task", response_class=HTMLResponse)
def propose_form(
    site_id: Id, request: Request, me: PageUser, db: DB, csrf: Annotated[str, Form()] = ""
) -> Response:
    require_propose(db, me)
    check_csrf(request, csrf)
    try:
        out = propose(db, me, site_id)
        db.commit()
    except AppError as exc:
        db.rollback()
        return siting_page(request, me, db, error=exc.message(request_locale(request)))
    site = db.get(PlanSite, site_id)
    plan_id = site.plan_id if site else ""
    return RedirectResponse(f"/livability/siting?plan={plan_id}&proposed={out.reference}", status_code=303)


@router.get("/livability/data", response_class=HTMLResponse)
def data_page(
    request: Request,
    me: PageUser,
    db: DB,
    error: str | None = None,
    status_code: Annotated[Int, Query(ge=200, le=599)] = 200,
) -> HTMLResponse:
    me.require(LIVABILITY_READ)
    counts: dict[str, int] = defaultdict(int)
    for f in service.list_facilities(db):
        counts[f.type.code] += 1
    try:
        net = service.active_network(db)
    except AppError:
        net = None
    return render(
        request,
        "livability/data.html",
        status_code=status_code,
        types=list(service.list_types(db)),
        counts=counts,
        areas=service.list_residential_areas(db, principal=me)[:500],
        network=net,
        can_write=me.can(LIVABILITY_WRITE),
        lead_department=leads_the_action(db, me),
        error=error,
    )


@router.post("/livability/data/import", response_class=HTMLResponse)
async def import_form(
    request: Request,
    me: PageUser,
    db: DB,
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "facilities",
    type: Annotated[str, Form()] = "",
    crs: Annotated[str, Form()] = "wgs84",
) -> Response:
    me.require(LIVABILITY_WRITE)
    check_csrf(request, csrf)
    data = await file.read(MAX_UPLOAD + 1)
    try:
        if kind == "areas":
            count = service.import_residential_areas(
                db, actor=me, principal=me, data=data, filename=file.filename or "upload", crs=crs
            )
        else:
            count = service.import_facilities(
                db,
                actor=me,
                principal=me,
                data=data,
                filename=file.filename or "upload",
                fixed_type=type or None,
                crs=crs,
            )
        db.commit()
    except AppError as exc:
        db.rollback()
        message = exc.message(request_locale(request))
        if isinstance(exc.details, list):
            message += " " + "; ".join(
                f"{d['row']}/{d['column']}: {d['problem']}" for d in exc.details[:20] if isinstance(d, dict)
            )
        return data_page(request, me, db, error=message, status_code=exc.status_code)
    return RedirectResponse(f"/livability/data?imported={count}", status_code=303)
