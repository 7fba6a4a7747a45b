"""Open311 GeoReport v2 under /open311/v2/: the case domain seen by third-party reporting apps.

Services are the active category leaves (group = major category); a POSTed request is an intake of the
``app`` channel through ``api.commit_intake`` (same routing, duplicate check and idempotency as every
other channel); requests are cases, shown without any personal data, their status the two-word
``states.PUBLIC_STATUS``. Contract: docs/cases-open311.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases import categories, routing, service
from cityloop.cases.api import commit_intake
from cityloop.cases.models import Case, CaseEvent, Category, IdempotencyKey
from cityloop.cases.open311_io import (
    FORMATS,
    Open311Error,
    app_for_key,
    document,
    error_response,
    from_app_error,
    split_format,
)
from cityloop.cases.states import CLOSED_STATES, PUBLIC_STATUS, State
from cityloop.core import audit
from cityloop.core.clock import isoformat, now
from cityloop.core.db import new_session
from cityloop.core.errors import AppError, NotFound
from cityloop.core.http import DB
from cityloop.core.i18n import translate
from cityloop.core.public import coarse_address, coarse_coordinate
from cityloop.core.validation import bad_char, finite, parse_time, strip_controls

router = APIRouter(prefix="/open311/v2", tags=["open311"])

JURISDICTION_ID = "500107"  # 九龙坡区's administrative code: the one jurisdiction served here
CHANGESET = "2026-11-28T00:00:00+08:00"  # when this contract last changed (discovery)
MAX_SPAN = timedelta(days=90)
MAX_RESULTS = 1000
ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
URGENCIES = ("normal", "urgent", "emergency")
PERSONAL_LIMITS = {"first_name": 40, "last_name": 40, "phone": 40, "email": 200, "device_id": 120}


def _answer(name: str, work: Callable[[str], Response]) -> Response:
    """Run ``work(fmt)`` and turn every failure into the spec's error list, in the asked format."""
    fmt = name.rpartition(".")[2] if name.rpartition(".")[2] in FORMATS else "xml"
    try:
        return work(split_format(name)[1])
    except Open311Error as exc:
        return error_response(fmt, exc)
    except AppError as exc:
        return error_response(fmt, from_app_error(exc))


def _param(values: Any, name: str) -> str | None:
    """A parameter's value; empty (or only blanks) counts as absent."""
    value = values.get(name)
    if value is None or not isinstance(value, str):
        return None
    return value.strip() or None


def _check_jurisdiction(values: Any) -> None:
    jurisdiction = _param(values, "jurisdiction_id")
    if jurisdiction is not None and jurisdiction != JURISDICTION_ID:
        raise Open311Error(404, f"jurisdiction_id {jurisdiction} is not served here")


# --- discovery and services ---------------------------------------------------------------------------


@router.get("/discovery.{fmt}")
def discovery(fmt: str, request: Request) -> Response:
    def work(f: str) -> Response:
        endpoint = {
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": str(request.base_url).rstrip("/") + router.prefix,
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }
        body = {
            "changeset": CHANGESET,
            "contact": translate("cases.open311.contact", "en"),
            "key_service": translate("cases.open311.key_service", "en"),
            "endpoints": [endpoint],
        }
        return document(f, "discovery", body)

    return _answer(f"discovery.{fmt}", work)


def _label(urgency: str, locale: str) -> str:
    return translate(f"cases.urgency.{urgency}", locale)


def _attributes() -> list[dict[str, Any]]:
    """The questions every service asks beyond the standard fields (the case's own fields)."""
    return [
        {
            "variable": True,
            "code": "urgency",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": translate("cases.open311.urgency_hint", "en"),
            "order": 1,
            "description": translate("cases.open311.urgency", "en"),
            "values": [{"key": u, "name": f"{_label(u, 'zh-CN')} {_label(u, 'en')}"} for u in URGENCIES],
        }
    ]


def _service(c: Category) -> dict[str, Any]:
    keywords = [c.name, c.name_en or "", c.major_name, c.kind]
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": f"{c.major_name} / {c.name}" + (f" ({c.name_en})" if c.name_en else ""),
        "metadata": bool(_attributes()),
        "type": "realtime",
        "keywords": ",".join(k for k in keywords if k),
        "group": c.major_name,
    }


@router.get("/services.{fmt}")
def services(fmt: str, request: Request, db: DB) -> Response:
    def work(f: str) -> Response:
        _check_jurisdiction(request.query_params)
        return document(f, "services", [_service(c) for c in categories.list_categories(db)])

    return _answer(f"services.{fmt}", work)


@router.get("/services/{name}")
def service_definition(name: str, request: Request, db: DB) -> Response:
    def work(f: str) -> Response:
        _check_jurisdiction(request.query_params)
        code = split_format(name)[0]
        categories.leaf(db, code=code)  # 404 when unknown or inactive
        return document(f, "service_definition", {"service_code": code, "attributes": _attributes()})

    return _answer(name, work)


