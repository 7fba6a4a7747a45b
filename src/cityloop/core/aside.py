"""Bookkeeping writes made while serving a request ("last seen", "last used"), written after it.

A GET must stay a reader (on SQLite a read transaction that starts writing can fail with "database is
locked"), and a note like "this session was seen at 10:02" is not part of any route's work. So such a
statement is queued while a request is served and run, in a short write transaction of its own, once
the response has been sent (``SessionCookies`` in core/http.py drives this). Outside a request (CLI,
worker, tests calling services) it runs at once. A failure is logged and forgotten: the next request
writes the note again.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from typing import Any

from cityloop.core.db import new_session

log = logging.getLogger("cityloop.aside")
_pending: ContextVar[list[Any] | None] = ContextVar("cityloop_aside", default=None)


def write_aside(statement: Any) -> None:
    pending = _pending.get()
    if pending is not None:
        pending.append(statement)
    else:
        run([statement])


def start() -> Token[list[Any] | None]:
    """Collect this request's notes (the list is shared with the threads serving it)."""
    return _pending.set([])


def finish(token: Token[list[Any] | None]) -> list[Any]:
    pending = _pending.get() or []
    _pending.reset(token)
    return pending


def run(statements: list[Any]) -> None:
    try:
        with new_session(write=True) as session:
            for statement in statements:
                session.execute(statement)
            session.commit()
    except Exception:
        log.exception("bookkeeping write failed; it will be made again")
