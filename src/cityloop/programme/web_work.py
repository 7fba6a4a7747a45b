"""Pages: the problem ledger (销号), supervision notices, evaluation (红黑榜), the weekly report,
ledger import and the programme's settings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from cityloop.core.errors import AppError, NotFound, ValidationFailed
from cityloop.core.http import DB, request_locale
from cityloop.core.validation import Id, finite
from cityloop.programme import evaluation, ledger, reports, service, views, workflow
from cityloop.programme import evidence as ev
from cityloop.programme import permissions as perm
from cityloop.programme.models import Notice, Problem, ProblemState, Programme
from cityloop.web.pages import PageUser, render

router = APIRouter(include_in_schema=False)


async def form_files(request: Request, name: str = "files") -> list[UploadFile]:
    """The files of a multipart form field. Read from the form itself: a file input left empty
    arrives as an empty text part, which a typed ``list[UploadFile]`` parameter would refuse."""
    form = await request.form()
    return [f for f in form.getlist(name) if isinstance(f, UploadFile)]


# --- the programme shown (switcher) ---------------------------------------------------------------


def chosen_programme(request: Request, db: DB) -> Programme:
    """The programme the pages show: ``?programme=CODE`` (remembered in the session), else the one
    remembered, else the current iteration. The switcher on every programme page sets it."""
    ref = request.query_params.get("programme")
    programme = None
    if ref:
        programme = service.get_programme(db, ref=ref)  # unknown code: 404
        request.session["programme"] = programme.code
    elif request.session.get("programme"):
        try:
            programme = service.get_programme(db, ref=str(request.session["programme"]))
        except NotFound:
            request.session.pop("programme", None)
    if programme is None:
        programme = service.get_programme(db)
    request.state.programme = programme
    request.state.programmes = service.list_programmes(db)
    return programme


# --- problems -------------------------------------------------------------------------------------


@router.get("/programme/problems", response_class=HTMLResponse)
def problems_page(request: Request, me: PageUser, db: DB, state: str = "", action: str = "") -> HTMLResponse:
    me.require(perm.READ)
    programme = chosen_programme(request, db)
    stmt = select(Problem).where(Problem.programme_id == programme.id)
    scope = perm.problem_filter(me)
    if scope is not None:
        stmt = stmt.where(scope)
    if state:
        stmt = stmt.where(Problem.state == state)
    if action:
        stmt = stmt.where(Problem.action_id == service.find_action(db, programme=programme, ref=action).id)
    rows = db.execute(stmt.order_by(Problem.state, Problem.deadline).limit(1000)).scalars().all()
    return render(
        request,
        "programme/problems.html",
        problems=rows,
        states=list(ProblemState),
        actions=service.list_actions(db, programme=programme),
        f={"state": state, "action": action},
        today=workflow.today(),
    )


def _problem_page(
    request: Request, me: Any, db: DB, problem: Problem, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "programme/problem.html",
        status_code=status_code,
        p=views.problem_out(db, problem),
        problem=problem,
        error=error,
        can_rectify=me.can(perm.REPORT)
        and perm.responsible_for(me, problem.responsible_unit)
        and problem.state == ProblemState.open,
        can_close=me.can(perm.CLOSE)
        and perm.leads(me, problem.action)
        and problem.state != ProblemState.closed
        and (perm.district_wide(me) or not me.unit_path.startswith(problem.responsible_unit.path)),
    )


@router.get("/programme/problems/{problem_id}", response_class=HTMLResponse)
def problem_page(problem_id: Id, request: Request, me: PageUser, db: DB) -> HTMLResponse:
    return _problem_page(request, me, db, workflow.get_problem(db, principal=me, problem_id=problem_id))


async def _files(db: DB, me: Any, request: Request, problem: Problem) -> list[int]:
    ids = []
    for f in await form_files(request):
        data = await f.read()
        if f.filename or data:
            ids.append(
                ev.upload(
                    db,
                    principal=me,
                    filename=f.filename or "",
                    data=data,
                    content_type=f.content_type,
                    problem_id=problem.id,
                ).id
            )
    return ids


@router.post("/programme/problems/{problem_id}/rectify", response_class=HTMLResponse)
async def post_rectify(
    problem_id: Id,
    request: Request,
    me: PageUser,
    db: DB,
    rectification: Annotated[str, Form()] = "",
) -> Response:
    problem = workflow.get_problem(db, principal=me, problem_id=problem_id)
    try:
        ids = await _files(db, me, request, problem)
        workflow.rectify(db, principal=me, problem=problem, rectification=rectification, evidence_ids=ids)
        db.commit()
    except AppError as exc:
        return _redo(request, me, db, problem_id, exc)
    return RedirectResponse(f"/programme/problems/{problem_id}?saved=1", status_code=303)


@router.post("/programme/problems/{problem_id}/close", response_class=HTMLResponse)
async def post_close(
    problem_id: Id,
    request: Request,
    me: PageUser,
    db: DB,
    note: Annotated[str, Form()] = "",
) -> Response:
    problem = workflow.get_problem(db, principal=me, problem_id=problem_id)
    try:
        ids = await _files(db, me, request, problem)
        workflow.close_problem(db, principal=me, problem=problem, evidence_ids=ids, note=note or None)
        db.commit()
    except AppError as exc:
        return _redo(request, me, db, problem_id, exc)
    return RedirectResponse(f"/programme/problems/{problem_id}?saved=1", status_code=303)


def _redo(request: Request, me: Any, db: DB, problem_id: Id, exc: AppError) -> HTMLResponse:
    db.rollback()
    problem = workflow.get_problem(db, principal=me, problem_id=problem_id)
    return _problem_page(
        request, me, db, problem, error=exc.message(request_locale(request)), status_code=exc.status_code
    )


# --- notices --------------------------------------------------------------------------------------


@router.get("/programme/notices", response_class=HTMLResponse)
def notices_page(
    request: Request, me: PageUser, db: DB, state: str = "open", error: str = ""
) -> HTMLResponse:
    me.require(perm.READ)
    stmt = select(Notice)
    scope = perm.notice_filter(me)
    if scope is not None:
        stmt = stmt.where(scope)
    if state:
        stmt = stmt.where(Notice.state == state)
    rows = db.execute(stmt.order_by(Notice.level.desc(), Notice.reply_due_at).limit(500)).scalars().all()
    can_reply = {
        n.id
        for n in rows
        if me.can(perm.REPORT) and perm.responsible_for(me, n.to_unit) and n.state == "open"
    }
    return render(
        request, "programme/notices.html", notices=rows, state=state, can_reply=can_reply, error=error or None
    )


@router.post("/programme/notices/{notice_id}/reply", response_class=HTMLResponse)
def post_reply(
    notice_id: Id, request: Request, me: PageUser, db: DB, reply: Annotated[str, Form()] = ""
) -> Response:
    notice = workflow.get_notice(db, principal=me, notice_id=notice_id)
    try:
        workflow.reply_notice(db, principal=me, notice=notice, reply=reply)
        db.commit()
    except AppError as exc:
        db.rollback()
        page = notices_page(request, me, db, state="open", error=exc.message(request_locale(request)))
        page.status_code = exc.status_code
        return page
    return RedirectResponse("/programme/notices?state=open&saved=1", status_code=303)


# --- evaluation and the weekly report -------------------------------------------------------------


@router.get("/programme/evaluation", response_class=HTMLResponse)
def evaluation_page(request: Request, me: PageUser, db: DB, month: str = "") -> HTMLResponse:
    me.require(perm.READ)
    programme = chosen_programme(request, db)
    result = evaluation.evaluate(db, programme=programme, month=month or None, today=workflow.today())
    months = [f"{programme.year}-{m:02d}" for m in range(1, 13)]
    return render(request, "programme/evaluation.html", ev=result, months=months, metrics=evaluation.METRICS)


@router.get("/programme/reports/weekly", response_class=HTMLResponse)
def weekly_page(request: Request, me: PageUser, db: DB, week: str = "") -> HTMLResponse:
    programme = chosen_programme(request, db)
    result = reports.weekly(db, principal=me, programme=programme, week=week or None, today=workflow.today())
    return render(request, "programme/weekly.html", r=result, programme=programme)


# --- ledger import and settings -------------------------------------------------------------------


@router.get("/programme/ledger", response_class=HTMLResponse)
def ledger_page(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(perm.PLAN)
    chosen_programme(request, db)
    return render(request, "programme/ledger.html", errors=[], error=None, result=None)


@router.post("/programme/ledger", response_class=HTMLResponse)
async def ledger_upload(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(perm.PLAN)
    locale = request_locale(request)
    programme = chosen_programme(request, db)
    try:
        files = await form_files(request, "file")
        content = await files[0].read() if files else b""
        if not content:
            raise ValidationFailed("error.programme.import_not_xlsx", field="file")
        result = ledger.import_ledger(db, principal=me, programme=programme, content=content, locale=locale)
        db.commit()
    except AppError as exc:
        db.rollback()
        errors = (exc.details or {}).get("errors", []) if isinstance(exc.details, dict) else []
        return render(
            request,
            "programme/ledger.html",
            status_code=exc.status_code,
            errors=errors,
            error=exc.message(locale),
            result=None,
        )
    return render(request, "programme/ledger.html", errors=[], error=None, result=result)


@router.get("/programme/settings", response_class=HTMLResponse)
def settings_page(request: Request, me: PageUser, db: DB) -> HTMLResponse:
    me.require(perm.MANAGE)
    programme = chosen_programme(request, db)
    return _settings(request, programme, error=None)


def _settings(request: Request, programme: Any, *, error: str | None, status_code: int = 200) -> HTMLResponse:
    return render(
        request,
        "programme/settings.html",
        status_code=status_code,
        programme=programme,
        sup=service.supervision_settings(programme),
        weights=service.evaluation_weights(programme),
        error=error,
    )


@router.post("/programme/settings", response_class=HTMLResponse)
async def post_settings(request: Request, me: PageUser, db: DB) -> Response:
    me.require(perm.MANAGE)
    programme = chosen_programme(request, db)
    form = await request.form()
    try:
        sup = {k: _float(form.get(f"s:{k}"), k) for k in service.DEFAULT_SUPERVISION}
        weights = {k: _float(form.get(f"w:{k}"), k) for k in service.DEFAULT_WEIGHTS}
        service.update_settings(db, actor=me, programme=programme, supervision=sup, weights=weights)
        db.commit()
    except AppError as exc:
        db.rollback()
        programme = chosen_programme(request, db)
        return _settings(
            request, programme, error=exc.message(request_locale(request)), status_code=exc.status_code
        )
    return RedirectResponse("/programme/settings?saved=1", status_code=303)


def _float(value: Any, field: str) -> float:
    number = finite(str(value))
    if number is None:
        raise ValidationFailed("error.programme.setting_range", field=field)
    return number
