"""Pages of the programme: overview, battle map, actions, the task ledger and a task's own page.

Problems, notices, evaluation, the weekly report, ledger import and settings are in
``web_work.py`` (its router is included here). Forms post back to the page; a refusal re-renders
the page with the message in the reader's language and the status code of the error.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from cityloop.core.errors import AppError, ValidationFailed
from cityloop.core.http import DB, request_locale
from cityloop.core.permissions import Principal
from cityloop.core.validation import Id, Int, Page, finite, in_years, parse_id
from cityloop.org import service as org
from cityloop.org.models import Person, Unit, UnitKind
from cityloop.programme import evidence as ev
from cityloop.programme import permissions as perm
from cityloop.programme import service, states, views, web_work, workflow
from cityloop.programme.models import VISIONS, Notice, Status, Task
from cityloop.programme.plans import RESPONSIBLE_KINDS, IndicatorInput, MilestoneInput, TaskInput
from cityloop.programme.service import TaskQuery
from cityloop.programme.web_work import chosen_programme, form_files
from cityloop.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)
router.include_router(web_work.router)
PAGE = 100


def _error_page(request: Request, exc: AppError) -> str:
    return exc.message(request_locale(request))


async def upload_all(db: Session, me: Principal, files: list[UploadFile], **target: Any) -> list[int]:
    """Store the files a form sent (browsers send an empty part when none was chosen)."""
    ids = []
    for f in files:
        data = await f.read()
        if not f.filename and not data:
            continue
        saved = ev.upload(
            db, principal=me, filename=f.filename or "", data=data, content_type=f.content_type, **target
        )
        ids.append(saved.id)
    return ids


# --- overview and battle map ----------------------------------------------------------------------


@router.get("/programme", response_class=HTMLResponse)
def overview(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(perm.READ)
    programme = chosen_programme(request, db)
    actions = service.list_actions(db, programme=programme)
    return render(
        request,
        "programme/overview.html",
        programme=programme,
        actions=actions,
        can_manage=me.can(perm.MANAGE),
    )


@router.get("/programme/map", response_class=HTMLResponse)
def battle_map(
    request: Request, me: PageUser, db: DB, action: str = "", unit: str = "", status: str = ""
) -> HTMLResponse:
    me.require(perm.READ)
    programme = chosen_programme(request, db)
    return render(
        request,
        "programme/map.html",
        programme=programme,
        actions=service.list_actions(db, programme=programme),
        statuses=list(Status),
        f={"action": action, "unit": unit, "status": status},
    )


# --- actions --------------------------------------------------------------------------------------


@router.get("/programme/actions/new", response_class=HTMLResponse)
def new_action(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(perm.MANAGE)
    return _action_form(request, db, values={})


def _action_form(
    request: Request, db: DB, *, values: dict[str, Any], error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    units = db.execute(
        select(Unit).where(Unit.kind.in_(["department", "special_taskforce"])).order_by(Unit.sort_order)
    ).scalars()
    leaders = db.execute(
        select(Person).join(Unit, Unit.id == Person.unit_id).where(Unit.kind == UnitKind.leadership)
    ).scalars()
    return render(
        request,
        "programme/action_form.html",
        status_code=status_code,
        v=values,
        error=error,
        units=list(units),
        leaders=list(leaders),
        visions=VISIONS,
        checklists=service.list_checklists(db),
    )


@router.post("/programme/actions", response_class=HTMLResponse)
def create_action(
    request: Request,
    me: PageUser,
    db: DB,
    code: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    lead_unit: Annotated[str, Form()] = "",
    taskforce_unit: Annotated[str, Form()] = "",
    lead_leader: Annotated[str, Form()] = "",
    visions: Annotated[list[str] | None, Form()] = None,
    checklists: Annotated[list[str] | None, Form()] = None,
    description: Annotated[str, Form()] = "",
) -> Response:
    me.require(perm.MANAGE)
    values = {
        "code": code,
        "name": name,
        "lead_unit": lead_unit,
        "taskforce_unit": taskforce_unit,
        "lead_leader": lead_leader,
        "visions": visions or [],
        "checklists": checklists or [],
        "description": description,
    }
    try:
        data = service.ActionInput(
            code=code.strip(),
            name=name,
            lead_unit=org.find_unit(db, ref=lead_unit) if lead_unit else None,
            taskforce_unit=org.find_unit(db, ref=taskforce_unit) if taskforce_unit else None,
            lead_leader=service.find_person(db, ref=lead_leader) if lead_leader else None,
            visions=visions or [],
            checklists=[service.find_checklist(db, code=c) for c in checklists or []],
            description=description or None,
        )
        action = service.create_action(db, actor=me, programme=chosen_programme(request, db), data=data)
        db.commit()
    except AppError as exc:
        db.rollback()
        return _action_form(
            request, db, values=values, error=_error_page(request, exc), status_code=exc.status_code
        )
    return RedirectResponse(f"/programme/actions/{action.id}?saved=1", status_code=303)


@router.get("/programme/actions/{action_id}", response_class=HTMLResponse)
def action_page(action_id: Id, request: Request, me: PageUser, db: DB) -> HTMLResponse:
    action = service.get_action(db, principal=me, action_id=action_id)
    tasks, total = service.list_tasks(db, principal=me, query=TaskQuery(action_id=action.id, limit=500))
    return render(
        request,
        "programme/action.html",
        action=action,
        units=service.action_units(db, action=action),
        checklists=service.action_checklists(db, action=action),
        tasks=tasks,
        total=total,
        can_plan=me.can(perm.PLAN) and perm.leads(me, action),
    )


# --- the task ledger ------------------------------------------------------------------------------


@router.get("/programme/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request,
    me: PageUser,
    db: DB,
    action: str = "",
    unit: str = "",
    status: str = "",
    q: str = "",
    page: Page = 1,
) -> HTMLResponse:
    me.require(perm.READ)
    programme = chosen_programme(request, db)
    query = TaskQuery(
        programme_id=programme.id,
        status=status or None,
        q=q or None,
        limit=PAGE,
        offset=PAGE * (max(page, 1) - 1),
    )
    if action:
        query.action_id = service.find_action(db, programme=programme, ref=action).id
    if unit:
        query.unit_path = org.find_unit(db, ref=unit).path
    tasks, total = service.list_tasks(db, principal=me, query=query)
    return render(
        request,
        "programme/tasks.html",
        programme=programme,
        actions=service.list_actions(db, programme=programme),
        tasks=tasks,
        total=total,
        page=max(page, 1),
        pages=max(1, -(-total // PAGE)),
        statuses=list(Status),
        f={"action": action, "unit": unit, "status": status, "q": q},
        can_plan=me.can(perm.PLAN),
    )


@router.get("/programme/tasks/new", response_class=HTMLResponse)
def new_task(request: Request, me: PageUser, db: DB, action: str = "") -> HTMLResponse:
    me.require(perm.PLAN)
    return _task_form(request, me, db, values={"action": action})


def _task_form(
    request: Request,
    me: Principal,
    db: DB,
    *,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    programme = chosen_programme(request, db)
    actions = [a for a in service.list_actions(db, programme=programme) if perm.leads(me, a)]
    units = db.execute(
        select(Unit)
        .where(Unit.kind.in_([k.value for k in RESPONSIBLE_KINDS]))
        .order_by(Unit.sort_order, Unit.id)
    ).scalars()
    rows = values.get("milestones") or [{} for _ in range(4)]
    return render(
        request, "programme/task_form.html", status_code=status_code, v=values, error=error, actions=actions,
        units=[u for u in units if u.kind not in (UnitKind.community,)], ms_rows=rows,
    )  # fmt: skip


def milestone_rows(
    names: list[str], dues: list[str], pcts: list[str], deliverables: list[str]
) -> tuple[list[dict[str, str]], list[MilestoneInput]]:
    """Form rows → milestones; blank rows are skipped, a half-filled row is an error."""
    rows, out = [], []
    for i, name in enumerate(names):
        due = dues[i] if i < len(dues) else ""
        pct = pcts[i] if i < len(pcts) else ""
        deliverable = deliverables[i] if i < len(deliverables) else ""
        rows.append({"name": name, "due_on": due, "planned_pct": pct, "deliverable": deliverable})
        if not (name.strip() or due or pct):
            continue
        try:
            due_on, planned = date.fromisoformat(due), finite(pct)
            if planned is None or not in_years(due_on):
                raise ValueError(pct)
            out.append(MilestoneInput(name, due_on, planned, deliverable or None))
        except ValueError:
            raise ValidationFailed(
                "error.programme.milestone_row", field=f"milestones.{i + 1}", seq=i + 1
            ) from None
    return rows, out


def indicator_lines(text: str) -> list[IndicatorInput]:
    """Further indicators from the form, one per line: 名称|单位|基线|目标 (blank lines skipped)."""
    out = []
    for i, line in enumerate((x for x in text.splitlines() if x.strip()), start=2):
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        try:
            name, unit, baseline, target = parts
            low, high = finite(baseline), finite(target)
            if low is None or high is None:
                raise ValueError(line)
            out.append(IndicatorInput(name, unit, low, high))
        except ValueError:
            raise ValidationFailed("error.programme.indicator_row", field=f"indicators.{i}", seq=i) from None
    return out


def parse_place(text: str, lon: str, lat: str) -> dict[str, Any] | None:
    if text.strip():
        try:
            place = json.loads(text)
            return place if isinstance(place, dict) else {}
        except json.JSONDecodeError:
            raise ValidationFailed("error.programme.place_invalid", field="place") from None
    if lon.strip() and lat.strip():
        try:
            x, y = finite(lon), finite(lat)
            if x is None or y is None:
                raise ValueError(lon)
            return {"type": "Point", "coordinates": [x, y]}
        except ValueError:
            raise ValidationFailed("error.programme.place_invalid", field="place") from None
    return None


@router.post("/programme/tasks", response_class=HTMLResponse)
def create_task(
    request: Request,
    me: PageUser,
    db: DB,
    action: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    target: Annotated[str, Form()] = "",
    indicator: Annotated[str, Form(max_length=80)] = "",
    indicator_unit: Annotated[str, Form(max_length=20)] = "",
    baseline: Annotated[str, Form()] = "",
    target_value: Annotated[str, Form()] = "",
    responsible_unit: Annotated[str, Form()] = "",
    responsible_person: Annotated[str, Form()] = "",
    starts_on: Annotated[str, Form()] = "",
    due_on: Annotated[str, Form()] = "",
    lon: Annotated[str, Form()] = "",
    lat: Annotated[str, Form()] = "",
    place: Annotated[str, Form()] = "",
    site_plan: Annotated[str, Form()] = "",
    ms_name: Annotated[list[str] | None, Form()] = None,
    ms_due: Annotated[list[str] | None, Form()] = None,
    ms_pct: Annotated[list[str] | None, Form()] = None,
    ms_deliverable: Annotated[list[str] | None, Form()] = None,
    more_indicators: Annotated[str, Form()] = "",
) -> Response:
    me.require(perm.PLAN)
    values: dict[str, Any] = {k: v for k, v in locals().items() if isinstance(v, str)}
    try:
        rows, milestones = milestone_rows(ms_name or [], ms_due or [], ms_pct or [], ms_deliverable or [])
        values["milestones"] = rows
        programme = chosen_programme(request, db)
        the_action = service.find_action(db, programme=programme, ref=action or "-")
        unit = org.find_unit(db, ref=responsible_unit or "-")
        data = TaskInput(
            name=name,
            indicator=indicator,
            indicator_unit=indicator_unit,
            baseline=_number(baseline, "baseline"),
            target_value=_number(target_value, "target_value"),
            responsible_unit=unit,
            responsible_person=service.find_person(db, ref=responsible_person or "-", unit=unit),
            starts_on=_day(starts_on, "starts_on"),
            due_on=_day(due_on, "due_on"),
            milestones=milestones,
            target=target or None,
            place=parse_place(place, lon, lat),
            site_plan=site_plan or None,
            indicators=indicator_lines(more_indicators),
        )
        task = service.create_task(db, actor=me, principal=me, action=the_action, data=data)
        db.commit()
    except AppError as exc:
        db.rollback()
        return _task_form(
            request, me, db, values=values, error=_error_page(request, exc), status_code=exc.status_code
        )
    return RedirectResponse(f"/programme/tasks/{task.id}?saved=1", status_code=303)


def _milestone_id(text: str | None) -> int | None:
    if not text:
        return None
    found = parse_id(text)
    if found is None:
        raise ValidationFailed("error.programme.number", field="milestone_id")
    return found


def _number(text: str, field: str) -> float:
    number = finite(text)
    if number is None:
        raise ValidationFailed("error.programme.number", field=field)
    return number


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("error.programme.date", field=field) from None


# --- a task's page and its forms ------------------------------------------------------------------


def task_page(
    request: Request, me: Principal, db: DB, task: Task, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    locale = request_locale(request)
    action = task.action
    notices = (
        db.execute(select(Notice).where(Notice.task_id == task.id).order_by(Notice.issued_at)).scalars().all()
    )
    problems = [views.problem_out(db, p) for p in workflow.task_problems(db, task=task)]
    responsible = perm.responsible_for(me, task.responsible_unit)
    self_check = not perm.district_wide(me) and me.sees_path(task.responsible_unit.path)
    return render(
        request,
        "programme/task.html",
        status_code=status_code,
        task=task,
        action=action,
        error=error,
        reports=views.reports(db, task=task),
        acceptances=views.acceptances(db, task=task),
        timeline=views.timeline(db, task=task, locale=locale),
        problems=problems,
        notices=notices,
        checklists=service.action_checklists(db, action=action),
        allowed=states.allowed(task.state),
        can_report=me.can(perm.REPORT) and responsible,
        can_accept=me.can(perm.ACCEPT) and perm.leads(me, action) and not self_check,
        can_raise=me.can(perm.RAISE) and perm.leads(me, action),
        can_plan=me.can(perm.PLAN) and perm.leads(me, action),
        place_json=json.dumps(task.place, ensure_ascii=False) if task.place else "",
        today=workflow.today(),
    )


@router.get("/programme/tasks/{task_id}", response_class=HTMLResponse)
def task_detail(task_id: Id, request: Request, me: PageUser, db: DB) -> HTMLResponse:
    return task_page(request, me, db, service.get_task(db, principal=me, task_id=task_id))


def _redo(request: Request, me: Principal, db: DB, task_id: Id, exc: AppError) -> HTMLResponse:
    db.rollback()
    task = service.get_task(db, principal=me, task_id=task_id)
    return task_page(request, me, db, task, error=_error_page(request, exc), status_code=exc.status_code)


@router.post("/programme/tasks/{task_id}/report", response_class=HTMLResponse)
async def post_report(
    task_id: Id,
    request: Request,
    me: PageUser,
    db: DB,
    value: Annotated[str, Form()] = "",
    narrative: Annotated[str, Form()] = "",
    milestone_id: Annotated[str, Form()] = "",
) -> Response:
    task = service.get_task(db, principal=me, task_id=task_id)
    try:
        form = await request.form()
        extra = {
            i.seq: _number(str(form.get(f"ind_{i.seq}")), f"indicators.{i.seq}")
            for i in task.extra_indicators
            if str(form.get(f"ind_{i.seq}") or "").strip()
        }
        ids = await upload_all(db, me, await form_files(request), task_id=task.id)
        workflow.report_progress(
            db,
            principal=me,
            task=task,
            value=_number(value, "value"),
            narrative=narrative,
            milestone_id=_milestone_id(milestone_id),
            evidence_ids=ids,
            indicator_values=extra,
        )
        db.commit()
    except AppError as exc:
        return _redo(request, me, db, task_id, exc)
    return RedirectResponse(f"/programme/tasks/{task_id}?saved=1", status_code=303)


@router.post("/programme/tasks/{task_id}/submit", response_class=HTMLResponse)
def post_submit(
    task_id: Id, request: Request, me: PageUser, db: DB, note: Annotated[str, Form()] = ""
) -> Response:
    task = service.get_task(db, principal=me, task_id=task_id)
    try:
        workflow.submit_for_acceptance(db, principal=me, task=task, note=note)
        db.commit()
    except AppError as exc:
        return _redo(request, me, db, task_id, exc)
    return RedirectResponse(f"/programme/tasks/{task_id}?saved=1", status_code=303)


@router.post("/programme/tasks/{task_id}/accept", response_class=HTMLResponse)
async def post_accept(task_id: Id, request: Request, me: PageUser, db: DB) -> Response:
    """The acceptance form: one radio group per checklist item ("r:<checklist>:<item>")."""
    task = service.get_task(db, principal=me, task_id=task_id)
    form = await request.form()
    results = [
        workflow.CheckResult(
            checklist=key.split(":", 2)[1],
            item=key.split(":", 2)[2],
            result=str(value),
            note=str(form.get(f"n:{key[2:]}", "")) or None,
        )
        for key, value in form.multi_items()
        if key.startswith("r:")
    ]
    try:
        ids = await upload_all(db, me, await form_files(request), task_id=task.id)
        workflow.accept(
            db,
            principal=me,
            task=task,
            passed=form.get("verdict") == "pass",
            results=results,
            evidence_ids=ids,
            comment=str(form.get("comment", "")),
        )
        db.commit()
    except AppError as exc:
        return _redo(request, me, db, task_id, exc)
    return RedirectResponse(f"/programme/tasks/{task_id}?saved=1", status_code=303)


@router.post("/programme/tasks/{task_id}/milestones", response_class=HTMLResponse)
def post_replan(
    task_id: Id,
    request: Request,
    me: PageUser,
    db: DB,
    version: Annotated[Int, Form()] = 0,
    due_on: Annotated[str, Form()] = "",
    ms_name: Annotated[list[str] | None, Form()] = None,
    ms_due: Annotated[list[str] | None, Form()] = None,
    ms_pct: Annotated[list[str] | None, Form()] = None,
    ms_deliverable: Annotated[list[str] | None, Form()] = None,
) -> Response:
    task = service.get_task(db, principal=me, task_id=task_id)
    try:
        _, milestones = milestone_rows(ms_name or [], ms_due or [], ms_pct or [], ms_deliverable or [])
        service.replan(
            db,
            actor=me,
            principal=me,
            task=task,
            milestones=milestones,
            due_on=_day(due_on, "due_on") if due_on else None,
            expected_version=version,
        )
        db.commit()
    except AppError as exc:
        return _redo(request, me, db, task_id, exc)
    return RedirectResponse(f"/programme/tasks/{task_id}?saved=1", status_code=303)


@router.post("/programme/tasks/{task_id}/problems", response_class=HTMLResponse)
def post_problem(
    task_id: Id,
    request: Request,
    me: PageUser,
    db: DB,
    title: Annotated[str, Form(max_length=200)] = "",
    deadline: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "inspection",
    description: Annotated[str, Form()] = "",
) -> Response:
    task = service.get_task(db, principal=me, task_id=task_id)
    try:
        problem = workflow.raise_problem(
            db,
            principal=me,
            task=task,
            title=title,
            deadline=_day(deadline, "deadline"),
            source=source,
            description=description or None,
        )
        db.commit()
    except AppError as exc:
        return _redo(request, me, db, task_id, exc)
    return RedirectResponse(f"/programme/problems/{problem.id}?saved=1", status_code=303)
