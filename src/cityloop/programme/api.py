"""JSON API for the programme: /api/v1/programme/… (programmes, actions, tasks, the workflow).

Every route checks the role's permission and the row's scope; write routes commit at their end.
The battle map, evaluation, ledgers and reports are in ``api_views.py``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy import select

from cityloop.core.errors import Forbidden, NotFound, ValidationFailed
from cityloop.core.http import DB, CurrentPrincipal, Locale
from cityloop.core.permissions import Principal
from cityloop.core.schemas import API_ERRORS
from cityloop.core.validation import Id, Int, Offset
from cityloop.org import service as org
from cityloop.org.models import Unit
from cityloop.programme import evidence as ev
from cityloop.programme import permissions as perm
from cityloop.programme import service, views, workflow
from cityloop.programme.models import Evidence, Notice, Problem
from cityloop.programme.plans import IndicatorInput, MilestoneInput, TaskInput
from cityloop.programme.schemas import (
    AcceptanceIn,
    AcceptanceOut,
    ActionCreate,
    ActionOut,
    ChecklistCreate,
    ChecklistOut,
    CloseIn,
    EvidenceOut,
    IndicatorIn,
    MilestoneIn,
    NoticeOut,
    ProblemCreate,
    ProblemOut,
    ProgrammeCreate,
    ProgrammeOut,
    RectifyIn,
    ReplanIn,
    ReplyIn,
    ReportIn,
    ReportOut,
    SettingsUpdate,
    SubmitIn,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskUpdate,
    TimelineItem,
)
from cityloop.programme.service import TaskQuery

ERRORS = API_ERRORS  # one map for every router (core.schemas)
router = APIRouter(prefix="/api/v1/programme", tags=["programme"], responses=ERRORS)


# --- programmes, checklists, actions --------------------------------------------------------------


@router.get("/programmes", response_model=list[ProgrammeOut])
def list_programmes(db: DB, principal: CurrentPrincipal) -> list[ProgrammeOut]:
    principal.require(perm.READ)
    return [ProgrammeOut.model_validate(p) for p in service.list_programmes(db)]


@router.post("/programmes", response_model=ProgrammeOut, status_code=201)
def create_programme(body: ProgrammeCreate, db: DB, principal: CurrentPrincipal) -> ProgrammeOut:
    principal.require(perm.MANAGE)
    owner = org.find_unit(db, ref="gtf") if _has_unit(db, "gtf") else org.district_root(db)
    programme = service.create_programme(
        db, actor=principal, code=body.code, name=body.name, year=body.year, owner=owner, name_en=body.name_en
    )
    db.commit()
    return ProgrammeOut.model_validate(programme)


def _has_unit(db: DB, code: str) -> bool:
    return db.execute(select(Unit.id).where(Unit.code == code)).first() is not None


@router.patch("/programmes/{code}/settings", response_model=ProgrammeOut)
def update_settings(code: str, body: SettingsUpdate, db: DB, principal: CurrentPrincipal) -> ProgrammeOut:
    """Supervision margins and evaluation weights (data the office edits)."""
    principal.require(perm.MANAGE)
    programme = service.get_programme(db, ref=code)
    service.update_settings(
        db, actor=principal, programme=programme, supervision=body.supervision, weights=body.weights
    )
    db.commit()
    return ProgrammeOut.model_validate(programme)


@router.get("/checklists", response_model=list[ChecklistOut])
def list_checklists(db: DB, principal: CurrentPrincipal) -> list[ChecklistOut]:
    principal.require(perm.READ)
    return [ChecklistOut.model_validate(c) for c in service.list_checklists(db)]


@router.post("/checklists", response_model=ChecklistOut, status_code=201)
def create_checklist(body: ChecklistCreate, db: DB, principal: CurrentPrincipal) -> ChecklistOut:
    principal.require(perm.MANAGE)
    checklist = service.create_checklist(
        db, actor=principal, code=body.code, name=body.name, items=body.items, source=body.source
    )
    db.commit()
    return ChecklistOut.model_validate(checklist)


@router.get("/actions", response_model=list[ActionOut])
def list_actions(db: DB, principal: CurrentPrincipal, programme: str | None = None) -> list[ActionOut]:
    """The programme's actions (every programme role sees the list; tasks inside are scoped)."""
    principal.require(perm.READ)
    prog = service.get_programme(db, ref=programme)
    return [views.action_out(db, a) for a in service.list_actions(db, programme=prog)]


