"""Worker jobs of the organisation: forget ended sessions and quiet sign-in throttle keys."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cityloop.org import sessions, throttle
from cityloop.worker.runner import job


@job("org.auth_cleanup", every_seconds=3600)
def auth_cleanup(session: Session) -> int:
    """Delete sessions ended a week ago and throttle keys already forgotten; returns rows deleted."""
    return sessions.cleanup(session) + throttle.cleanup(session)
