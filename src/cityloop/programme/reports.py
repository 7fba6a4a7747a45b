"""督导周报: the weekly supervision report — status counts, red items, overdue notices, problems,
the coming week's milestones and the rankings — as the reader's scope sees it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityloop.core.errors import ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.core.validation import in_years
from cityloop.org.models import Person, Unit
from cityloop.programme import evaluation
from cityloop.programme import permissions as perm
from cityloop.programme.evaluation import end_moment
from cityloop.programme.models import Milestone, Notice, Problem, ProblemState, Programme, Status, Task

WEEK_RE = re.compile(r"^([0-9]{4})-W([0-9]{2})\Z")


def week_bounds(week: str | None, today: date) -> tuple[str, date, date]:
    """ "2026-W48" → (label, Monday, Sunday); default: the week containing ``today``."""
    if not week:
        iso = today.isocalendar()
        week = f"{iso.year:04d}-W{iso.week:02d}"
    m = WEEK_RE.match(week)
    try:
        if not m:
            raise ValueError(week)
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        if not in_years(monday):
            raise ValueError(week)
    except ValueError:
        raise ValidationFailed("error.programme.week_invalid", field="week", week=week) from None
    return week, monday, monday + timedelta(days=6)


@dataclass
class Weekly:
    week: str
    monday: date
    sunday: date
    as_of: date
    counts: dict[str, int]
    red: list[dict[str, Any]]
    overdue_notices: list[dict[str, Any]]
    notices_issued: int
    notices_replied: int
    problems_raised: int
    problems_closed: int
    problems_overdue: list[dict[str, Any]]
    upcoming: list[dict[str, Any]]
    rankings: evaluation.Evaluation

    def as_dict(self) -> dict[str, Any]:
        def ranked(level: str, black: bool) -> list[dict[str, Any]]:
            rows = self.rankings.black_list(level) if black else self.rankings.red_list(level)
            return [{"name": s.name, "score": s.score, "rank": s.rank} for s in rows]

        return {
            "week": self.week,
            "from": self.monday.isoformat(),
            "to": self.sunday.isoformat(),
            "as_of": self.as_of.isoformat(),
            "counts": self.counts,
            "red": self.red,
            "overdue_notices": self.overdue_notices,
            "notices_issued": self.notices_issued,
            "notices_replied": self.notices_replied,
            "problems_raised": self.problems_raised,
            "problems_closed": self.problems_closed,
            "problems_overdue": self.problems_overdue,
            "upcoming": self.upcoming,
            "rankings": {
                level: {"red": ranked(level, False), "black": ranked(level, True)}
                for level in ("department", "street")
            },
        }


def _scoped(stmt: Any, cond: Any) -> Any:
    return stmt if cond is None else stmt.where(cond)


def weekly(
    session: Session, *, principal: Principal, programme: Programme, week: str | None, today: date
) -> Weekly:
    principal.require(perm.READ)
    label, monday, sunday = week_bounds(week, today)
    as_of = min(sunday, today)
    start, end = end_moment(monday - timedelta(days=1)), end_moment(as_of)
    tf, pf, nf = perm.task_filter(principal), perm.problem_filter(principal), perm.notice_filter(principal)
    in_prog = Task.programme_id == programme.id
    counts = {s.value: 0 for s in Status}
    for status, n in session.execute(
        _scoped(select(Task.status, func.count()).where(in_prog), tf).group_by(Task.status)
    ):
        counts[status] = n
    red_rows = session.execute(
        _scoped(
            select(
                Task.id,
                Task.code,
                Task.name,
                Task.status_reason,
                Unit.name,
                Person.name,
                Task.due_on,
                Task.progress_pct,
            )
            .join(Unit, Unit.id == Task.responsible_unit_id)
            .join(Person, Person.id == Task.responsible_person_id)
            .where(in_prog, Task.status == Status.red),
            tf,
        )
        .order_by(Task.due_on, Task.id)
        .limit(100)
    ).all()
    red = [
        {
            "id": r[0],
            "code": r[1],
            "name": r[2],
            "reason": r[3],
            "unit": r[4],
            "person": r[5],
            "due_on": r[6].isoformat(),
            "pct": r[7],
        }
        for r in red_rows
    ]
    notice_q = select(Notice).join(Task, Task.id == Notice.task_id).where(in_prog)
    overdue = session.execute(
        _scoped(notice_q.where(Notice.state == "open", Notice.reply_due_at < end), nf)
        .order_by(Notice.reply_due_at)
        .limit(100)
    ).scalars()
    overdue_notices = [
        {
            "id": n.id,
            "number": n.number,
            "task": n.task.name,
            "task_id": n.task_id,
            "unit": n.to_unit.name,
            "level": n.level,
            "reply_due_at": n.reply_due_at,
        }
        for n in overdue
    ]

    def count(stmt: Any, cond: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(_scoped(stmt, cond).subquery())) or 0)

    pq = select(Problem.id).where(Problem.programme_id == programme.id)
    nq = select(Notice.id).join(Task, Task.id == Notice.task_id).where(in_prog)
    problems_overdue = session.execute(
        _scoped(
            select(Problem).where(
                Problem.programme_id == programme.id,
                Problem.state != ProblemState.closed,
                Problem.deadline < as_of,
            ),
            pf,
        )
        .order_by(Problem.deadline)
        .limit(100)
    ).scalars()
    upcoming_rows = session.execute(
        _scoped(
            select(Task.id, Task.name, Milestone.name, Milestone.due_on, Unit.name)
            .join(Task, Task.id == Milestone.task_id)
            .join(Unit, Unit.id == Task.responsible_unit_id)
            .where(
                in_prog,
                Milestone.done_on.is_(None),
                Milestone.due_on > as_of,
                Milestone.due_on <= as_of + timedelta(days=7),
            ),
            tf,
        )
        .order_by(Milestone.due_on)
        .limit(100)
    ).all()
    return Weekly(
        week=label,
        monday=monday,
        sunday=sunday,
        as_of=as_of,
        counts=counts,
        red=red,
        overdue_notices=overdue_notices,
        notices_issued=count(nq.where(Notice.issued_at >= start, Notice.issued_at < end), nf),
        notices_replied=count(nq.where(Notice.replied_at >= start, Notice.replied_at < end), nf),
        problems_raised=count(pq.where(Problem.raised_at >= start, Problem.raised_at < end), pf),
        problems_closed=count(pq.where(Problem.closed_at >= start, Problem.closed_at < end), pf),
        problems_overdue=[
            {
                "id": p.id,
                "number": p.number,
                "title": p.title,
                "unit": p.responsible_unit.name,
                "deadline": p.deadline.isoformat(),
            }
            for p in problems_overdue
        ],
        upcoming=[
            {"task_id": r[0], "task": r[1], "milestone": r[2], "due_on": r[3].isoformat(), "unit": r[4]}
            for r in upcoming_rows
        ],
        rankings=evaluation.evaluate(
            session, programme=programme, month=f"{as_of.year:04d}-{as_of.month:02d}", today=today
        ),
    )