@router.get("/actions/{action_id}", response_model=ActionOut)
def get_action(action_id: Id, db: DB, principal: CurrentPrincipal) -> ActionOut:
    return views.action_out(db, service.get_action(db, principal=principal, action_id=action_id))


@router.post("/actions", response_model=ActionOut, status_code=201)
def create_action(body: ActionCreate, db: DB, principal: CurrentPrincipal) -> ActionOut:
    principal.require(perm.MANAGE)
    programme = service.get_programme(db, ref=body.programme)
    data = service.ActionInput(
        code=body.code,
        name=body.name,
        lead_unit=org.find_unit(db, ref=body.lead_unit) if body.lead_unit else None,
        taskforce_unit=org.find_unit(db, ref=body.taskforce_unit) if body.taskforce_unit else None,
        lead_leader=service.find_person(db, ref=str(body.lead_leader)) if body.lead_leader else None,
        visions=body.visions,
        co_units=[org.find_unit(db, ref=c) for c in body.co_units],
        local_units=[org.find_unit(db, ref=c) for c in body.local_units],
        checklists=[service.find_checklist(db, code=c) for c in body.checklists],
        name_en=body.name_en,
        description=body.description,
        seq=body.seq,
    )
    action = service.create_action(db, actor=principal, programme=programme, data=data)
    db.commit()
    return views.action_out(db, action)


# --- tasks ----------------------------------------------------------------------------------------


