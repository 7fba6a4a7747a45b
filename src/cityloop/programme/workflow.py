"""Dispatch and acceptance (过程调度 → 末端验收), the problem ledger (问题销号) and notice replies.

Every function checks the caller's right to act on *this* row (its own responsibility, an action it
leads), validates everything before writing, flushes, and audits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.clock import now, to_display
from cityloop.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.org.models import Unit
from cityloop.programme import evidence as ev
from cityloop.programme import permissions as perm
from cityloop.programme import service, states
from cityloop.programme.models import (
    Acceptance,
    Event,
    Evidence,
    Milestone,
    Notice,
    Problem,
    ProblemState,
    ProgressReport,
    Status,
    Task,
    TaskState,
)

RESULTS = ("ok", "fail", "na")
SOURCES = ("supervision", "inspection", "report")


def today() -> date:
    """The calendar day in the district's zone (deadlines are district days)."""
    shown = to_display(now())
    assert shown is not None
    return shown.date()


def _may_work_on(principal: Principal, task: Task) -> None:
    """Only the responsible unit (or the office) reports, submits and replies for a task."""
    principal.require(perm.REPORT)
    if not perm.responsible_for(principal, task.responsible_unit):
        raise Forbidden("error.programme.not_responsible")


# --- progress reports -----------------------------------------------------------------------------


def progress_of_values(baseline: float, target: float, value: float) -> float:
    """Share of the way from baseline to target, in percent (works for falling targets too)."""
    return round(100.0 * (value - baseline) / (target - baseline), 2)


def progress_of(task: Task, value: float) -> float:
    return progress_of_values(task.baseline, task.target_value, value)


def report_progress(
    session: Session,
    *,
    principal: Principal,
    task: Task,
    value: float,
    narrative: str,
    milestone_id: int | None = None,
    evidence_ids: Sequence[int] = (),
    indicator_values: dict[int, float] | None = None,
) -> ProgressReport:
    _may_work_on(principal, task)
    new_state = states.next_state(task.state, "report")
    low, high = sorted((task.baseline, task.target_value))
    if not (low <= value <= high):
        raise ValidationFailed(
            "error.programme.value_out_of_bounds",
            field="value",
            value=value,
            low=low,
            high=high,
            unit=task.indicator_unit,
        )
    if not narrative.strip():
        raise ValidationFailed("error.required_field", field="narrative")
    extra = _extra_values(task, indicator_values or {})
    pct = progress_of(task, value)
    milestone = _milestone_to_complete(task, milestone_id, pct)
    before = {"state": task.state, "current_value": task.current_value, "progress_pct": task.progress_pct}
    report = ProgressReport(
        task_id=task.id,
        milestone_id=milestone.id if milestone else None,
        reported_at=now(),
        reporter_user_id=principal.user_id,
        reporter_name=principal.display_name,
        value=value,
        progress_pct=pct,
        narrative=narrative.strip(),
        indicator_values={str(seq): v for seq, v in extra.items()} or None,
    )
    session.add(report)
    session.flush()
    ev.claim(session, ids=evidence_ids, owner_type="report", owner_id=report.id, task_id=task.id)
    if milestone is not None:
        milestone.done_on = today()
    task.current_value, task.progress_pct = value, pct
    for ind in task.extra_indicators:
        if ind.seq in extra:
            ind.current_value = extra[ind.seq]
    task.last_report_at = report.reported_at
    task.state = new_state
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="report",
        entity_type="task",
        entity_id=task.id,
        before=before,
        after={
            "state": task.state,
            "current_value": value,
            "progress_pct": pct,
            "report_id": report.id,
            "milestone_done": milestone.seq if milestone else None,
            "evidence": list(evidence_ids),
            "indicator_values": report.indicator_values,
        },
    )
    return report


