"""Pages of the case loop (一口响应): report a problem, one case's page with the actions the reader may
take, rating, “me too”, and the public tracking page. The lists (dispatcher queue, unit inbox,
overdue list) are in ``web_lists.py`` (its router is included here).

Everything that decides goes through ``cases.service`` / ``workflow`` / ``queue``; these handlers only
read forms, call the service, commit, and on a refusal re-render the page with the message in the
reader's language and the error's status code (409 for an illegal transition or a stale version).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from cityloop.cases import attachments, categories, duplicates, queue, routing, service, states, web_lists
from cityloop.cases.api import commit_intake
from cityloop.cases.models import Case, Category
from cityloop.cases.permissions import (
    CASES_ATTACH,
    CASES_DISPATCH,
    CASES_RATE,
    CASES_READ,
    CASES_REPORT,
    CASES_SUPPORT,
)
from cityloop.cases.scope import can_see
from cityloop.cases.states import OPEN_STATES, PUBLIC_STATUS, State
from cityloop.core.clock import now
from cityloop.core.errors import AppError, Conflict, NotFound, ValidationFailed
from cityloop.core.http import DB, OptionalPrincipal, check_csrf, request_locale
from cityloop.core.permissions import Principal, Role
from cityloop.core.validation import Id, Page, finite, parse_id, parse_int
from cityloop.insight import service as insight
from cityloop.org.models import Unit
from cityloop.web.pages import PageUser, render, safe_next

router = APIRouter(include_in_schema=False)
router.include_router(web_lists.router)
MAX_PHOTOS = 6
# What each action's form asks for besides the version (the service checks what is required).
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "register": ("category", "note"),
    "void": ("reason",),
    "dispatch": ("unit", "category", "note"),
    "accept": ("note",),
    "return": ("reason",),
    "progress": ("note", "public_note", "files"),
    "request_extension": ("hours", "reason"),
    "approve_extension": ("note",),
    "deny_extension": ("note",),
    "request_park": ("reason",),
    "approve_park": ("note", "public_note"),
    "deny_park": ("note",),
    "resume": ("note",),
    "feedback": ("note", "public_note", "files"),
    "verify_pass": ("note", "files"),
    "verify_fail": ("reason", "files"),
    "close": ("public_note",),
    "note": ("note",),
}
FILE_PURPOSE = {"verify_pass": "verification", "verify_fail": "verification"}


# --- shared helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Major:
    key: str  # "event:市容环境"
    kind: str
    name: str
    leaves: list[Category]


def category_tree(db: Session) -> list[Major]:
    """The active leaves grouped by kind and major class: the two levels of the picker."""
    groups: dict[str, Major] = {}
    for c in categories.list_categories(db):
        key = f"{c.kind}:{c.major_name}"
        if key not in groups:
            groups[key] = Major(key, c.kind, c.major_name, [])
        groups[key].leaves.append(c)
    return list(groups.values())


def handling_units(db: Session) -> list[Unit]:
    """Units a case may be dispatched to (for the dispatcher's select)."""
    stmt = select(Unit).where(Unit.active.is_(True), Unit.kind.in_(sorted(routing.HANDLING_KINDS)))
    return [u for u in db.execute(stmt.order_by(Unit.kind, Unit.sort_order, Unit.code)).scalars()]


async def read_files(request: Request, name: str = "files") -> list[tuple[str | None, bytes]]:
    """The files a form sent, each checked (type by content, size) before anything is saved.

    Read from the parsed form: with no file chosen a browser may send an empty text part, which a
    typed ``list[UploadFile]`` parameter would refuse."""
    form = await request.form()
    out = []
    for f in form.getlist(name):
        if not isinstance(f, UploadFile):
            continue
        data = await f.read()
        if not f.filename and not data:
            continue  # browsers send an empty part when no file was chosen
        attachments.check(data)
        out.append((f.filename, data))
    if len(out) > MAX_PHOTOS:
        raise ValidationFailed("cases.web.error.too_many_files", max=MAX_PHOTOS)
    return out


def _float(value: str, key: str) -> float | None:
    if not value.strip():
        return None
    number = finite(value.strip())  # "inf", "nan" and "1e400" are no coordinates or hours either
    if number is None:
        raise ValidationFailed(key)
    return number


def _message(request: Request, exc: AppError) -> str:
    return exc.message(request_locale(request))


# --- report -----------------------------------------------------------------------------------------


def _report_form(
    request: Request,
    db: Session,
    me: Principal,
    *,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    role = me.role.value
    values.setdefault("idem", uuid.uuid4().hex)
    return render(
        request,
        "cases/report.html",
        status_code=status_code,
        v=values,
        error=error,
        tree=category_tree(db),
        sources=service.ROLE_SOURCES.get(role, service.DEFAULT_SOURCES),
        urgencies=service.URGENCIES,
        staff=not me.is_citizen,
        max_photos=MAX_PHOTOS,
        max_description=service.MAX_DESCRIPTION,
    )


@router.get("/cases/report", response_class=HTMLResponse)
def report_form(request: Request, me: PageUser, db: DB, category: str = "") -> HTMLResponse:
    me.require(CASES_REPORT)
    return _report_form(request, db, me, values={"category": category})


@router.post("/cases/report", response_class=HTMLResponse)
async def report_submit(
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    idem: Annotated[str, Form(max_length=200)] = "",
    category: Annotated[str, Form(max_length=60)] = "",
    description: Annotated[str, Form()] = "",
    lon: Annotated[str, Form(max_length=40)] = "",
    lat: Annotated[str, Form(max_length=40)] = "",
    address: Annotated[str, Form(max_length=300)] = "",
    urgency: Annotated[str, Form(max_length=20)] = "normal",
    source: Annotated[str, Form(max_length=20)] = "",
    reporter_name: Annotated[str, Form(max_length=80)] = "",
    reporter_phone: Annotated[str, Form(max_length=40)] = "",
    source_ref: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    """A report from the form: photos checked first, then intake and photos in one transaction.

    The form carries a key made when it was shown (``idem``), sent as the Idempotency-Key: a double
    click or a browser retry returns the case made by the first submit instead of a second one."""
    me.require(CASES_REPORT)
    check_csrf(request, csrf)
    values = {
        "idem": idem,
        "category": category,
        "description": description,
        "lon": lon,
        "lat": lat,
        "address": address,
        "urgency": urgency,
        "source": source,
        "reporter_name": reporter_name,
        "reporter_phone": reporter_phone,
        "source_ref": source_ref,
    }
    try:
        photos = await read_files(request)
        report = service.NewCase(
            category=category.strip(),
            description=description,
            lon=_float(lon, "cases.error.coordinates_invalid"),
            lat=_float(lat, "cases.error.coordinates_invalid"),
            address=address.strip() or None,
            urgency=urgency or "normal",
            source=source or None,
            source_ref=(source_ref.strip() or None) if not me.is_citizen else None,
            reporter_name=(reporter_name.strip() or None) if not me.is_citizen else None,
            reporter_phone=(reporter_phone.strip() or None) if not me.is_citizen else None,
        )

        def attach(result: service.IntakeResult) -> None:
            if result.created:  # a replayed submit already has its photos
                for name, data in photos:
                    attachments.add_attachment(
                        db, actor=me, case=result.case, data=data, filename=name, purpose="report"
                    )

        result, _ = commit_intake(
            db, actor=me, report=report, idempotency_key=idem.strip() or None, render=attach
        )
    except AppError as exc:
        db.rollback()
        return _report_form(
            request, db, me, values=values, error=_message(request, exc), status_code=exc.status_code
        )
    case = result.case
    if can_see(me, case, routing.areas(db)):
        return RedirectResponse(f"/cases/{case.id}?new=1", status_code=303)
    # Staff whose scope does not hold what they reported (e.g. a squadron reporting for a department).
    return RedirectResponse(f"/track/{case.tracking_no}?new=1", status_code=303)


@router.get("/cases/nearby", response_class=HTMLResponse)
def nearby(
    request: Request, me: PageUser, db: DB, category: str = "", lon: str = "", lat: str = ""
) -> Response:
    """Open reports of this category near the pin (HTML fragment for the report form): “me too”."""
    me.require(CASES_REPORT)
    try:
        x = _float(lon, "cases.error.coordinates_invalid")
        y = _float(lat, "cases.error.coordinates_invalid")
        leaf = categories.leaf(db, code=category) if category else None
    except AppError:
        x = y = leaf = None
    found: list[Any] = []
    if leaf is not None and x is not None and y is not None:
        found = duplicates.candidates(db, category=leaf, lon=x, lat=y, at=now())
    return render(request, "cases/_nearby.html", found=found, citizen=me.is_citizen)


@router.get("/cases/map/areas")
def map_areas(me: PageUser, db: DB) -> JSONResponse:
    """The district and its streets/towns as GeoJSON: the background of every case map (any account;
    citizens may not read the unit list of the API)."""
    kinds = ["district", *sorted(routing.STREET_KINDS)]
    units = db.execute(
        select(Unit.code, Unit.name, Unit.kind, Unit.geometry, Unit.geometry_schematic).where(
            Unit.active.is_(True), Unit.kind.in_(kinds), Unit.geometry.is_not(None)
        )
    ).all()
    features = [
        {
            "type": "Feature",
            "geometry": u.geometry,
            "properties": {
                "code": u.code,
                "name": u.name,
                "kind": u.kind,
                "geometry_schematic": u.geometry_schematic,
            },
        }
        for u in units
    ]
    return JSONResponse(
        {"type": "FeatureCollection", "features": features}, headers={"Cache-Control": "private, max-age=300"}
    )


# --- one case ---------------------------------------------------------------------------------------


def _actions(me: Principal, case: Case, a: routing.Areas) -> list[str]:
    """Actions for the generic forms: the table's, minus those with their own form (merge, rating)."""
    out = []
    for name in service.allowed_actions(me, case, a):
        t = states.find(case.state, name)
        if t is not None and not t.own_endpoint and name in ACTION_FIELDS:
            out.append(name)
    return out


def _needs(case: Case, action: str) -> tuple[str, ...]:
    t = states.find(case.state, action)
    return t.needs if t is not None else ()


def case_page(
    request: Request,
    db: Session,
    me: Principal,
    case: Case,
    *,
    error: str | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    a = routing.areas(db)
    actions = _actions(me, case, a)
    all_allowed = service.allowed_actions(me, case, a)
    dupes = service.find_duplicates(db, case=case) if "merge" in all_allowed else []
    rating = service.rating_of(db, case=case)
    can_rate = case.state == State.closed and rating is None and me.can(CASES_RATE) and "rate" in all_allowed
    return render(
        request,
        "cases/case.html",
        status_code=status_code,
        case=case,
        areas=a,
        unit_name=lambda uid: a.by_id[uid].name if uid in a.by_id else "",
        files=attachments.list_attachments(db, case=case),
        events=service.timeline(db, case=case, public_only=me.is_citizen),
        actions=actions,
        fields=ACTION_FIELDS,
        needs={n: _needs(case, n) for n in actions},
        units=handling_units(db) if "dispatch" in actions else [],
        tree=category_tree(db) if {"register", "dispatch"} & set(actions) else [],
        insight=insight.case_suggestion(db, case_id=case.id)
        if {"register", "dispatch"} & set(actions)
        else None,
        duplicates=dupes,
        rating=rating,
        can_rate=can_rate,
        scores=service.SCORES,
        colour=web_lists.colours(db, [case]).get(case.id, "none"),
        is_open=case.state in OPEN_STATES,
        error=error,
        done=done,
        new=request.query_params.get("new") == "1",
        can_attach=me.can(CASES_ATTACH),
    )


@router.get("/cases/{case_id:int}", response_class=HTMLResponse)
def case_view(case_id: Id, request: Request, me: PageUser, db: DB, done: str = "") -> HTMLResponse:
    me.require(CASES_READ)
    case = service.get_case(db, principal=me, case_id=case_id)
    return case_page(request, db, me, case, done=done or None)


def _refused(request: Request, db: Session, me: Principal, case_id: Id, exc: AppError) -> HTMLResponse:
    db.rollback()
    case = service.get_case(db, principal=me, case_id=case_id)  # re-read: the refused change is gone
    db.refresh(case)
    return case_page(request, db, me, case, error=_message(request, exc), status_code=exc.status_code)


@router.post("/cases/{case_id:int}/act/{action}", response_class=HTMLResponse)
async def act(
    case_id: Id,
    action: str,
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    version: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    public_note: Annotated[str, Form(max_length=4000)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
    unit: Annotated[str, Form(max_length=40)] = "",
    category: Annotated[str, Form(max_length=60)] = "",
    hours: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """One step of the loop from a form; refusals (409 illegal/stale, 403, 422) re-render the case."""
    me.require(CASES_READ)
    check_csrf(request, csrf)
    try:  # the files first: nothing is read from or written to the database while they are checked
        photos = await read_files(request) if "files" in ACTION_FIELDS.get(action, ()) else []
    except AppError as exc:
        return _refused(request, db, me, case_id, exc)
    case = service.get_case(db, principal=me, case_id=case_id, for_update=True)
    try:
        read_version = parse_int(version, lo=0)
        if read_version is None:
            raise ValidationFailed("cases.web.error.version_missing")
        ids = []
        if photos:
            me.require(CASES_ATTACH)
            if case.state not in OPEN_STATES:
                raise Conflict("cases.error.not_open", error_code="transition_refused")
            for name, data in photos:
                row = attachments.add_attachment(
                    db,
                    actor=me,
                    case=case,
                    data=data,
                    filename=name,
                    purpose=FILE_PURPOSE.get(action, "evidence"),
                )
                ids.append(row.id)
        given = service.ActionInput(
            version=read_version,
            note=note.strip() or None,
            public_note=public_note.strip() or None,
            reason=reason.strip() or None,
            unit=unit.strip() or None,
            category=category.strip() or None,
            hours=_float(hours, "cases.web.error.hours_invalid"),
            attachment_ids=ids,
        )
        service.apply_action(db, actor=me, case=case, action=action, data=given)
        db.commit()
    except AppError as exc:
        return _refused(request, db, me, case_id, exc)
    target = safe_next(next) if next else f"/cases/{case_id}?done={action}"
    return RedirectResponse(target, status_code=303)


@router.post("/cases/{case_id:int}/merge", response_class=HTMLResponse)
async def merge(case_id: Id, request: Request, me: PageUser, db: DB) -> Response:
    """Merge the ticked duplicates into this case (the dispatcher)."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf") or ""))
    parent = service.get_case(db, principal=me, case_id=case_id, for_update=True)
    try:
        me.require(CASES_DISPATCH)
        # Each ticked duplicate comes as "id:version" (the version the page showed), so a duplicate
        # changed since is refused as stale, as in the API.
        refs = [str(v).partition(":") for v in form.getlist("child")]
        parsed = [(parse_id(i), parse_int(v, lo=0)) for i, _, v in refs]
        picked = [(i, v) for i, v in parsed if i is not None and v is not None]
        if not picked:
            raise ValidationFailed("cases.web.error.merge_none")
        children = [
            (service.get_case(db, principal=me, case_id=i, for_update=True), version) for i, version in picked
        ]
        service.merge(db, actor=me, parent=parent, children=children)
        db.commit()
    except AppError as exc:
        return _refused(request, db, me, case_id, exc)
    return RedirectResponse(f"/cases/{case_id}?done=merge", status_code=303)


@router.post("/cases/{case_id:int}/rate", response_class=HTMLResponse)
def rate(
    case_id: Id,
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    score: Annotated[str, Form(max_length=30)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """满意/基本满意/不满意 on a closed case: its reporter, or the dispatcher after a call-back."""
    check_csrf(request, csrf)
    case = service.get_case(db, principal=me, case_id=case_id)
    try:
        me.require(CASES_RATE)
        service.rate(db, actor=me, case=case, score=score, comment=comment)
        db.commit()
    except AppError as exc:
        return _refused(request, db, me, case_id, exc)
    return RedirectResponse(f"/cases/{case_id}?done=rate", status_code=303)


@router.post("/cases/{case_id:int}/me-too", response_class=HTMLResponse)
def me_too(
    case_id: Id, request: Request, me: PageUser, db: DB, csrf: Annotated[str, Form()] = ""
) -> Response:
    """“我也遇到”: a citizen joins an open report (seen near their pin or on its tracking page)."""
    check_csrf(request, csrf)
    me.require(CASES_SUPPORT)
    case = db.get(Case, case_id)
    if case is None:
        raise NotFound("cases.error.case_not_found", ref=case_id)
    try:
        target = service.support(db, actor=me, case=case)
        db.commit()
    except AppError as exc:
        db.rollback()
        return _tracking(
            request, db, me, case.tracking_no, error=_message(request, exc), status=exc.status_code
        )
    return RedirectResponse(f"/track/{target.tracking_no}?supported=1", status_code=303)


# --- citizens: my reports; anyone: public tracking -------------------------------------------------


@router.get("/cases/mine", response_class=HTMLResponse, name="cases_mine")
def mine(request: Request, me: PageUser, db: DB, page: Page = 1) -> HTMLResponse:
    """What I reported (citizens; staff see the reports they entered themselves)."""
    me.require(CASES_READ)
    stmt_filter = queue.CaseFilter()
    if me.is_citizen:
        result = queue.list_cases(db, principal=me, filters=stmt_filter, page=max(1, page), page_size=20)
        items = list(result.items)
    else:
        rows = db.execute(
            select(Case)
            .where(Case.reporter_user_id == me.user_id)
            .order_by(Case.reported_at.desc(), Case.id.desc())
            .limit(20)
            .offset((max(1, page) - 1) * 20)
        )
        items = list(rows.unique().scalars())
    return render(request, "cases/mine.html", items=items, page=max(1, page), more=len(items) == 20)


def _tracking(
    request: Request,
    db: Session,
    me: Principal | None,
    tracking_no: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    case = service.get_by_tracking_no(db, tracking_no=tracking_no.strip().upper())
    a = routing.areas(db)
    street = a.by_id.get(case.street_id) if case.street_id else None
    is_open = case.state in OPEN_STATES
    return render(
        request,
        "cases/track.html",
        status_code=status,
        case=case,
        status=PUBLIC_STATUS[State(case.state)],
        street=street.name if street else None,
        events=service.timeline(db, case=case, public_only=True),
        unit_name=lambda uid: a.by_id[uid].name if uid in a.by_id else "",
        rating=service.rating_of(db, case=case),
        can_support=bool(
            me is not None and me.role is Role.citizen and is_open and case.reporter_user_id != me.user_id
        ),
        mine=bool(me is not None and case.reporter_user_id == me.user_id),
        error=error,
        new=request.query_params.get("new") == "1",
        supported=request.query_params.get("supported") == "1",
    )


@router.get("/track", response_class=HTMLResponse)
def track_form(request: Request, me: OptionalPrincipal, no: str = "") -> Response:
    if no.strip():
        return RedirectResponse(f"/track/{no.strip().upper()}", status_code=303)
    return render(request, "cases/track_form.html")


@router.get("/track/{tracking_no}", response_class=HTMLResponse)
def track(tracking_no: str, request: Request, me: OptionalPrincipal, db: DB) -> HTMLResponse:
    """Public: category, street, state and the public timeline — nobody's name, phone or words."""
    try:
        return _tracking(request, db, me, tracking_no)
    except NotFound as exc:
        return render(
            request, "cases/track_form.html", status_code=404, error=_message(request, exc), no=tracking_no
        )
