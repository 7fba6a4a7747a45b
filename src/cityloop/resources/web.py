"""Pages for idle spaces (list, map, register, move along idle → planned → in use) and for
industrial buildings (graded ranking per period, trend, drivers, Excel import/export)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cityloop.core.errors import AppError
from cityloop.core.http import DB, check_csrf, request_locale
from cityloop.core.validation import Id, finite
from cityloop.resources import excel, grading, service
from cityloop.resources.permissions import RESOURCES_READ, RESOURCES_WRITE
from cityloop.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


def _idle_page(
    request: Request,
    me: Any,
    db: DB,
    *,
    error: str | None = None,
    v: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    spaces = service.list_idle_spaces(db, principal=me)
    points = [
        {"id": s.id, "name": s.name, "lon": s.lon, "lat": s.lat, "status": s.status, "schematic": s.schematic}
        for s in spaces
    ]
    actions = {s.id: [a for (st, a) in service.IDLE_TRANSITIONS if st == s.status] for s in spaces}
    return render(
        request,
        "resources/idle_spaces.html",
        status_code=status_code,
        spaces=spaces,
        points=points,
        actions=actions,
        can_write=me.can(RESOURCES_WRITE),
        conditions=service.CONDITIONS,
        error=error,
        v=v or {},
    )


@router.get("/resources/idle-spaces", response_class=HTMLResponse)
def idle_spaces(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(RESOURCES_READ)
    return _idle_page(request, me, db)


@router.post("/resources/idle-spaces", response_class=HTMLResponse)
def create_idle(
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    lon: Annotated[str, Form()] = "",
    lat: Annotated[str, Form()] = "",
    area_m2: Annotated[str, Form()] = "",
    owner: Annotated[str, Form(max_length=200)] = "",
    condition: Annotated[str, Form()] = "fair",
    intended_use: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    me.require(RESOURCES_WRITE)
    check_csrf(request, csrf)
    values = {
        "name": name,
        "lon": lon,
        "lat": lat,
        "area_m2": area_m2,
        "owner": owner,
        "condition": condition,
        "intended_use": intended_use,
    }
    try:
        service.create_idle_space(
            db,
            actor=me,
            principal=me,
            name=name,
            lon=_num(lon),
            lat=_num(lat),
            area_m2=_num(area_m2),
            owner=owner,
            condition=condition,
            intended_use=intended_use or None,
        )
        db.commit()
    except AppError as exc:
        db.rollback()
        return _idle_page(
            request, me, db, error=exc.message(request_locale(request)), v=values, status_code=exc.status_code
        )
    return RedirectResponse("/resources/idle-spaces?saved=1", status_code=303)


def _num(text: str) -> float:
    number = finite(text)
    return float("nan") if number is None else number  # refused with a clear message by the service


@router.post("/resources/idle-spaces/{space_id}/{action}", response_class=HTMLResponse)
def idle_transition(
    space_id: Id, action: str, request: Request, me: PageUser, db: DB, csrf: Annotated[str, Form()] = ""
) -> Response:
    me.require(RESOURCES_WRITE)
    check_csrf(request, csrf)
    row = service.get_idle_space(db, space_id=space_id, principal=me)
    try:
        service.change_idle_status(db, actor=me, principal=me, row=row, action=action)
        db.commit()
    except AppError as exc:
        db.rollback()
        return _idle_page(
            request, me, db, error=exc.message(request_locale(request)), status_code=exc.status_code
        )
    return RedirectResponse("/resources/idle-spaces?saved=1", status_code=303)


def _buildings_page(
    request: Request, me: Any, db: DB, *, period: str | None, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    periods = service.periods(db)
    period = period or (periods[0] if periods else None)
    try:
        system = grading.active_system(db)
        ranked = grading.ranking(db, period=period, principal=me) if period else []
    except AppError as exc:
        system, ranked, error = None, [], error or exc.message(request_locale(request))
    return render(
        request,
        "resources/buildings.html",
        status_code=status_code,
        periods=periods,
        period=period,
        system=system,
        ranked=ranked,
        can_write=me.can(RESOURCES_WRITE),
        error=error,
    )


@router.get("/resources/buildings", response_class=HTMLResponse)
def buildings(request: Request, me: PageUser, db: DB, period: str | None = None) -> HTMLResponse:
    me.require(RESOURCES_READ)
    return _buildings_page(request, me, db, period=period)


@router.post("/resources/buildings/import", response_class=HTMLResponse)
async def import_buildings(
    request: Request,
    me: PageUser,
    db: DB,
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    me.require(RESOURCES_WRITE)
    check_csrf(request, csrf)
    data = await file.read(10 * 1_048_576 + 1)
    try:
        counts = excel.import_workbook(
            db, actor=me, principal=me, data=data, filename=file.filename or "upload.xlsx"
        )
        db.commit()
    except AppError as exc:
        db.rollback()
        message = exc.message(request_locale(request))
        if isinstance(exc.details, list):
            message += " " + "; ".join(
                f"{d['sheet']}!{d['column']}{d['row']}: {d['problem']}"
                for d in exc.details[:30]
                if isinstance(d, dict)
            )
        return _buildings_page(request, me, db, period=None, error=message, status_code=exc.status_code)
    return RedirectResponse(f"/resources/buildings?imported={counts['reports']}", status_code=303)
