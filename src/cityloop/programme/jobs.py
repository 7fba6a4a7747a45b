"""Worker jobs of the programme: the supervision scan (督导)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityloop.programme import supervision
from cityloop.worker.runner import job


@job("programme.supervision", every_seconds=300)
def supervision_scan(session: Session) -> int:
    """Colours, notices, reminders and escalations; returns how many things it changed."""
    result = supervision.scan(session)
    return result.changed + result.notices + result.reminders + result.escalations