def _extra_values(task: Task, values: dict[int, float]) -> dict[int, float]:
    """Values of the further indicators (by seq): each known and inside its baseline..target."""
    by_seq = {i.seq: i for i in task.extra_indicators}
    out: dict[int, float] = {}
    for seq, value in values.items():
        ind = by_seq.get(int(seq))
        if ind is None:
            raise ValidationFailed("error.programme.indicator_unknown", field=f"indicators.{seq}", seq=seq)
        low, high = sorted((ind.baseline, ind.target_value))
        if not (low <= value <= high):
            raise ValidationFailed(
                "error.programme.value_out_of_bounds",
                field=f"indicators.{seq}",
                value=value,
                low=low,
                high=high,
                unit=ind.unit,
            )
        out[int(seq)] = float(value)
    return out


def _milestone_to_complete(task: Task, milestone_id: int | None, pct: float) -> Milestone | None:
    if milestone_id is None:
        return None
    milestone = next((m for m in task.milestones if m.id == milestone_id), None)
    if milestone is None:
        raise NotFound("error.programme.milestone_not_found", ref=milestone_id)
    if milestone.done_on is not None:
        raise Conflict("error.programme.milestone_done", seq=milestone.seq)
    if pct + 1e-9 < milestone.planned_pct:
        raise ValidationFailed(
            "error.programme.milestone_not_reached",
            field="milestone_id",
            seq=milestone.seq,
            planned=milestone.planned_pct,
            pct=pct,
        )
    return milestone


def submit_for_acceptance(session: Session, *, principal: Principal, task: Task, note: str = "") -> Task:
    """申请验收: every milestone done and the target reached."""
    _may_work_on(principal, task)
    new_state = states.next_state(task.state, "submit")
    open_ms = [m.seq for m in task.milestones if m.done_on is None]
    if open_ms or task.progress_pct < 100:
        raise ValidationFailed(
            "error.programme.not_ready", seqs=", ".join(map(str, open_ms)) or "-", pct=task.progress_pct
        )
    before = {"state": task.state}
    task.state = new_state
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="submit",
        entity_type="task",
        entity_id=task.id,
        before=before,
        after={"state": task.state},
        note=note or None,
    )
    return task


# --- acceptance -----------------------------------------------------------------------------------


@dataclass
class CheckResult:
    checklist: str
    item: str
    result: str
    note: str | None = None


def accept(
    session: Session,
    *,
    principal: Principal,
    task: Task,
    passed: bool,
    results: Sequence[CheckResult],
    evidence_ids: Sequence[int],
    comment: str | None = None,
) -> Acceptance:
    """末端验收 against the action's checklists. Fail sends the task back to the responsible unit."""
    principal.require(perm.ACCEPT)
    if not perm.leads(principal, task.action):
        raise Forbidden("error.programme.not_lead")
    if not perm.district_wide(principal) and principal.sees_path(task.responsible_unit.path):
        raise Forbidden("error.programme.self_acceptance")
    new_state = states.next_state(task.state, "pass" if passed else "fail")
    answered = _check_results(session, task, results)
    if passed and any(r["result"] == "fail" for r in answered):
        raise ValidationFailed("error.programme.pass_with_failures", field="passed")
    if not passed and not (comment or "").strip():
        raise ValidationFailed("error.programme.fail_needs_comment", field="comment")
    if not evidence_ids:
        raise ValidationFailed("error.programme.evidence_required", field="evidence")
    acceptance = Acceptance(
        task_id=task.id,
        checked_at=now(),
        checker_user_id=principal.user_id,
        checker_name=principal.display_name,
        passed=passed,
        results=answered,
        comment=(comment or "").strip() or None,
    )
    session.add(acceptance)
    session.flush()
    ev.claim(session, ids=evidence_ids, owner_type="acceptance", owner_id=acceptance.id, task_id=task.id)
    before = {"state": task.state, "status": task.status}
    task.state = new_state
    if passed:
        task.status, task.status_reason, task.status_at = Status.done, "accepted", acceptance.checked_at
    else:
        task.returned_count += 1
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="accept" if passed else "reject",
        entity_type="task",
        entity_id=task.id,
        before=before,
        after={"state": task.state, "status": task.status, "acceptance_id": acceptance.id},
        note=acceptance.comment,
    )
    return acceptance


