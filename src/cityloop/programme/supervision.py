"""督导: the supervision scan the worker runs.

For every open task it recomputes the colour — red when a milestone or the task itself is overdue,
yellow when progress trails the plan by more than the margin or a milestone is due soon with no
recent report, green otherwise — and then, durably and exactly once each:

- issues a supervision notice (督办单) per red cause (a given overdue milestone, or the task's own
  due date) to the responsible unit, with a reply deadline;
- reminds the responsible unit of a milestone due soon with no report, and of a reply falling due;
- escalates an unanswered notice: responsible unit → the action's lead leader → the general
  task-force office, each level getting its own reply window.

"Exactly once" lives in the database, not in this process: notices are unique per (task, cause),
timeline events per ``key``; a second scan, a restarted worker or a second worker finds them there.
On PostgreSQL only one scan runs at a time (a transaction-scoped advisory lock); on SQLite the write
transaction already serialises them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session, lazyload

from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.db import is_postgresql
from cityloop.programme import service
from cityloop.programme.models import (
    Action,
    Event,
    Milestone,
    Notice,
    Programme,
    Scan,
    Status,
    Task,
    TaskState,
)
from cityloop.programme.workflow import today

SCAN_LOCK = 7_317_004  # arbitrary constant: "the supervision scan" on PostgreSQL
ACTOR = audit.Actor("supervision")
TOP_LEVEL = 2
TASKS = cast(Table, Task.__table__)


@dataclass
class Verdict:
    status: str
    reason: str
    cause: str | None = None  # what a notice is about, when red


@dataclass
class ScanResult:
    scan_id: int | None = None
    tasks: int = 0
    changed: int = 0
    notices: int = 0
    reminders: int = 0
    escalations: int = 0
    skipped: bool = False
    by_status: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def as_dict(self) -> dict[str, Any]:
        return {
            "scan_id": self.scan_id,
            "tasks": self.tasks,
            "changed": self.changed,
            "notices": self.notices,
            "reminders": self.reminders,
            "escalations": self.escalations,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class MilestoneRow:
    id: int
    due_on: date
    planned_pct: float
    done_on: date | None


def planned_pct_at(milestones: list[MilestoneRow], starts_on: date, day: date) -> float:
    """Planned progress on ``day``: linear between the task's start (0 %) and each milestone."""
    prev_day, prev_pct = starts_on, 0.0
    for m in milestones:
        if day <= m.due_on:
            span = (m.due_on - prev_day).days
            if span <= 0:
                return m.planned_pct
            share = max(0, (day - prev_day).days) / span
            return prev_pct + (m.planned_pct - prev_pct) * share
        prev_day, prev_pct = m.due_on, m.planned_pct
    return 100.0


def judge(
    *,
    state: str,
    progress_pct: float,
    starts_on: date,
    due_on: date,
    last_report_at: datetime | None,
    milestones: list[MilestoneRow],
    day: date,
    cfg: dict[str, float],
) -> Verdict:
    """The colour of one open task on ``day`` (pure: the tests call it directly too)."""
    overdue = [m for m in milestones if m.done_on is None and m.due_on < day]
    if overdue:
        return Verdict(Status.red, "milestone_overdue", f"milestone:{overdue[0].id}")
    if state != TaskState.submitted and day > due_on:
        return Verdict(Status.red, "task_overdue", "due")
    if progress_pct + cfg["behind_margin_pct"] < planned_pct_at(milestones, starts_on, day):
        return Verdict(Status.yellow, "behind_plan")
    upcoming = next((m for m in milestones if m.done_on is None), None)
    if upcoming is not None and (upcoming.due_on - day).days <= cfg["due_soon_days"]:
        stale_since = day - timedelta(days=int(cfg["stale_report_days"]))
        if last_report_at is None or last_report_at.date() < stale_since:
            return Verdict(Status.yellow, "due_soon_no_report")
    return Verdict(Status.green, "on_track")


