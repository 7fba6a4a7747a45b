"""Server-side sessions: a row per signed-in browser, checked on every request, revocable everywhere.

The cookie carries a random id, signed (core/http.py ``SessionCookies``); the row is keyed by the id's
SHA-256, so the table never holds a usable id. Each request reads its row by primary key (the same one
query that used to read the account), which is why a revocation written by any process ends the
session on every server at once. A session ends when:

- it is revoked: logout (that row), or for every session of the account: a password change, a new
  role, deactivation, an administrator's lock or "sign out everywhere" (``revoke_all``), which also
  bumps ``users.session_epoch`` — a row made under an older epoch is refused even if it were missed;
- its absolute lifetime (``session_max_age_seconds``) passes, or it sat idle ``session_idle_minutes``.

``last_seen_at`` is written at most once a minute per session (``TOUCH_SECONDS``), not per request;
so idleness is judged to within that minute.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core import aside
from cityloop.core.aside import write_aside
from cityloop.core.clock import now
from cityloop.core.permissions import Principal
from cityloop.core.security import token_digest
from cityloop.org.models import User, UserSession

if TYPE_CHECKING:
    from cityloop.core.http import SessionData

TOUCH_SECONDS = 60
# Ended sessions are kept this long (the admin's list, investigations), then deleted by the worker.
KEEP_ENDED = timedelta(days=7)


def start(session: Session, *, user: User, address: str | None, user_agent: str | None) -> str:
    """A new session for ``user``; returns the id for the cookie (shown once, stored only hashed)."""
    settings = get_settings()
    sid = secrets.token_urlsafe(32)
    moment = now()
    session.add(
        UserSession(
            id=token_digest(sid),
            user_id=user.id,
            epoch=user.session_epoch,
            created_at=moment,
            last_seen_at=moment,
            expires_at=moment + timedelta(seconds=settings.session_max_age_seconds),
            address=(address or "")[:64] or None,
            user_agent=(user_agent or "")[:300] or None,
            data={},
        )
    )
    session.flush()
    return sid


def ended(row: UserSession | None, moment: datetime) -> bool:
    """Whether a session row no longer signs anyone in."""
    if row is None or row.revoked_at is not None or moment >= row.expires_at:
        return True
    if moment - row.last_seen_at >= timedelta(minutes=get_settings().session_idle_minutes):
        return True
    user = row.user
    if not user.active or row.epoch != user.session_epoch:
        return True
    return user.locked_until is not None and user.locked_until > moment


def principal_for(session: Session, data: SessionData) -> Principal | None:
    """The account a request's session cookie stands for, or ``None`` (and the cookie is dropped)."""
    from cityloop.org.service import principal_for as principal_of

    assert data.ident is not None
    key = token_digest(data.ident)
    row = session.get(UserSession, key)
    moment = now()
    if row is None or ended(row, moment):
        data.end()
        return None
    if (moment - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
        touch = (
            update(UserSession)
            .where(
                UserSession.id == key, UserSession.last_seen_at < moment - timedelta(seconds=TOUCH_SECONDS)
            )
            .values(last_seen_at=moment)
            .execution_options(synchronize_session=False)
        )
        write_aside(touch)
    data.attach(dict(row.data or {}), lambda values: _save_data(key, values))
    return principal_of(row.user)


def _save_data(key: str, values: dict[str, Any]) -> None:
    aside.run([update(UserSession).where(UserSession.id == key).values(data=values)])


def revoke(session: Session, *, sid: str, reason: str = "logout") -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == token_digest(sid), UserSession.revoked_at.is_(None))
        .values(revoked_at=now(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


def revoke_all(session: Session, *, user: User, reason: str) -> int:
    """End every session of ``user`` (all servers, at their next request); returns how many were open."""
    user.session_epoch += 1
    result = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def open_sessions(session: Session, *, user: User) -> list[UserSession]:
    """The account's sessions that still sign it in, newest first (the admin's account page)."""
    moment = now()
    rows = session.execute(
        select(UserSession)
        .where(
            UserSession.user_id == user.id,
            UserSession.revoked_at.is_(None),
            UserSession.expires_at > moment,
        )
        .order_by(UserSession.last_seen_at.desc())
        .limit(50)
    ).scalars()
    return [row for row in rows if not ended(row, moment)]


def cleanup(session: Session) -> int:
    """Delete sessions that ended more than ``KEEP_ENDED`` ago (the worker, hourly)."""
    settings = get_settings()
    cutoff = now() - KEEP_ENDED
    idle_cutoff = cutoff - timedelta(minutes=settings.session_idle_minutes)
    result = session.execute(
        delete(UserSession)
        .where(
            or_(
                UserSession.expires_at < cutoff,
                UserSession.revoked_at < cutoff,
                UserSession.last_seen_at < idle_cutoff,
            )
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
