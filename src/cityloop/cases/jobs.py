"""Worker jobs for cases: deadline reminders (80 %), overdue (100 %), escalation, and notice delivery.

Each notice is decided once: the step row carries a marker (``reminded_at``, ``overdue_at``,
``escalated_at``) set in the same transaction as the notice and the timeline event, so a restart or a
second worker never sends it twice (rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
SQLite's single writer serialises workers). The worker never touches the case row itself, so it never
makes a person's next action stale.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _cases(session: Session, steps: Sequence[CaseStep]) -> dict[int, tuple[str, str]]:
    ids = {s.case_id for s in steps}
    rows = session.execute(select(Case.id, Case.tracking_no, Case.state).where(Case.id.in_(ids)))
    return {r.id: (r.tracking_no, r.state) for r in rows}


def _params(step: CaseStep, tracking_no: str) -> dict[str, Any]:
    return {"tracking_no": tracking_no, "step": step.step, "due": isoformat(step.due_at)}


def _record(session: Session, step: CaseStep, kind: str, state: str, at: datetime) -> None:
    case = session.get(Case, step.case_id)
    assert case is not None
    add_event(
        session,
        case=case,
        actor=WORKER,
        action=kind,
        from_state=state,
        to_state=state,
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


def remind(session: Session) -> int:
    """80 % of a step's time used: tell the unit holding it (or the command centre)."""
    at = now()
    steps = _claim(session, CaseStep.reminded_at, CaseStep.remind_at, at)
    known = _cases(session, steps)
    for step in steps:
        step.reminded_at = at
        if step.due_at <= at:
            continue  # the worker was away past the deadline: the overdue notice says it all
        tracking_no, state = known[step.case_id]
        notify.queue(
            session,
            kind="reminder",
            case_id=step.case_id,
            step_id=step.id,
            audience="unit",
            unit_id=step.unit_id,
            message_key="cases.notice.reminder",
            params=_params(step, tracking_no),
        )
        _record(session, step, "reminder", state, at)
    session.flush()
    return len(steps)


def mark_overdue(session: Session) -> int:
    """100 %: the step is overdue (超期); the unit is told, the timeline shows it."""
    at = now()
    steps = _claim(session, CaseStep.overdue_at, CaseStep.due_at, at)
    known = _cases(session, steps)
    for step in steps:
        step.overdue_at = at
        tracking_no, state = known[step.case_id]
        notify.queue(
            session,
            kind="overdue",
            case_id=step.case_id,
            step_id=step.id,
            audience="unit",
            unit_id=step.unit_id,
            message_key="cases.notice.overdue",
            params=_params(step, tracking_no),
        )
        _record(session, step, "overdue", state, at)
    session.flush()
    return len(steps)


def escalate(session: Session) -> int:
    """Escalation point reached: the leader of the unit and the supervisors are told (督办)."""
    at = now()
    steps = _claim(session, CaseStep.escalated_at, CaseStep.escalate_at, at)
    known = _cases(session, steps)
    for step in steps:
        step.escalated_at = at
        tracking_no, state = known[step.case_id]
        params = _params(step, tracking_no)
        for audience, unit_id in (("unit_leader", step.unit_id), ("supervisor", None)):
            notify.queue(
                session,
                kind="escalation",
                case_id=step.case_id,
                step_id=step.id,
                audience=audience,
                unit_id=unit_id,
                message_key="cases.notice.escalation",
                params=params,
            )
        _record(session, step, "escalation", state, at)
    session.flush()
    return len(steps)


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