def scan(session: Session, *, actor: audit.Actor = ACTOR) -> ScanResult:
    """One full pass over every programme's open tasks and open notices."""
    if is_postgresql(session):
        got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SCAN_LOCK}).scalar()
        if not got:
            return ScanResult(skipped=True)
    at, day = now(), today()
    record = Scan(started_at=at, as_of=day)
    session.add(record)
    session.flush()
    result = ScanResult(scan_id=record.id)
    for programme in service.list_programmes(session):
        _scan_programme(session, programme=programme, at=at, day=day, result=result)
    _notice_deadlines(session, at=at, result=result)
    record.finished_at = now()
    record.tasks, record.changed, record.notices = result.tasks, result.changed, result.notices
    record.reminders, record.escalations = result.reminders, result.escalations
    session.flush()
    if result.changed or result.notices or result.reminders or result.escalations:
        # One record per scan: the per-task detail is in the events table (the tasks' timelines).
        audit.record(
            session,
            actor=actor,
            action="scan",
            entity_type="supervision_scan",
            entity_id=record.id,
            after={**result.as_dict(), "status_now": {k: sorted(v) for k, v in result.by_status.items()}},
        )
    session.expire_all()  # rows changed under the ORM's feet by the bulk statements above
    return result


def _load(session: Session, programme: Programme) -> tuple[list[Any], dict[int, list[MilestoneRow]]]:
    open_tasks = select(Task.id).where(Task.programme_id == programme.id, Task.state != TaskState.accepted)
    tasks = session.execute(
        select(
            Task.id,
            Task.state,
            Task.status,
            Task.status_reason,
            Task.progress_pct,
            Task.starts_on,
            Task.due_on,
            Task.last_report_at,
            Task.responsible_unit_id,
            Task.responsible_person_id,
        ).where(Task.id.in_(open_tasks))
    ).all()
    milestones: dict[int, list[MilestoneRow]] = defaultdict(list)
    rows = session.execute(
        select(Milestone.task_id, Milestone.id, Milestone.due_on, Milestone.planned_pct, Milestone.done_on)
        .where(Milestone.task_id.in_(open_tasks))
        .order_by(Milestone.task_id, Milestone.seq)
    )
    for task_id, mid, due_on, pct, done_on in rows:
        milestones[task_id].append(MilestoneRow(mid, due_on, pct, done_on))
    return list(tasks), milestones


def _scan_programme(
    session: Session, *, programme: Programme, at: datetime, day: date, result: ScanResult
) -> None:
    cfg = service.supervision_settings(programme)
    tasks, milestones = _load(session, programme)
    existing = {
        (t, c)
        for t, c in session.execute(
            select(Notice.task_id, Notice.cause)
            .join(Task, Task.id == Notice.task_id)
            .where(Task.programme_id == programme.id)
        )
    }
    reminded = set(
        session.execute(
            select(Event.key)
            .join(Task, Task.id == Event.task_id)
            .where(Task.programme_id == programme.id, Event.kind == "reminder")
        ).scalars()
    )
    changes: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    new_notices: list[Notice] = []
    reply_days = timedelta(days=float(cfg["reply_days"]))
    for t in tasks:
        ms = milestones.get(t.id, [])
        verdict = judge(
            state=t.state,
            progress_pct=t.progress_pct,
            starts_on=t.starts_on,
            due_on=t.due_on,
            last_report_at=t.last_report_at,
            milestones=ms,
            day=day,
            cfg=cfg,
        )
        result.tasks += 1
        result.by_status[verdict.status].append(t.id)
        if (verdict.status, verdict.reason) != (t.status, t.status_reason):
            changes.append({"tid": t.id, "st": verdict.status, "rs": verdict.reason, "at": at})
            events.append(
                _event(t.id, "status", at, {"from": t.status, "to": verdict.status, "reason": verdict.reason})
            )
        if verdict.cause and (t.id, verdict.cause) not in existing:
            new_notices.append(
                Notice(
                    number=f"pending-{t.id}-{verdict.cause}",
                    task_id=t.id,
                    cause=verdict.cause,
                    to_unit_id=t.responsible_unit_id,
                    issued_at=at,
                    reply_due_at=at + reply_days,
                    level=0,
                    state="open",
                )
            )
        if verdict.reason == "due_soon_no_report":
            upcoming = next(m for m in ms if m.done_on is None)
            key = f"reminder:milestone:{upcoming.id}"
            if key not in reminded:
                detail = {"milestone_id": upcoming.id, "due_on": upcoming.due_on.isoformat()}
                events.append(
                    _event(
                        t.id,
                        "reminder",
                        at,
                        detail,
                        key=key,
                        unit=t.responsible_unit_id,
                        person=t.responsible_person_id,
                    )
                )
                result.reminders += 1
    if changes:
        stmt = (
            update(TASKS)
            .where(TASKS.c.id == bindparam("tid"))
            .values(status=bindparam("st"), status_reason=bindparam("rs"), status_at=bindparam("at"))
        )
        session.execute(stmt, changes)
        result.changed += len(changes)
    if new_notices:
        session.add_all(new_notices)
        session.flush()
        for n in new_notices:
            # Numbered from the row id: unique without a counter two workers could race on.
            n.number = f"DB{programme.year}-{n.id:05d}"
            events.append(
                _event(
                    n.task_id,
                    "notice",
                    at,
                    {"number": n.number, "cause": n.cause, "reply_due_at": n.reply_due_at.isoformat()},
                    key=f"notice:{n.id}:issued",
                    unit=n.to_unit_id,
                    notice=n.id,
                    level=0,
                )
            )
        session.flush()
        result.notices += len(new_notices)
    if events:
        session.execute(insert(Event), events)