def task_query(
    db: DB,
    principal: Principal,
    *,
    programme: str | None,
    action: str | None,
    unit: str | None,
    status: str | None,
    state: str | None = None,
    q: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> TaskQuery:
    """Filters from query parameters; a unit filter outside the caller's scope finds nothing."""
    prog = service.get_programme(db, ref=programme)
    query = TaskQuery(
        programme_id=prog.id,
        status=status or None,
        state=state or None,
        q=q or None,
        limit=limit,
        offset=offset,
    )
    if action:
        query.action_id = service.find_action(db, programme=prog, ref=action).id
    if unit:
        query.unit_path = org.find_unit(db, ref=unit).path
    return query


@router.get("/tasks", response_model=TaskPage)
def list_tasks(
    db: DB,
    principal: CurrentPrincipal,
    programme: str | None = None,
    action: str | None = None,
    unit: str | None = Query(None, description="responsible unit code (and everything below it)"),
    status: str | None = Query(None, description="green, yellow, red or done"),
    state: str | None = None,
    q: str | None = None,
    limit: Annotated[Int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> TaskPage:
    query = task_query(
        db,
        principal,
        programme=programme,
        action=action,
        unit=unit,
        status=status,
        state=state,
        q=q,
        limit=limit,
        offset=offset,
    )
    tasks, total = service.list_tasks(db, principal=principal, query=query)
    return TaskPage(total=total, items=[views.task_out(t) for t in tasks])


@router.post("/tasks", response_model=TaskOut, status_code=201)
def create_task(body: TaskCreate, db: DB, principal: CurrentPrincipal) -> TaskOut:
    principal.require(perm.PLAN)
    programme = service.get_programme(db)
    action = service.find_action(db, programme=programme, ref=body.action)
    unit = org.find_unit(db, ref=body.responsible_unit)
    data = TaskInput(
        code=body.code,
        name=body.name,
        target=body.target,
        indicator=body.indicator,
        indicator_unit=body.indicator_unit,
        baseline=body.baseline,
        target_value=body.target_value,
        responsible_unit=unit,
        responsible_person=service.find_person(db, ref=body.responsible_person, unit=unit),
        starts_on=body.starts_on,
        due_on=body.due_on,
        milestones=[_ms(m) for m in body.milestones],
        place=body.place,
        site_plan=body.site_plan,
        indicators=[_ind(i) for i in body.indicators],
    )
    task = service.create_task(db, actor=principal, principal=principal, action=action, data=data)
    db.commit()
    return views.task_out(task)


def _ind(i: IndicatorIn) -> IndicatorInput:
    return IndicatorInput(name=i.name, unit=i.unit, baseline=i.baseline, target_value=i.target_value)


def _ms(m: MilestoneIn) -> MilestoneInput:
    return MilestoneInput(name=m.name, due_on=m.due_on, planned_pct=m.planned_pct, deliverable=m.deliverable)


@router.get("/tasks/{task_id}", response_model=TaskOut)
def get_task(task_id: Id, db: DB, principal: CurrentPrincipal) -> TaskOut:
    return views.task_out(service.get_task(db, principal=principal, task_id=task_id))


@router.patch("/tasks/{task_id}", response_model=TaskOut)
def update_task(task_id: Id, body: TaskUpdate, db: DB, principal: CurrentPrincipal) -> TaskOut:
    """Edit a task's plan (only the fields sent); the lead of the action only; audited."""
    task = service.get_task(db, principal=principal, task_id=task_id)
    sent = body.model_dump(exclude_unset=True, exclude={"version"})
    changes: dict[str, Any] = {}
    for key, value in sent.items():
        if value is None and key not in ("target", "place", "site_plan"):
            raise ValidationFailed("error.required_field", field=key)
        changes[key] = value
    if "responsible_unit" in changes:
        changes["responsible_unit"] = org.find_unit(db, ref=changes["responsible_unit"])
    if "responsible_person" in changes:
        unit = changes.get("responsible_unit", task.responsible_unit)
        changes["responsible_person"] = service.find_person(db, ref=changes["responsible_person"], unit=unit)
    if "indicators" in changes:
        changes["indicators"] = [_ind(i) for i in body.indicators or []]
    service.update_task(
        db, actor=principal, principal=principal, task=task, changes=changes, expected_version=body.version
    )
    db.commit()
    return views.task_out(task)


@router.put("/tasks/{task_id}/milestones", response_model=TaskOut)
def replan(task_id: Id, body: ReplanIn, db: DB, principal: CurrentPrincipal) -> TaskOut:
    """Replace the milestones not yet done (dates must run forward inside the task's span)."""
    task = service.get_task(db, principal=principal, task_id=task_id)
    service.replan(
        db,
        actor=principal,
        principal=principal,
        task=task,
        milestones=[_ms(m) for m in body.milestones],
        due_on=body.due_on,
        expected_version=body.version,
    )
    db.commit()
    return views.task_out(task)


@router.get("/tasks/{task_id}/timeline", response_model=list[TimelineItem])
def task_timeline(task_id: Id, db: DB, principal: CurrentPrincipal, locale: Locale) -> list[TimelineItem]:
    task = service.get_task(db, principal=principal, task_id=task_id)
    return views.timeline(db, task=task, locale=locale)


@router.get("/tasks/{task_id}/reports", response_model=list[ReportOut])
def list_reports(task_id: Id, db: DB, principal: CurrentPrincipal) -> list[ReportOut]:
    return views.reports(db, task=service.get_task(db, principal=principal, task_id=task_id))


@router.post("/tasks/{task_id}/reports", response_model=ReportOut, status_code=201)
def report_progress(task_id: Id, body: ReportIn, db: DB, principal: CurrentPrincipal) -> ReportOut:
    task = service.get_task(db, principal=principal, task_id=task_id)
    report = workflow.report_progress(
        db,
        principal=principal,
        task=task,
        value=body.value,
        narrative=body.narrative,
        milestone_id=body.milestone_id,
        evidence_ids=body.evidence,
        indicator_values=body.indicators,
    )
    db.commit()
    return next(r for r in views.reports(db, task=task) if r.id == report.id)


@router.post("/tasks/{task_id}/submit", response_model=TaskOut)
def submit(task_id: Id, body: SubmitIn, db: DB, principal: CurrentPrincipal) -> TaskOut:
    task = service.get_task(db, principal=principal, task_id=task_id)
    workflow.submit_for_acceptance(db, principal=principal, task=task, note=body.note or "")
    db.commit()
    return views.task_out(task)


@router.get("/tasks/{task_id}/acceptances", response_model=list[AcceptanceOut])
def list_acceptances(task_id: Id, db: DB, principal: CurrentPrincipal) -> list[AcceptanceOut]:
    return views.acceptances(db, task=service.get_task(db, principal=principal, task_id=task_id))


@router.post("/tasks/{task_id}/acceptance", response_model=AcceptanceOut, status_code=201)
def accept(task_id: Id, body: AcceptanceIn, db: DB, principal: CurrentPrincipal) -> AcceptanceOut:
    task = service.get_task(db, principal=principal, task_id=task_id)
    acceptance = workflow.accept(
        db,
        principal=principal,
        task=task,
        passed=body.passed,
        results=[workflow.CheckResult(r.checklist, r.item, r.result, r.note) for r in body.results],
        evidence_ids=body.evidence,
        comment=body.comment,
    )
    db.commit()
    return next(a for a in views.acceptances(db, task=task) if a.id == acceptance.id)


# --- evidence -------------------------------------------------------------------------------------


@router.post("/evidence", response_model=EvidenceOut, status_code=201)
async def upload_evidence(
    db: DB,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File()],
    task_id: Annotated[Id | None, Form()] = None,
    problem_id: Annotated[Id | None, Form()] = None,
) -> EvidenceOut:
    """Upload one file for a task or a problem in your scope; then name its id in a report,
    an acceptance, a rectification or a 销号."""
    if not any(principal.can(p) for p in (perm.REPORT, perm.ACCEPT, perm.CLOSE)):
        raise Forbidden("error.forbidden_permission", permission=perm.REPORT)
    data = await file.read()
    target_task, target_problem = _evidence_target(db, principal, task_id, problem_id)
    saved = ev.upload(
        db,
        principal=principal,
        filename=file.filename or "",
        data=data,
        content_type=file.content_type,
        task_id=target_task,
        problem_id=target_problem,
    )
    db.commit()
    return views.evidence_out(saved)


def _evidence_target(
    db: DB, principal: Principal, task_id: int | None, problem_id: int | None
) -> tuple[int | None, int | None]:
    if problem_id is not None:
        return None, workflow.get_problem(db, principal=principal, problem_id=problem_id).id
    if task_id is not None:
        return service.get_task(db, principal=principal, task_id=task_id).id, None
    from cityloop.core.errors import ValidationFailed

    raise ValidationFailed("error.programme.evidence_target", field="task_id")


@router.get("/evidence/{evidence_id}")
def download_evidence(evidence_id: Id, db: DB, principal: CurrentPrincipal) -> Response:
    item = db.get(Evidence, evidence_id)
    if item is None:
        raise NotFound("error.programme.evidence_not_found", ref=evidence_id)
    if item.problem_id is not None:
        workflow.get_problem(db, principal=principal, problem_id=item.problem_id)
    elif item.task_id is not None:
        service.get_task(db, principal=principal, task_id=item.task_id)
    disposition = "inline" if item.content_type in ev.INLINE_TYPES else "attachment"
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(item.filename)}",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(ev.content(db, evidence=item), media_type=item.content_type, headers=headers)


# --- problems and notices -------------------------------------------------------------------------


@router.get("/problems", response_model=list[ProblemOut])
def list_problems(
    db: DB,
    principal: CurrentPrincipal,
    state: str | None = None,
    action: str | None = None,
    limit: Annotated[Int, Query(ge=1, le=2000)] = 500,
) -> list[ProblemOut]:
    principal.require(perm.READ)
    stmt = select(Problem)
    scope = perm.problem_filter(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    if state:
        stmt = stmt.where(Problem.state == state)
    if action:
        stmt = stmt.where(
            Problem.action_id == service.find_action(db, programme=service.get_programme(db), ref=action).id
        )
    rows = db.execute(stmt.order_by(Problem.id.desc()).limit(limit)).scalars().all()
    return [views.problem_out(db, p, with_evidence=False) for p in rows]


@router.post("/problems", response_model=ProblemOut, status_code=201)
def raise_problem(body: ProblemCreate, db: DB, principal: CurrentPrincipal) -> ProblemOut:
    principal.require(perm.RAISE)
    task = service.get_task(db, principal=principal, task_id=body.task_id)
    unit = org.find_unit(db, ref=body.responsible_unit) if body.responsible_unit else None
    problem = workflow.raise_problem(
        db,
        principal=principal,
        task=task,
        title=body.title,
        deadline=body.deadline,
        source=body.source,
        description=body.description,
        responsible_unit=unit,
    )
    db.commit()
    return views.problem_out(db, problem)


@router.get("/problems/{problem_id}", response_model=ProblemOut)
def get_problem(problem_id: Id, db: DB, principal: CurrentPrincipal) -> ProblemOut:
    return views.problem_out(db, workflow.get_problem(db, principal=principal, problem_id=problem_id))


@router.post("/problems/{problem_id}/rectify", response_model=ProblemOut)
def rectify(problem_id: Id, body: RectifyIn, db: DB, principal: CurrentPrincipal) -> ProblemOut:
    problem = workflow.get_problem(db, principal=principal, problem_id=problem_id)
    workflow.rectify(
        db, principal=principal, problem=problem, rectification=body.rectification, evidence_ids=body.evidence
    )
    db.commit()
    return views.problem_out(db, problem)


@router.post("/problems/{problem_id}/close", response_model=ProblemOut)
def close_problem(problem_id: Id, body: CloseIn, db: DB, principal: CurrentPrincipal) -> ProblemOut:
    """销号: refused without evidence on file, and for the responsible unit itself."""
    problem = workflow.get_problem(db, principal=principal, problem_id=problem_id)
    workflow.close_problem(
        db, principal=principal, problem=problem, evidence_ids=body.evidence, note=body.note
    )
    db.commit()
    return views.problem_out(db, problem)


@router.get("/notices", response_model=list[NoticeOut])
def list_notices(
    db: DB,
    principal: CurrentPrincipal,
    state: str | None = None,
    min_level: Annotated[Int, Query(ge=0, le=2)] = 0,
    limit: Annotated[Int, Query(ge=1, le=2000)] = 500,
) -> list[NoticeOut]:
    principal.require(perm.READ)
    stmt = select(Notice).where(Notice.level >= min_level)
    scope = perm.notice_filter(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    if state:
        stmt = stmt.where(Notice.state == state)
    rows = db.execute(stmt.order_by(Notice.reply_due_at).limit(limit)).scalars().all()
    return [views.notice_out(n) for n in rows]


@router.post("/notices/{notice_id}/reply", response_model=NoticeOut)
def reply_notice(notice_id: Id, body: ReplyIn, db: DB, principal: CurrentPrincipal) -> NoticeOut:
    notice = workflow.get_notice(db, principal=principal, notice_id=notice_id)
    workflow.reply_notice(db, principal=principal, notice=notice, reply=body.reply)
    db.commit()
    return views.notice_out(notice)
