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

The scan is set-based so that tens of thousands of tasks take seconds: one grouped query reduces
each task's milestones to the four it needs (``Plan``), and every change is one bulk statement.
The rules themselves are pure functions (``judge``), tested on their own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.db import is_postgresql
from cityloop.programme import fastsql, service
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
MILESTONES = cast(Table, Milestone.__table__)
NOTICES = cast(Table, Notice.__table__)


@dataclass
class Verdict:
    status: str
    reason: str
    cause: str | None = None  # what a notice is about, when red


@dataclass(frozen=True)
class MilestoneRow:
    id: int
    due_on: date
    planned_pct: float
    done_on: date | None


@dataclass(frozen=True)
class Plan:
    """What the rules need of a task's milestones on one day (milestone dates run strictly forward)."""

    overdue_id: int | None = None  # the first milestone past its date and not done
    prev: tuple[date, float] | None = None  # the last milestone dated on or before the day
    next: tuple[date, float] | None = None  # the first milestone dated after the day
    upcoming: tuple[int, date] | None = None  # the first milestone not done yet (id, date)


def summarise(milestones: list[MilestoneRow], day: date) -> Plan:
    """The ``Plan`` of milestones given in order (the scan computes the same in SQL)."""
    overdue = next((m.id for m in milestones if m.done_on is None and m.due_on < day), None)
    before = [m for m in milestones if m.due_on <= day]
    after = [m for m in milestones if m.due_on > day]
    upcoming = next(((m.id, m.due_on) for m in milestones if m.done_on is None), None)
    return Plan(
        overdue_id=overdue,
        prev=(before[-1].due_on, before[-1].planned_pct) if before else None,
        next=(after[0].due_on, after[0].planned_pct) if after else None,
        upcoming=upcoming,
    )


def planned_pct_at(plan: Plan, starts_on: date, day: date) -> float:
    """Planned progress on ``day``: linear from the task's start (0 %) through each milestone."""
    if plan.next is None:
        return 100.0
    prev_day, prev_pct = plan.prev or (starts_on, 0.0)
    next_day, next_pct = plan.next
    span = (next_day - prev_day).days
    if span <= 0:
        return next_pct
    return prev_pct + (next_pct - prev_pct) * max(0, (day - prev_day).days) / span


def judge(
    *,
    state: str,
    progress_pct: float,
    starts_on: date,
    due_on: date,
    last_report_at: datetime | None,
    plan: Plan,
    day: date,
    cfg: dict[str, float],
) -> Verdict:
    """The colour of one open task on ``day``."""
    if plan.overdue_id is not None:
        return Verdict(Status.red, "milestone_overdue", f"milestone:{plan.overdue_id}")
    if state != TaskState.submitted and day > due_on:
        return Verdict(Status.red, "task_overdue", "due")
    if progress_pct + cfg["behind_margin_pct"] < planned_pct_at(plan, starts_on, day):
        return Verdict(Status.yellow, "behind_plan")
    if plan.upcoming is not None and (plan.upcoming[1] - day).days <= cfg["due_soon_days"]:
        stale_since = day - timedelta(days=int(cfg["stale_report_days"]))
        if last_report_at is None or last_report_at.date() < stale_since:
            return Verdict(Status.yellow, "due_soon_no_report")
    return Verdict(Status.green, "on_track")


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


def scan(session: Session, *, actor: audit.Actor = ACTOR) -> ScanResult:
    """One full pass over every programme's open tasks and open notices."""
    if is_postgresql(session):
        got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SCAN_LOCK}).scalar()
        if not got:
            return ScanResult(skipped=True)
    session.flush()
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


