"""Worker jobs of the programme: the supervision scan (督导) and the evaluation snapshots."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityloop.programme import evaluation, service, supervision
from cityloop.programme.workflow import today
from cityloop.worker.runner import job


@job("programme.supervision", every_seconds=300)
def supervision_scan(session: Session) -> int:
    """Colours, notices, reminders and escalations; returns how many things it changed."""
    result = supervision.scan(session)
    return result.changed + result.notices + result.reminders + result.escalations


@job("programme.evaluation", every_seconds=900)
def evaluation_snapshot(session: Session) -> int:
    """Re-count this month and last month for the 红黑榜 pages; returns the rows stored."""
    day = today()
    rows = 0
    for programme in service.list_programmes(session):
        for month in (evaluation.previous_month(day), f"{day.year:04d}-{day.month:02d}"):
            rows += evaluation.snapshot(session, programme=programme, month=month, today=day)
    return rows