# --- requests: reading --------------------------------------------------------------------------------


def _date(values: Any, name: str) -> datetime | None:
    """A W3C date-time with its zone, within the years every time must fall in (core.validation)."""
    raw = _param(values, name)
    if raw is None:
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise Open311Error(
            400, f"{name}: {exc}; send a W3C date-time such as 2026-11-28T09:00:00+08:00"
        ) from None


def _span(values: Any) -> tuple[datetime, datetime]:
    """The reported-at window: both ends given, one end (+/- 90 days), or the last 90 days."""
    start, end = _date(values, "start_date"), _date(values, "end_date")
    if start is None and end is None:
        end = now()
    if start is None:
        assert end is not None
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    if end < start:
        raise Open311Error(400, "end_date is before start_date")
    if end - start > MAX_SPAN:
        raise Open311Error(400, "start_date and end_date may be at most 90 days apart")
    return start, end


def _csv(values: Any, name: str) -> list[str]:
    raw = _param(values, name)
    return [v.strip() for v in raw.split(",") if v.strip()] if raw else []


def _query(db: Session, values: Any) -> list[Case]:
    ids = _csv(values, "service_request_id")
    stmt = select(Case)
    if ids:  # overrides every other filter
        stmt = stmt.where(Case.tracking_no.in_(ids[:MAX_RESULTS]))
    else:
        codes = _csv(values, "service_code")
        if codes:
            stmt = stmt.where(Case.category_id.in_(select(Category.id).where(Category.code.in_(codes))))
        start, end = _span(values)
        stmt = stmt.where(Case.reported_at >= start, Case.reported_at <= end)
        status = _param(values, "status")
        closed = [s.value for s in CLOSED_STATES]
        if status == "open":
            stmt = stmt.where(Case.state.not_in(closed))
        elif status == "closed":
            stmt = stmt.where(Case.state.in_(closed))
        elif status is not None:
            raise Open311Error(400, "status must be open or closed")
    stmt = stmt.order_by(Case.reported_at.desc(), Case.id.desc()).limit(MAX_RESULTS)
    return list(db.execute(stmt).scalars())


def _notes(db: Session, cases: list[Case]) -> dict[int, str]:
    """The latest public note of each case (what the handling unit told the public)."""
    if not cases:
        return {}
    stmt = (
        select(CaseEvent.case_id, CaseEvent.public_note)
        .where(CaseEvent.case_id.in_([c.id for c in cases]), CaseEvent.public_note.is_not(None))
        .order_by(CaseEvent.at, CaseEvent.id)
    )
    return {case_id: str(note) for case_id, note in db.execute(stmt)}


def _request(c: Case, a: routing.Areas, notes: dict[int, str]) -> dict[str, Any]:
    """A case as the public may see it: no reporter name, phone, email, device or account."""
    unit = a.by_id.get(c.unit_id) if c.unit_id is not None else None
    open311 = (c.attributes or {}).get("open311") or {}
    status = PUBLIC_STATUS[State(c.state)]
    return {
        "service_request_id": c.tracking_no,
        "status": status,
        "status_notes": notes.get(c.id),
        "service_name": c.category.name,
        "service_code": c.category.code,
        "description": c.description,
        "agency_responsible": unit.name if unit else None,
        "service_notice": None,
        "requested_datetime": isoformat(c.reported_at),
        "updated_datetime": isoformat(c.updated_at),
        # When the responsible unit must be done: known once the case is dispatched.
        "expected_datetime": isoformat(c.handle_due_at) if status == "open" else None,
        # Coarsened like the coordinates: road and community, never the door (core.public).
        "address": coarse_address(c.address),
        "address_id": None,
        "zipcode": None,
        # Rounded like the public tracking page (about 100 m): where, not whose door.
        "lat": coarse_coordinate(c.lat),
        "long": coarse_coordinate(c.lon),
        "media_url": open311.get("media_url"),
    }


def _requests_doc(db: Session, f: str, cases: list[Case]) -> Response:
    a, notes = routing.areas(db), _notes(db, cases)
    return document(f, "service_requests", [_request(c, a, notes) for c in cases])


@router.get("/requests.{fmt}")
def list_requests(fmt: str, request: Request, db: DB) -> Response:
    def work(f: str) -> Response:
        _check_jurisdiction(request.query_params)
        return _requests_doc(db, f, _query(db, request.query_params))

    return _answer(f"requests.{fmt}", work)


@router.get("/requests/{name}")
def get_request(name: str, request: Request, db: DB) -> Response:
    def work(f: str) -> Response:
        _check_jurisdiction(request.query_params)
        case = service.get_by_tracking_no(db, tracking_no=split_format(name)[0])
        return _requests_doc(db, f, [case])

    return _answer(name, work)