def _plans(session: Session, programme: Programme, day: date) -> list[Any]:
    """Each open task with its ``Plan`` columns, in one grouped query."""
    m, t = MILESTONES, TASKS
    undone = m.c.done_on.is_(None)
    agg = (
        select(
            m.c.task_id,
            func.min(case((and_(undone, m.c.due_on < day), m.c.seq))).label("overdue"),
            func.min(case((undone, m.c.seq))).label("open"),
            func.max(case((m.c.due_on <= day, m.c.seq))).label("prev"),
            func.min(case((m.c.due_on > day, m.c.seq))).label("next"),
        )
        .where(
            m.c.task_id.in_(select(t.c.id).where(t.c.programme_id == programme.id, t.c.state != "accepted"))
        )
        .group_by(m.c.task_id)
        .subquery()
    )
    mo, mu, mp, mn = (m.alias(name) for name in ("m_over", "m_open", "m_prev", "m_next"))

    def at_seq(alias: Any, col: str) -> Any:
        return and_(alias.c.task_id == agg.c.task_id, alias.c.seq == agg.c[col])

    stmt = select(
        t.c.id, t.c.state, t.c.status, t.c.status_reason, t.c.progress_pct, t.c.starts_on, t.c.due_on,
        t.c.last_report_at, t.c.responsible_unit_id, t.c.responsible_person_id,
        mo.c.id, mu.c.id, mu.c.due_on, mp.c.due_on, mp.c.planned_pct, mn.c.due_on, mn.c.planned_pct,
    ).select_from(
        t.join(agg, agg.c.task_id == t.c.id)
        .outerjoin(mo, at_seq(mo, "overdue"))
        .outerjoin(mu, at_seq(mu, "open"))
        .outerjoin(mp, at_seq(mp, "prev"))
        .outerjoin(mn, at_seq(mn, "next"))
    )  # fmt: skip
    return list(session.connection().execute(stmt))


def _scan_programme(
    session: Session, *, programme: Programme, at: datetime, day: date, result: ScanResult
) -> None:
    cfg = service.supervision_settings(programme)
    existing = set(
        session.connection().execute(
            select(NOTICES.c.task_id, NOTICES.c.cause).where(
                NOTICES.c.task_id.in_(select(TASKS.c.id).where(TASKS.c.programme_id == programme.id))
            )
        )
    )
    changes: list[tuple[str, str, int]] = []
    events: list[dict[str, Any]] = []
    new_notices: list[dict[str, Any]] = []
    reminders: dict[str, dict[str, Any]] = {}
    reply_due = at + timedelta(days=float(cfg["reply_days"]))
    for r in _plans(session, programme, day):
        plan = Plan(
            overdue_id=r[10],
            upcoming=(r[11], r[12]) if r[11] is not None else None,
            prev=(r[13], r[14]) if r[13] is not None else None,
            next=(r[15], r[16]) if r[15] is not None else None,
        )
        verdict = judge(
            state=r[1],
            progress_pct=r[4],
            starts_on=r[5],
            due_on=r[6],
            last_report_at=r[7],
            plan=plan,
            day=day,
            cfg=cfg,
        )
        result.tasks += 1
        result.by_status[verdict.status].append(r[0])
        if (verdict.status, verdict.reason) != (r[2], r[3]):
            changes.append((verdict.status, verdict.reason, r[0]))
            detail = {"from": r[2], "to": verdict.status, "reason": verdict.reason}
            events.append(_event(r[0], "status", at, detail))
        if verdict.cause and (r[0], verdict.cause) not in existing:
            new_notices.append(
                {"task_id": r[0], "cause": verdict.cause, "to_unit_id": r[8], "issued_at": at,
                 "reply_due_at": reply_due, "level": 0, "state": "open"}
            )  # fmt: skip
        if verdict.reason == "due_soon_no_report" and plan.upcoming is not None:
            mid, due_on = plan.upcoming
            detail = {"milestone_id": mid, "due_on": due_on.isoformat()}
            key = f"reminder:milestone:{mid}"
            reminders[key] = _event(r[0], "reminder", at, detail, key=key, unit=r[8], person=r[9])
    if changes:
        _set_statuses(session, changes, at)
        result.changed += len(changes)
    if reminders:
        sent = set(
            session.connection().execute(select(Event.key).where(Event.key.in_(list(reminders)))).scalars()
        )
        fresh = [e for k, e in reminders.items() if k not in sent]
        events.extend(fresh)
        result.reminders += len(fresh)
    if new_notices:
        events.extend(_issue(session, programme, new_notices))
        result.notices += len(new_notices)
    if events:
        fastsql.write_rows(session, Event, events)