def _event(
    task_id: int,
    kind: str,
    at: datetime,
    detail: dict[str, Any],
    *,
    key: str | None = None,
    unit: int | None = None,
    person: int | None = None,
    notice: int | None = None,
    level: int | None = None,
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "notice_id": notice,
        "kind": kind,
        "key": key,
        "at": at,
        "level": level,
        "to_unit_id": unit,
        "to_person_id": person,
        "detail": detail,
    }


def _notice_deadlines(session: Session, *, at: datetime, result: ScanResult) -> None:
    """Remind before a reply falls due; escalate one level when it is late."""
    programmes = service.list_programmes(session)
    longest = max((service.supervision_settings(p)["remind_before_hours"] for p in programmes), default=0)
    rows = session.execute(
        select(Notice, Action, Programme)
        .join(Task, Task.id == Notice.task_id)
        .join(Action, Action.id == Task.action_id)
        .join(Programme, Programme.id == Task.programme_id)
        .where(Notice.state == "open", Notice.reply_due_at <= at + timedelta(hours=float(longest)))
        .options(lazyload(Notice.task), lazyload(Notice.to_unit))
    ).all()
    events: list[dict[str, Any]] = []
    for notice, action, programme in rows:
        cfg = service.supervision_settings(programme)
        if notice.reply_due_at <= at:
            if notice.level >= TOP_LEVEL:
                continue
            level = notice.level + 1
            notice.level, notice.escalated_at = level, at
            notice.reply_due_at = at + timedelta(days=float(cfg["reply_days"]))
            to_person = action.lead_leader_id if level == 1 else None
            to_unit = programme.owner_unit_id if level == TOP_LEVEL else None
            detail = {
                "number": notice.number,
                "level": level,
                "reply_due_at": notice.reply_due_at.isoformat(),
            }
            events.append(
                _event(
                    notice.task_id,
                    "escalation",
                    at,
                    detail,
                    key=f"notice:{notice.id}:escalate:{level}",
                    unit=to_unit,
                    person=to_person,
                    notice=notice.id,
                    level=level,
                )
            )
            result.escalations += 1
        elif notice.reply_due_at - timedelta(hours=float(cfg["remind_before_hours"])) <= at:
            key = f"notice:{notice.id}:remind:{notice.level}"
            if notice.reminded_at is not None and notice.reminded_at >= (
                notice.escalated_at or notice.issued_at
            ):
                continue
            notice.reminded_at = at
            detail = {"number": notice.number, "reply_due_at": notice.reply_due_at.isoformat()}
            events.append(
                _event(
                    notice.task_id,
                    "reminder",
                    at,
                    detail,
                    key=key,
                    unit=notice.to_unit_id,
                    notice=notice.id,
                    level=notice.level,
                )
            )
            result.reminders += 1
    session.flush()
    if events:
        session.execute(insert(Event), events)
