"""Pages for the organisation: the unit tree, a unit's page and form, accounts, the audit trail."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from cityloop.core import audit
from cityloop.core.errors import AppError, NotFound
from cityloop.core.http import DB, check_csrf, request_locale
from cityloop.core.permissions import AUDIT_READ, ORG_READ, ORG_WRITE, USERS_READ, USERS_WRITE, Role
from cityloop.core.validation import Int
from cityloop.org import service
from cityloop.org.models import Unit, UnitKind, User
from cityloop.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


def _tree(units: list[Unit]) -> tuple[list[Unit], dict[int, list[Unit]]]:
    ids = {u.id for u in units}
    children: dict[int, list[Unit]] = defaultdict(list)
    roots = []
    for u in units:
        if u.parent_id in ids:
            children[u.parent_id].append(u)
        else:
            roots.append(u)
    return roots, children


@router.get("/admin/units", response_class=HTMLResponse)
def units_page(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(ORG_READ)
    units = list(service.list_units(db, principal=me))
    roots, children = _tree(units)
    return render(
        request,
        "org/units.html",
        roots=roots,
        children=children,
        count=len(units),
        can_write=me.can(ORG_WRITE),
    )


@router.get("/admin/units/new", response_class=HTMLResponse)
def new_unit_form(request: Request, me: PageUser, db: DB, parent: str = "") -> HTMLResponse:
    me.require(ORG_WRITE)
    return _unit_form(request, me, db, unit=None, values={"parent": parent})


@router.get("/admin/units/{ref}", response_class=HTMLResponse)
def unit_page(ref: str, request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(ORG_READ)
    unit = service.get_unit_in_scope(db, principal=me, ref=ref)
    if not me.can(ORG_WRITE):
        kids = list(service.list_units(db, principal=me, parent_id=unit.id))
        accounts = (
            db.execute(select(User).where(User.unit_id == unit.id).order_by(User.username)).scalars().all()
        )
        staff = service.list_people(db, principal=me, unit_id=unit.id)
        return render(request, "org/unit.html", unit=unit, kids=kids, accounts=accounts, people=staff)
    return _unit_form(request, me, db, unit=unit, values={})


def _unit_form(
    request: Request,
    me: Any,
    db: DB,
    *,
    unit: Unit | None,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    if unit is not None and not values:
        values = {
            "code": unit.code,
            "name": unit.name,
            "name_en": unit.name_en or "",
            "kind": unit.kind,
            "parent": unit.parent.code if unit.parent else "",
            "administered_by": unit.administered_by or "",
            "geometry": json.dumps(unit.geometry, ensure_ascii=False) if unit.geometry else "",
            "version": unit.version,
        }
    kids = list(service.list_units(db, principal=me, parent_id=unit.id)) if unit else []
    people = list(service.list_people(db, principal=me, unit_id=unit.id)) if unit else []
    return render(
        request,
        "org/unit_form.html",
        status_code=status_code,
        unit=unit,
        v=values,
        error=error,
        kinds=list(UnitKind),
        kids=kids,
        people=people,
    )


def _parse_geometry(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        from cityloop.core.errors import ValidationFailed

        raise ValidationFailed("error.geometry_invalid", reason=f"JSON: {exc.msg}") from exc


@router.post("/admin/units", response_class=HTMLResponse)
def create_unit(
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    code: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=120)] = "",
    kind: Annotated[str, Form()] = "",
    parent: Annotated[str, Form()] = "",
    name_en: Annotated[str, Form(max_length=160)] = "",
    administered_by: Annotated[str, Form(max_length=120)] = "",
    geometry: Annotated[str, Form()] = "",
) -> Response:
    me.require(ORG_WRITE)
    check_csrf(request, csrf)
    values = {
        "code": code,
        "name": name,
        "kind": kind,
        "parent": parent,
        "name_en": name_en,
        "administered_by": administered_by,
        "geometry": geometry,
    }
    try:
        parent_unit = service.find_unit(db, ref=parent)
        if not me.sees_path(parent_unit.path):
            raise NotFound("error.unit_not_found", ref=parent)
        unit = service.create_unit(
            db,
            actor=me,
            code=code,
            name=name,
            kind=kind,
            parent=parent_unit,
            geometry=_parse_geometry(geometry),
            name_en=name_en or None,
            administered_by=administered_by or None,
        )
        db.commit()
    except AppError as exc:
        db.rollback()
        return _unit_form(
            request,
            me,
            db,
            unit=None,
            values=values,
            error=exc.message(request_locale(request)),
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/admin/units/{unit.code}?saved=1", status_code=303)


@router.post("/admin/units/{ref}", response_class=HTMLResponse)
def update_unit(
    ref: str,
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    version: Annotated[Int, Form()] = 0,
    code: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=120)] = "",
    parent: Annotated[str, Form()] = "",
    name_en: Annotated[str, Form(max_length=160)] = "",
    administered_by: Annotated[str, Form(max_length=120)] = "",
    geometry: Annotated[str, Form()] = "",
) -> Response:
    me.require(ORG_WRITE)
    check_csrf(request, csrf)
    unit = service.get_unit_in_scope(db, principal=me, ref=ref)
    values = {
        "code": code,
        "name": name,
        "kind": unit.kind,
        "parent": parent,
        "name_en": name_en,
        "administered_by": administered_by,
        "geometry": geometry,
        "version": version,
    }
    try:
        changes: dict[str, Any] = {
            "code": code,
            "name": name,
            "name_en": name_en or None,
            "administered_by": administered_by or None,
        }
        new_geometry = _parse_geometry(geometry)
        if new_geometry != unit.geometry:
            changes["geometry"] = new_geometry
        if parent and (unit.parent is None or parent != unit.parent.code):
            target = service.find_unit(db, ref=parent)
            if not me.sees_path(target.path):
                raise NotFound("error.unit_not_found", ref=parent)
            changes["parent"] = target
        service.update_unit(db, actor=me, unit=unit, expected_version=version, **changes)
        db.commit()
    except AppError as exc:
        db.rollback()
        unit = service.get_unit_in_scope(db, principal=me, ref=ref)
        return _unit_form(
            request,
            me,
            db,
            unit=unit,
            values=values,
            error=exc.message(request_locale(request)),
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/admin/units/{unit.code}?saved=1", status_code=303)


@router.post("/admin/units/{ref}/people", response_class=HTMLResponse)
def add_person(
    ref: str,
    request: Request,
    me: PageUser,
    db: DB,
    name: Annotated[str, Form(max_length=80)] = "",
    title: Annotated[str, Form(max_length=120)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    me.require(ORG_WRITE)
    unit = service.get_unit_in_scope(db, principal=me, ref=ref)
    if not name.strip():
        from cityloop.core.errors import ValidationFailed

        exc = ValidationFailed("error.required_field", field=translate_field(request, "people.name"))
        return _unit_form(
            request, me, db, unit=unit, values={}, error=exc.message(request_locale(request)), status_code=422
        )
    service.create_person(db, actor=me, name=name, unit=unit, title=title or None, phone=phone or None)
    db.commit()
    return RedirectResponse(f"/admin/units/{unit.code}?saved=1#people", status_code=303)


def translate_field(request: Request, key: str) -> str:
    from cityloop.core.i18n import translate

    return translate(key, request_locale(request))


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, me: PageUser, db: DB, q: str = "") -> HTMLResponse:
    me.require(USERS_READ)
    users = service.search_users(db, principal=me, q=q or None)
    return render(
        request,
        "org/users.html",
        users=users,
        q=q,
        roles=list(Role),
        can_write=me.can(USERS_WRITE),
        error=None,
        v={},
    )


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(
    request: Request,
    me: PageUser,
    db: DB,
    csrf: Annotated[str, Form()] = "",
    username: Annotated[str, Form(max_length=80)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    me.require(USERS_WRITE)
    check_csrf(request, csrf)
    try:
        target = service.find_unit(db, ref=unit)
        if not me.sees_path(target.path):
            raise NotFound("error.unit_not_found", ref=unit)
        service.create_user(
            db,
            actor=me,
            username=username,
            password=password,
            role=role,
            unit=target,
            display_name=display_name or None,
        )
        db.commit()
    except AppError as exc:
        db.rollback()
        users = service.search_users(db, principal=me)
        return render(
            request,
            "org/users.html",
            status_code=exc.status_code,
            users=users,
            q="",
            roles=list(Role),
            can_write=True,
            error=exc.message(request_locale(request)),
            v={"username": username, "role": role, "unit": unit, "display_name": display_name},
        )
    return RedirectResponse("/admin/users?created=1", status_code=303)


def _user_in_scope(db: DB, me: Any, username: str) -> User:
    user = service.get_user(db, username=username)
    if not me.sees_path(user.unit.path):
        raise NotFound("error.user_not_found", username=username)
    return user


@router.get("/admin/users/{username}", response_class=HTMLResponse)
def user_page(username: str, request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(USERS_WRITE)
    user = _user_in_scope(db, me, username)
    return render(request, "org/user_form.html", user=user, roles=list(Role), error=None)


@router.post("/admin/users/{username}", response_class=HTMLResponse)
def update_user(
    username: str,
    request: Request,
    me: PageUser,
    db: DB,
    display_name: Annotated[str, Form(max_length=120)] = "",
    role: Annotated[str, Form()] = "",
    unit: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    unlock: Annotated[str, Form()] = "",
) -> Response:
    me.require(USERS_WRITE)
    user = _user_in_scope(db, me, username)
    try:
        changes: dict[str, Any] = {
            "display_name": display_name or user.display_name,
            "role": role or user.role,
            "active": active == "on",
        }
        if unit and unit != user.unit.code:
            target = service.find_unit(db, ref=unit)
            if not me.sees_path(target.path):
                raise NotFound("error.unit_not_found", ref=unit)
            changes["unit"] = target
        if password:
            changes["password"] = password
        if unlock == "on":
            changes["unlock"] = True
        service.update_user(db, actor=me, user=user, **changes)
        db.commit()
    except AppError as exc:
        db.rollback()
        user = _user_in_scope(db, me, username)
        return render(
            request,
            "org/user_form.html",
            status_code=exc.status_code,
            user=user,
            roles=list(Role),
            error=exc.message(request_locale(request)),
        )
    return RedirectResponse(f"/admin/users/{username}?saved=1", status_code=303)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, me: PageUser, db: DB, entity_type: str = "", entity_id: str = ""
) -> HTMLResponse:
    me.require(AUDIT_READ)
    stmt = select(audit.AuditRecord).order_by(audit.AuditRecord.id.desc()).limit(200)
    if entity_type:
        stmt = stmt.where(audit.AuditRecord.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(audit.AuditRecord.entity_id == entity_id)
    records = db.execute(stmt).scalars().all()
    return render(request, "org/audit.html", records=records, entity_type=entity_type, entity_id=entity_id)