def _set_statuses(session: Session, changes: list[tuple[str, str, int]], at: datetime) -> None:
    """One UPDATE per (colour, reason) and chunk of ids: a handful of statements, not one per task."""
    by_verdict: dict[tuple[str, str], list[int]] = defaultdict(list)
    for status, reason, task_id in changes:
        by_verdict[(status, reason)].append(task_id)
    conn = session.connection()
    for (status, reason), ids in by_verdict.items():
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            stmt = update(TASKS).where(fastsql.ids_in(session, TASKS.c.id, chunk))
            conn.execute(stmt.values(status=status, status_reason=reason, status_at=at))


def _issue(session: Session, programme: Programme, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write the notices, numbered from ids drawn beforehand (unique without a counter two workers
    could race on), and return their timeline events."""
    ids = fastsql.allocate_ids(session, Notice, len(rows))
    for nid, row in zip(ids, rows, strict=True):
        row.update(id=nid, number=f"DB{programme.year}-{nid:05d}")
    fastsql.write_rows(session, Notice, rows)
    return [
        _event(
            row["task_id"],
            "notice",
            row["issued_at"],
            {"number": row["number"], "cause": row["cause"], "reply_due_at": row["reply_due_at"].isoformat()},
            key=f"notice:{row['id']}:issued",
            unit=row["to_unit_id"],
            notice=row["id"],
            level=0,
        )
        for row in rows
    ]


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
    cfgs = {p.id: service.supervision_settings(p) for p in service.list_programmes(session)}
    longest = max((c["remind_before_hours"] for c in cfgs.values()), default=0)
    n = NOTICES
    late = and_(n.c.reply_due_at <= at, n.c.level < TOP_LEVEL)
    not_reminded = or_(
        n.c.reminded_at.is_(None), n.c.reminded_at < func.coalesce(n.c.escalated_at, n.c.issued_at)
    )
    soon = and_(n.c.reply_due_at > at, n.c.reply_due_at <= at + timedelta(hours=float(longest)), not_reminded)
    stmt = (
        select(
            n.c.id,
            n.c.task_id,
            n.c.number,
            n.c.level,
            n.c.reply_due_at,
            n.c.to_unit_id,
            Task.programme_id,
            Action.lead_leader_id,
            Programme.owner_unit_id,
        )
        .join(Task, Task.id == n.c.task_id)
        .join(Action, Action.id == Task.action_id)
        .join(Programme, Programme.id == Task.programme_id)
        .where(n.c.state == "open", or_(late, soon))
    )
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for nid, task_id, number, level, due_at, to_unit, prog_id, leader, office in session.connection().execute(
        stmt
    ):
        cfg = cfgs[prog_id]
        if due_at <= at:
            new_level, new_due = level + 1, at + timedelta(days=float(cfg["reply_days"]))
            updates.append({"nid": nid, "lv": new_level, "esc": at, "due": new_due, "rem": None})
            events.append(
                _event(
                    task_id,
                    "escalation",
                    at,
                    {"number": number, "level": new_level, "reply_due_at": new_due.isoformat()},
                    key=f"notice:{nid}:escalate:{new_level}",
                    unit=office if new_level == TOP_LEVEL else None,
                    person=leader if new_level == 1 else None,
                    notice=nid,
                    level=new_level,
                )
            )
            result.escalations += 1
        elif due_at - timedelta(hours=float(cfg["remind_before_hours"])) <= at:
            detail = {"number": number, "reply_due_at": due_at.isoformat()}
            key = f"notice:{nid}:remind:{level}"
            events.append(
                _event(task_id, "reminder", at, detail, key=key, unit=to_unit, notice=nid, level=level)
            )
            updates.append({"nid": nid, "rem": at})
            result.reminders += 1
    conn = session.connection()
    escalated = [u for u in updates if "lv" in u]
    if escalated:
        stmt_e = update(n).where(n.c.id == bindparam("nid"))
        stmt_e = stmt_e.values(
            level=bindparam("lv"), escalated_at=bindparam("esc"), reply_due_at=bindparam("due")
        )
        conn.execute(stmt_e, [{k: u[k] for k in ("nid", "lv", "esc", "due")} for u in escalated])
    reminded = [u for u in updates if "lv" not in u]
    if reminded:
        conn.execute(
            update(n).where(n.c.id == bindparam("nid")).values(reminded_at=bindparam("rem")), reminded
        )
    if events:
        fastsql.write_rows(session, Event, events)
