"""Worker jobs for cases: deadline reminders (80 %), overdue (100 %), escalation, and notice delivery.

Each notice is decided once: the step row carries a marker (``reminded_at``, ``overdue_at``,
``escalated_at``) set in the same transaction as the notice and the timeline event, so a restart or a
second worker never sends it twice (rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite's single writer serialises workers). The worker never touches the case row itself, so it never
makes a person's next action stale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases import notify
from cityloop.cases.models import Case, CaseStep
from cityloop.cases.workflow import add_event
from cityloop.core import audit
from cityloop.core.clock import isoformat, now
from cityloop.core.db import is_postgresql
from cityloop.worker.runner import job

WORKER = audit.Actor("worker")
BATCH = 500


def _claim(session: Session, marker: Any, point: Any, at: datetime) -> Sequence[CaseStep]:
    stmt = (
        select(CaseStep)
        .where(CaseStep.done_at.is_(None), point <= at, marker.is_(None))
        .order_by(point, CaseStep.id)
        .limit(BATCH)
    )
    if is_postgresql(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return session.execute(stmt).scalars().all()


def _cases(session: Session, steps: Sequence[CaseStep]) -> dict[int, Case]:
    """The steps' cases in one query (each is needed for its number, its state and its timeline)."""
    ids = {s.case_id for s in steps}
    return {c.id: c for c in session.execute(select(Case).where(Case.id.in_(ids))).scalars()}


def _record(session: Session, case: Case, step: CaseStep, kind: str, at: datetime) -> None:
    add_event(
        session,
        case=case,
        actor=WORKER,
        action=kind,
        from_state=case.state,
        to_state=case.state,
        public=False,
        data={"step": step.step, "step_id": step.id, "due_at": step.due_at.isoformat()},
        at=at,
    )
    audit.record(
        session,
        actor=WORKER,
        action=f"case.{kind}",
        entity_type="case_step",
        entity_id=step.id,
        after={"case_id": step.case_id, "step": step.step, "due_at": step.due_at},
    )


def _fire(
    session: Session,
    *,
    kind: str,
    marker: str,
    point: Any,
    audiences: Callable[[CaseStep], list[tuple[str, int | None]]],
    past_due_skips: bool = False,
) -> int:
    """Mark every running step whose ``point`` has passed (and whose ``marker`` is unset) once, tell
    its ``audiences`` (notice ``cases.notice.<kind>``) and put it on the case's timeline."""
    at = now()
    steps = _claim(session, getattr(CaseStep, marker), point, at)
    cases = _cases(session, steps)
    for step in steps:
        setattr(step, marker, at)
        if past_due_skips and step.due_at <= at:
            continue  # the worker was away past the deadline: the overdue notice says it all
        case = cases[step.case_id]
        params = {"tracking_no": case.tracking_no, "step": step.step, "due": isoformat(step.due_at)}
        for audience, unit_id in audiences(step):
            notify.queue(
                session,
                kind=kind,
                case_id=step.case_id,
                step_id=step.id,
                audience=audience,
                unit_id=unit_id,
                message_key=f"cases.notice.{kind}",
                params=params,
            )
        _record(session, case, step, kind, at)
    session.flush()
    return len(steps)


def _holder(step: CaseStep) -> list[tuple[str, int | None]]:
    return [("unit", step.unit_id)]


def remind(session: Session) -> int:
    """80 % of a step's time used: tell the unit holding it (or the command centre)."""
    return _fire(
        session, kind="reminder", marker="reminded_at", point=CaseStep.remind_at, audiences=_holder,
        past_due_skips=True,
    )  # fmt: skip


def mark_overdue(session: Session) -> int:
    """100 %: the step is overdue (超期); the unit is told, the timeline shows it."""
    return _fire(session, kind="overdue", marker="overdue_at", point=CaseStep.due_at, audiences=_holder)


def escalate(session: Session) -> int:
    """Escalation point reached: the leader of the unit and the supervisors are told (督办)."""
    return _fire(
        session,
        kind="escalation",
        marker="escalated_at",
        point=CaseStep.escalate_at,
        audiences=lambda step: [("unit_leader", step.unit_id), ("supervisor", None)],
    )


@job("cases.deadlines", every_seconds=30)
def deadlines_job(session: Session) -> int:
    return remind(session) + mark_overdue(session) + escalate(session)


@job("cases.notifications", every_seconds=10)
def notifications_job(session: Session) -> int:
    return notify.deliver(session)


@job("cases.rollup", every_seconds=60)
def indicator_rollups(session: Session) -> int:
    """Recompute the indicator roll-ups of the months whose cases changed (cases/rollup.py)."""
    from cityloop.cases import rollup

    return rollup.refresh(session)
