"""Small tables read on every report (units, categories, routing rules), kept in memory per process.

Each cache holds what its loader built from one table, per database. A commit in this process that
changed the table empties it at once; changes made by other processes are noticed within
``FRESH_SECONDS`` through a cheap fingerprint (row count, sum of ids, sum of versions — every update
bumps a version). A session that has changed the table but not committed builds its own fresh copy
and never caches it: it may still roll back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
FRESH_SECONDS = 2.0
_ALL: list[TableCache[Any]] = []


@dataclass
class _Entry(Generic[T]):
    fingerprint: tuple[int, ...]
    value: T
    checked: float


class TableCache(Generic[T]):
    def __init__(self, model: Any, loader: Callable[[Session], T]) -> None:
        self.model = model
        self.loader = loader
        self.flag = f"cases.cache.{model.__tablename__}.changed"
        self.entries: dict[str, _Entry[T]] = {}
        self.lock = threading.Lock()
        _ALL.append(self)

    def _fingerprint(self, session: Session) -> tuple[int, ...]:
        m = self.model
        row = session.execute(select(func.count(m.id), func.sum(m.id), func.sum(m.version))).one()
        return tuple(int(v or 0) for v in row)

    def get(self, session: Session) -> T:
        if session.info.get(self.flag):
            return self.loader(session)
        url = str(session.get_bind().engine.url)
        entry = self.entries.get(url)
        moment = time.monotonic()
        if entry is not None and moment - entry.checked < FRESH_SECONDS:
            return entry.value
        fingerprint = self._fingerprint(session)
        if entry is not None and entry.fingerprint == fingerprint:
            entry.checked = moment
            return entry.value
        with self.lock:
            value = self.loader(session)
            if len(self.entries) > 16:  # tests and copies create many databases; keep it small
                self.entries.clear()
            self.entries[url] = _Entry(fingerprint, value, moment)
        return value

    def clear(self) -> None:
        self.entries.clear()


def clear_all() -> None:
    for cache in _ALL:
        cache.clear()


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _ctx: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    for cache in _ALL:
        if any(isinstance(o, cache.model) for o in touched):
            session.info[cache.flag] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for cache in _ALL:
        if session.info.pop(cache.flag, None):
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    for cache in _ALL:
        session.info.pop(cache.flag, None)