def _check_results(session: Session, task: Task, results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """Every item of every checklist attached to the action answered once with ok/fail/na."""
    given = {(r.checklist, r.item): r for r in results}
    for r in results:
        if r.result not in RESULTS:
            raise ValidationFailed("error.programme.result_invalid", field="results", result=r.result)
    answered: list[dict[str, Any]] = []
    missing: list[str] = []
    for checklist in service.action_checklists(session, action=task.action):
        for item in checklist.items:
            key = (checklist.code, item["code"])
            if key not in given:
                missing.append(f"{checklist.code}/{item['code']}")
                continue
            r = given.pop(key)
            answered.append(
                {
                    "checklist": checklist.code,
                    "item": item["code"],
                    "text": item["text"],
                    "result": r.result,
                    "note": r.note,
                }
            )
    if missing:
        raise ValidationFailed(
            "error.programme.results_missing", details={"missing": missing}, items=", ".join(missing)
        )
    if given:
        unknown = [f"{c}/{i}" for c, i in given]
        raise ValidationFailed("error.programme.results_unknown", items=", ".join(unknown))
    return answered


# --- problems (问题清单, 销号) --------------------------------------------------------------------------


def raise_problem(
    session: Session,
    *,
    principal: Principal,
    task: Task,
    title: str,
    deadline: date,
    source: str = "inspection",
    description: str | None = None,
    responsible_unit: Unit | None = None,
) -> Problem:
    principal.require(perm.RAISE)
    if not perm.leads(principal, task.action):
        raise Forbidden("error.programme.not_lead")
    if source not in SOURCES:
        raise ValidationFailed("error.programme.source_invalid", field="source", source=source)
    if not title.strip():
        raise ValidationFailed("error.required_field", field="title")
    if deadline < today():
        raise ValidationFailed("error.programme.deadline_past", field="deadline")
    unit = responsible_unit or task.responsible_unit
    problem = Problem(
        programme_id=task.programme_id,
        action_id=task.action_id,
        task_id=task.id,
        number=f"pending-{uuid.uuid4().hex}",
        source=source,
        title=title.strip(),
        description=description,
        responsible_unit_id=unit.id,
        deadline=deadline,
        raised_at=now(),
        raised_by_user_id=principal.user_id,
        raiser_name=principal.display_name,
    )
    session.add(problem)
    session.flush()
    # Numbered from the row id: unique without a counter that two writers could race on.
    problem.number = f"WT{task.action.programme.year}-{problem.id:05d}"
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="raise",
        entity_type="problem",
        entity_id=problem.id,
        after=audit.snapshot(problem),
    )
    return problem


def get_problem(session: Session, *, principal: Principal, problem_id: int) -> Problem:
    principal.require(perm.READ)
    stmt = select(Problem).where(Problem.id == problem_id)
    scope = perm.problem_filter(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    problem = session.execute(stmt).scalar_one_or_none()
    if problem is None:
        raise NotFound("error.programme.problem_not_found", ref=problem_id)
    return problem


def rectify(
    session: Session,
    *,
    principal: Principal,
    problem: Problem,
    rectification: str,
    evidence_ids: Sequence[int] = (),
) -> Problem:
    """The responsible unit reports what it did (整改), with evidence if it has it."""
    principal.require(perm.REPORT)
    if not perm.responsible_for(principal, problem.responsible_unit):
        raise Forbidden("error.programme.not_responsible")
    if problem.state != ProblemState.open:
        raise Conflict("error.programme.problem_state", state=problem.state)
    if not rectification.strip():
        raise ValidationFailed("error.required_field", field="rectification")
    ev.claim(session, ids=evidence_ids, owner_type="problem", owner_id=problem.id, problem_id=problem.id)
    before = {"state": problem.state}
    problem.state, problem.rectification, problem.rectified_at = (
        ProblemState.rectified,
        rectification.strip(),
        now(),
    )
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="rectify",
        entity_type="problem",
        entity_id=problem.id,
        before=before,
        after={"state": problem.state, "evidence": list(evidence_ids)},
    )
    return problem