@router.get("/tokens/{name}")
def get_token(name: str, request: Request, db: DB) -> Response:
    """A token is the Idempotency-Key an app sent with its POST; it names the request it created."""

    def work(f: str) -> Response:
        _check_jurisdiction(request.query_params)
        token = split_format(name)[0]
        stmt = (
            select(Case.tracking_no)
            .join(IdempotencyKey, IdempotencyKey.case_id == Case.id)
            .where(IdempotencyKey.key == token, IdempotencyKey.owner.startswith("open311:"))
        )
        found = list(db.execute(stmt).scalars())
        if not found:
            raise NotFound("cases.open311.token_unknown", token=token)
        return document(f, "service_requests", [{"service_request_id": t, "token": token} for t in found])

    return _answer(name, work)


# --- requests: creating -------------------------------------------------------------------------------


def _float(form: Any, name: str) -> float | None:
    raw = _param(form, name)
    if raw is None:
        return None
    value = finite(raw)
    if value is None:
        raise Open311Error(400, f"{name} must be a finite number")
    return value


def _urgency(form: Any) -> str:
    """The answers to the service's attributes; only ``urgency`` is asked."""
    urgency = "normal"
    for key in form:
        match = ATTRIBUTE.match(key)
        if not match:
            continue
        if match.group(1) != "urgency" or match.group(2):
            raise Open311Error(400, f"unknown attribute {match.group(1)}")
        value = _param(form, key)
        if value is None:
            continue
        if value not in URGENCIES:
            raise Open311Error(400, f"attribute[urgency] must be one of {', '.join(URGENCIES)}")
        urgency = value
    return urgency


def _report(db: Session, form: Any, app_name: str) -> service.NewCase:
    for key, value in form.multi_items():
        if (isinstance(value, str) and bad_char(value) is not None) or bad_char(key) is not None:
            raise Open311Error(400, f"{strip_controls(key)[:40]} holds a control character")
    code = _param(form, "service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    categories.leaf(db, code=code)  # 404 when unknown
    lat, lon = _float(form, "lat"), _float(form, "long")
    address = _param(form, "address_string")
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long go together")
    if lat is None and address is None:
        if _param(form, "address_id") is not None:
            raise Open311Error(400, "address_id is not supported here: send lat and long, or address_string")
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    description = _param(form, "description") or ""
    if len(description) > service.MAX_DESCRIPTION:
        raise Open311Error(400, f"description may be at most {service.MAX_DESCRIPTION} characters")
    for name, limit in PERSONAL_LIMITS.items():
        if len(_param(form, name) or "") > limit:
            raise Open311Error(400, f"{name} may be at most {limit} characters")
    person = " ".join(p for p in (_param(form, "first_name"), _param(form, "last_name")) if p)
    extra = {k: _param(form, k) for k in ("email", "device_id", "account_id", "media_url")}
    return service.NewCase(
        category=code,
        description=description,
        lon=lon,
        lat=lat,
        address=address,
        urgency=_urgency(form),
        source="app",
        source_ref=f"open311:{app_name}"[:120],
        reporter_name=person or None,
        reporter_phone=_param(form, "phone"),
        attributes={"open311": {"app": app_name, **{k: v for k, v in extra.items() if v}}},
    )


def _create(form: Any, idempotency_key: str | None) -> dict[str, Any]:
    db = new_session(write=True)
    try:
        _check_jurisdiction(form)
        app = app_for_key(db, key=_param(form, "api_key"))
        report = _report(db, form, app.name)
        owner = f"open311:{app.name}"[:60]
        actor = audit.Actor(owner)
        result, _ = commit_intake(
            db, actor=actor, report=report, idempotency_key=idempotency_key, idempotency_owner=owner
        )
        notice = translate("cases.open311.notice", "en", tracking_no=result.case.tracking_no)
        if result.duplicates:
            others = ", ".join(d.tracking_no for d in result.duplicates)
            notice += " " + translate("cases.open311.notice_duplicate", "en", others=others)
        return {
            "service_request_id": result.case.tracking_no,
            "service_notice": notice,
            "account_id": _param(form, "account_id"),
        }
    finally:
        db.rollback()
        db.close()


@router.post("/requests.{fmt}")
async def create_request(fmt: str, request: Request) -> Response:
    """Report a problem (form-encoded). An ``Idempotency-Key`` header makes retries safe and is the token."""
    name = f"requests.{fmt}"
    form = await request.form()
    key = (request.headers.get("idempotency-key") or "").strip()[:200] or None
    try:
        f = split_format(name)[1]
        created = await run_in_threadpool(_create, form, key)
    except Open311Error as exc:
        return error_response(fmt, exc)
    except AppError as exc:
        return error_response(fmt, from_app_error(exc))
    return document(f, "service_requests", [created])
