"""Bearer token → Principal, remembered per process for a moment so the API's hot paths skip the lookup.

A report over the API used to spend about a sixth of its time finding its token, the token's account and
the account's unit. Here a signed-in principal is kept for ``FRESH_SECONDS`` per (database, token digest).

Invalidation:
- in this process, at once: a commit that changed any account or token (``users``, ``api_tokens`` — ORM
  flushes and bulk UPDATE/DELETE alike) empties the cache before the commit returns, so a token revoked or
  an account disabled through this server is refused on the very next request;
- other processes (the CLI, other workers) are noticed within ``FRESH_SECONDS``, when the entry is
  looked up again: a token revoked, or an account locked or disabled, elsewhere still works here for at
  most that long;
- time itself, at once: an entry is used only while its token has not expired (checked on the
  injectable clock at every hit), so an expiring token is refused on the dot.

A generation counter stops a lookup that began before such a commit from storing its stale answer after.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from cityloop.core.clock import now
from cityloop.core.permissions import Principal

FRESH_SECONDS = 2.0
MAX_ENTRIES = 10_000
_FLAG = "core.authcache.changed"
_TABLES = frozenset({"users", "api_tokens"})
_entries: dict[tuple[str, str], tuple[Principal, float, datetime | None]] = {}
_lock = threading.Lock()
_generation = [0]


def principal_for_token(session: Session, *, token: str) -> Principal:
    """The principal a bearer token stands for; ``Unauthorized`` when it is unknown, revoked, expired,
    or its account disabled or locked."""
    from cityloop.core.security import token_digest
    from cityloop.org import service as org

    key = (str(session.get_bind().engine.url), token_digest(token))
    moment = time.monotonic()
    changed_here = bool(session.info.get(_FLAG))  # uncommitted changes of our own: never cache them
    hit = _entries.get(key)
    if (
        hit is not None
        and not changed_here
        and moment - hit[1] < FRESH_SECONDS
        and (hit[2] is None or now() < hit[2])
    ):
        return hit[0]
    generation = _generation[0]
    user, expires_at = org.check_token(session, token=token)
    principal = org.principal_for(user)
    if not changed_here:
        with _lock:
            if _generation[0] == generation:
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[key] = (principal, moment, expires_at)
    return principal


def clear() -> None:
    with _lock:
        _generation[0] += 1
        _entries.clear()


def _is_auth_model(obj: Any) -> bool:
    table = getattr(type(obj), "__tablename__", None)
    return table in _TABLES


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _ctx: Any) -> None:
    if any(_is_auth_model(o) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[_FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get("cityloop_bookkeeping"):
        return  # "last used" notes change nothing a cached entry depends on
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _TABLES:
        state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_FLAG, None):
        clear()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_FLAG, None)
