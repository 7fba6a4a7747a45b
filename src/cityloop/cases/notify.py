"""Notices about cases (reminders, overdue, escalations, closure) through an outbox.

A notice is a row written in the same transaction that decided it, so it exists exactly when the
decision does; a worker job hands unsent rows to a ``Notifier`` (SMS, e-mail, a messaging app …) and marks
them sent. The default notifier writes to the log; tests use the in-memory one.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.cases.models import Notification
from cityloop.core.clock import now
from cityloop.core.db import is_postgresql

log = logging.getLogger("cityloop.cases.notify")


class Notifier(Protocol):
    def send(self, notification: Notification) -> None:
        """Deliver one notice; raise to have it retried next round."""


class LogNotifier:
    def send(self, notification: Notification) -> None:
        log.info(
            "notice %s to %s (unit %s, user %s) about case %s: %s %s",
            notification.kind,
            notification.audience,
            notification.unit_id,
            notification.user_id,
            notification.case_id,
            notification.message_key,
            notification.params,
        )


class MemoryNotifier:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(
            {
                "id": notification.id,
                "kind": notification.kind,
                "audience": notification.audience,
                "case_id": notification.case_id,
                "unit_id": notification.unit_id,
                "user_id": notification.user_id,
            }
        )


_notifier: Notifier = LogNotifier()


def set_notifier(notifier: Notifier | None) -> None:
    global _notifier
    _notifier = notifier or LogNotifier()


def notifier() -> Notifier:
    return _notifier


def queue(
    session: Session,
    *,
    kind: str,
    case_id: int,
    audience: str,
    message_key: str,
    unit_id: int | None = None,
    user_id: int | None = None,
    step_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> Notification:
    row = Notification(
        created_at=now(),
        kind=kind,
        case_id=case_id,
        step_id=step_id,
        audience=audience,
        unit_id=unit_id,
        user_id=user_id,
        message_key=message_key,
        params=params,
    )
    session.add(row)
    return row


MAX_ATTEMPTS = 10


def deliver(session: Session, *, limit: int = 200) -> int:
    """Send unsent notices once each; a failure is retried on later rounds, up to MAX_ATTEMPTS."""
    stmt = (
        select(Notification)
        .where(Notification.sent_at.is_(None), Notification.attempts < MAX_ATTEMPTS)
        .order_by(Notification.id)
        .limit(limit)
    )
    if is_postgresql(session):
        stmt = stmt.with_for_update(skip_locked=True)
    sent = 0
    for row in session.execute(stmt).scalars():
        row.attempts += 1
        try:
            _notifier.send(row)
        except Exception:
            log.exception("notice %s could not be sent; will retry", row.id)
            continue
        row.sent_at = now()
        sent += 1
    session.flush()
    return sent
