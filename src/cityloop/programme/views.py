"""Read models shared by the API and the pages: a task with everything that happened to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.clock import to_display
from cityloop.core.i18n import translate
from cityloop.org.models import Person, Unit
from cityloop.programme import evidence as ev
from cityloop.programme import service
from cityloop.programme.models import (
    Acceptance,
    Action,
    Event,
    Evidence,
    Notice,
    Problem,
    ProgressReport,
    Task,
)
from cityloop.programme.schemas import (
    AcceptanceOut,
    ActionOut,
    EvidenceOut,
    IndicatorOut,
    MilestoneOut,
    NoticeOut,
    PersonRef,
    ProblemOut,
    Ref,
    ReportOut,
    TaskOut,
    TimelineItem,
)


def ref(obj: Any) -> Ref:
    return Ref(id=obj.id, code=obj.code, name=obj.name)


def person_ref(person: Person) -> PersonRef:
    return PersonRef(id=person.id, name=person.name, title=person.title)


def action_out(session: Session, action: Action) -> ActionOut:
    units = service.action_units(session, action=action)
    return ActionOut(
        id=action.id,
        code=action.code,
        name=action.name,
        name_en=action.name_en,
        seq=action.seq,
        programme=action.programme.code,
        lead_unit=ref(action.lead_unit),
        taskforce_unit=ref(action.taskforce_unit) if action.taskforce_unit else None,
        lead_leader=person_ref(action.lead_leader) if action.lead_leader else None,
        visions=list(action.visions or []),
        co_units=[u.code for u in units["co"]],
        local_units=[u.code for u in units["local"]],
        checklists=[c.code for c in service.action_checklists(session, action=action)],
        description=action.description,
    )


def task_out(task: Task) -> TaskOut:
    return TaskOut(
        id=task.id,
        code=task.code,
        name=task.name,
        programme_id=task.programme_id,
        action=ref(task.action),
        target=task.target,
        indicator=task.indicator,
        indicator_unit=task.indicator_unit,
        baseline=task.baseline,
        target_value=task.target_value,
        current_value=task.current_value,
        progress_pct=task.progress_pct,
        responsible_unit=ref(task.responsible_unit),
        responsible_person=person_ref(task.responsible_person),
        place=task.place,
        place_kind=task.place_kind,
        lon=task.lon,
        lat=task.lat,
        site_plan=task.site_plan,
        starts_on=task.starts_on,
        due_on=task.due_on,
        state=task.state,
        status=task.status,
        status_reason=task.status_reason,
        last_report_at=task.last_report_at,
        returned_count=task.returned_count,
        version=task.version,
        milestones=[MilestoneOut.model_validate(m) for m in task.milestones],
        indicators=indicators_of(task),
    )


def indicators_of(task: Task) -> list[IndicatorOut]:
    """Every indicator of the task, the main one (on the task row) first as seq 1."""
    main = IndicatorOut(
        seq=1,
        name=task.indicator,
        unit=task.indicator_unit,
        baseline=task.baseline,
        target_value=task.target_value,
        current_value=task.current_value,
    )
    return [main, *(IndicatorOut.model_validate(i) for i in task.extra_indicators)]


def evidence_out(e: Evidence) -> EvidenceOut:
    return EvidenceOut(
        id=e.id,
        filename=e.filename,
        content_type=e.content_type,
        size=e.size,
        sha256=e.sha256,
        uploaded_at=e.uploaded_at,
        uploader_name=e.uploader_name,
        url=f"/api/v1/programme/evidence/{e.id}",
    )


def reports(session: Session, *, task: Task) -> list[ReportOut]:
    rows = list(
        session.execute(
            select(ProgressReport)
            .where(ProgressReport.task_id == task.id)
            .order_by(ProgressReport.reported_at.desc())
        ).scalars()
    )
    files = ev.attached(session, owner_type="report", owner_ids=[r.id for r in rows])
    return [
        ReportOut(
            id=r.id,
            task_id=r.task_id,
            milestone_id=r.milestone_id,
            reported_at=r.reported_at,
            reporter_name=r.reporter_name,
            value=r.value,
            progress_pct=r.progress_pct,
            narrative=r.narrative,
            indicator_values=r.indicator_values,
            evidence=[evidence_out(e) for e in files.get(r.id, [])],
        )
        for r in rows
    ]


def acceptances(session: Session, *, task: Task) -> list[AcceptanceOut]:
    rows = list(
        session.execute(
            select(Acceptance).where(Acceptance.task_id == task.id).order_by(Acceptance.checked_at.desc())
        ).scalars()
    )
    files = ev.attached(session, owner_type="acceptance", owner_ids=[a.id for a in rows])
    return [
        AcceptanceOut(
            id=a.id,
            task_id=a.task_id,
            checked_at=a.checked_at,
            checker_name=a.checker_name,
            passed=a.passed,
            results=a.results,
            comment=a.comment,
            evidence=[evidence_out(e) for e in files.get(a.id, [])],
        )
        for a in rows
    ]


def problem_out(session: Session, problem: Problem, *, with_evidence: bool = True) -> ProblemOut:
    files = ev.attached(session, owner_type="problem", owner_ids=[problem.id]) if with_evidence else {}
    return ProblemOut(
        id=problem.id,
        number=problem.number,
        action=ref(problem.action),
        task_id=problem.task_id,
        source=problem.source,
        title=problem.title,
        description=problem.description,
        responsible_unit=ref(problem.responsible_unit),
        deadline=problem.deadline,
        state=problem.state,
        raised_at=problem.raised_at,
        raiser_name=problem.raiser_name,
        rectification=problem.rectification,
        rectified_at=problem.rectified_at,
        closed_at=problem.closed_at,
        approver_name=problem.approver_name,
        evidence=[evidence_out(e) for e in files.get(problem.id, [])],
    )


def notice_out(notice: Notice) -> NoticeOut:
    return NoticeOut(
        id=notice.id,
        number=notice.number,
        task=ref(notice.task),
        cause=notice.cause,
        to_unit=ref(notice.to_unit),
        issued_at=notice.issued_at,
        reply_due_at=notice.reply_due_at,
        level=notice.level,
        escalated_at=notice.escalated_at,
        state=notice.state,
        reply=notice.reply,
        replied_at=notice.replied_at,
        replier_name=notice.replier_name,
    )


def timeline(session: Session, *, task: Task, locale: str) -> list[TimelineItem]:
    """Everything that happened to a task, oldest first: plan, reports, acceptance checks, problems,
    supervision events, and the audited steps that leave no row of their own (submit, replan)."""
    items: list[TimelineItem] = [
        TimelineItem(at=task.created_at, kind="create", text=translate("timeline.created", locale))
    ]
    for rec in audit.history(session, entity_type="task", entity_id=task.id):
        if rec.action in ("submit", "replan"):
            text = translate(f"timeline.task.{rec.action}", locale, actor=rec.actor)
            items.append(TimelineItem(at=rec.at, kind=rec.action, text=text, detail=rec.after or {}))
    seqs = {m.id: m for m in task.milestones}
    for r in session.execute(select(ProgressReport).where(ProgressReport.task_id == task.id)).scalars():
        text = translate("timeline.report", locale, by=r.reporter_name, pct=r.progress_pct, value=r.value)
        if r.milestone_id in seqs:
            m = seqs[r.milestone_id]
            text += translate("timeline.milestone_done", locale, seq=m.seq, name=m.name)
        items.append(TimelineItem(at=r.reported_at, kind="report", text=text))
    for a in session.execute(select(Acceptance).where(Acceptance.task_id == task.id)).scalars():
        key = "timeline.accepted" if a.passed else "timeline.rejected"
        items.append(
            TimelineItem(at=a.checked_at, kind="acceptance", text=translate(key, locale, by=a.checker_name))
        )
    names = _names(session, task)
    for e in session.execute(
        select(Event).where(Event.task_id == task.id).order_by(Event.at, Event.id)
    ).scalars():
        params = {
            **_flat(e.detail),
            "unit": names.get(("u", e.to_unit_id), ""),
            "person": names.get(("p", e.to_person_id), ""),
        }
        if e.kind == "status":
            params["to_label"] = translate(f"status.{e.detail.get('to')}", locale)
            params["reason_label"] = translate(f"reason.{e.detail.get('reason')}", locale)
        key = f"timeline.{e.kind}"
        if e.kind == "escalation":
            key += f".{e.level}"
        elif e.kind == "reminder" and "number" in e.detail:
            key += "_notice"
        items.append(
            TimelineItem(at=e.at, kind=e.kind, text=translate(key, locale, **params), detail=e.detail)
        )
    for p in session.execute(select(Problem).where(Problem.task_id == task.id)).scalars():
        items.append(
            TimelineItem(
                at=p.raised_at,
                kind="problem",
                text=translate("timeline.problem", locale, number=p.number, title=p.title),
            )
        )
        if p.closed_at:
            items.append(
                TimelineItem(
                    at=p.closed_at,
                    kind="problem_closed",
                    text=translate(
                        "timeline.problem_closed", locale, number=p.number, approver=p.approver_name or ""
                    ),
                )
            )
    items.sort(key=lambda i: i.at)
    return items


def _flat(d: dict[str, Any] | None) -> dict[str, Any]:
    """Scalar values fit for a message; ISO times shown in the district's zone."""
    out: dict[str, Any] = {}
    for k, v in (d or {}).items():
        if k.endswith("_at") and isinstance(v, str):
            try:
                shown = to_display(datetime.fromisoformat(v))
                v = shown.strftime("%Y-%m-%d %H:%M") if shown else v
            except ValueError:
                pass
        if isinstance(v, str | int | float) or v is None:
            out[k] = v
    return out


def _names(session: Session, task: Task) -> dict[tuple[str, int | None], str]:
    rows = session.execute(
        select(Event.to_unit_id, Event.to_person_id).where(Event.task_id == task.id).distinct()
    ).all()
    unit_ids = {u for u, _ in rows if u}
    person_ids = {p for _, p in rows if p}
    out: dict[tuple[str, int | None], str] = {}
    if unit_ids:
        for uid, name in session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))):
            out[("u", uid)] = name
    if person_ids:
        for pid, name, title in session.execute(
            select(Person.id, Person.name, Person.title).where(Person.id.in_(person_ids))
        ):
            out[("p", pid)] = f"{name}({title})" if title else name
    return out