def close_problem(
    session: Session,
    *,
    principal: Principal,
    problem: Problem,
    evidence_ids: Sequence[int] = (),
    note: str | None = None,
) -> Problem:
    """销号: only with evidence on file, approved by someone other than the responsible unit."""
    principal.require(perm.CLOSE)
    if not perm.leads(principal, problem.action):
        raise Forbidden("error.programme.not_lead")
    if not perm.district_wide(principal) and principal.unit_path.startswith(problem.responsible_unit.path):
        raise Forbidden("error.programme.self_approval")
    if problem.state == ProblemState.closed:
        raise Conflict("error.programme.problem_state", state=problem.state)
    ev.claim(session, ids=evidence_ids, owner_type="problem", owner_id=problem.id, problem_id=problem.id)
    on_file = session.scalar(
        select(func.count())
        .select_from(Evidence)
        .where(Evidence.owner_type == "problem", Evidence.owner_id == problem.id)
    )
    if not on_file:
        raise ValidationFailed("error.programme.evidence_required", field="evidence")
    before = {"state": problem.state}
    problem.state, problem.closed_at = ProblemState.closed, now()
    problem.approver_user_id, problem.approver_name = principal.user_id, principal.display_name
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="close",
        entity_type="problem",
        entity_id=problem.id,
        before=before,
        after={"state": problem.state, "approver": principal.display_name, "evidence": on_file},
        note=note,
    )
    return problem


# --- supervision notices: the reply ---------------------------------------------------------------


def get_notice(session: Session, *, principal: Principal, notice_id: int) -> Notice:
    principal.require(perm.READ)
    stmt = select(Notice).where(Notice.id == notice_id)
    scope = perm.notice_filter(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    notice = session.execute(stmt).scalar_one_or_none()
    if notice is None:
        raise NotFound("error.programme.notice_not_found", ref=notice_id)
    return notice


def reply_notice(session: Session, *, principal: Principal, notice: Notice, reply: str) -> Notice:
    principal.require(perm.REPORT)
    if not perm.responsible_for(principal, notice.to_unit):
        raise Forbidden("error.programme.not_responsible")
    if notice.state != "open":
        raise Conflict("error.programme.notice_replied")
    if not reply.strip():
        raise ValidationFailed("error.required_field", field="reply")
    at = now()
    notice.state, notice.reply, notice.replied_at, notice.replier_name = (
        "replied",
        reply.strip(),
        at,
        principal.display_name,
    )
    session.add(
        Event(
            task_id=notice.task_id,
            notice_id=notice.id,
            kind="reply",
            key=f"notice:{notice.id}:reply",
            at=at,
            level=notice.level,
            to_unit_id=notice.to_unit_id,
            detail={"number": notice.number, "by": principal.display_name, "late": at > notice.reply_due_at},
        )
    )
    session.flush()
    audit.record(
        session,
        actor=principal,
        action="reply",
        entity_type="notice",
        entity_id=notice.id,
        before={"state": "open"},
        after={"state": notice.state, "late": at > notice.reply_due_at},
    )
    return notice


def task_problems(session: Session, *, task: Task) -> list[Problem]:
    stmt = select(Problem).where(Problem.task_id == task.id).order_by(Problem.id)
    return list(session.execute(stmt).scalars())


def open_task_state(task: Task) -> bool:
    return task.state != TaskState.accepted
