"""Worker job: rebuild the hotspot ranking from the cases in the database, then propose tasks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityloop.insight import service
from cityloop.worker.runner import job

HOTSPOT_EVERY_SECONDS = 3600.0


@job("insight.hotspots", every_seconds=HOTSPOT_EVERY_SECONDS)
def refresh_hotspots(session: Session) -> int:
    return service.refresh_hotspots(session)
