"""Database engine, sessions, the declarative base and column types shared by every domain.

SQLite is the embedded default (WAL, foreign keys on, a busy timeout so concurrent writers queue
instead of failing); PostgreSQL via psycopg 3 for production. Services flush, never commit: the
request or the worker job that opened the session commits.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from cityloop.config import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON documents (GeoJSON geometry, audit snapshots): JSONB on PostgreSQL, JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
# 64-bit keys on PostgreSQL for the big tables; SQLite needs INTEGER for its rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; always returns aware UTC (SQLite keeps no zone itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use cityloop.core.clock.now()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class IdMixin:
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Commits never wait for a checkpoint in a server (see ``start_wal_checkpointer``); elsewhere (CLI,
    # worker) the WAL is folded back at 40 MB instead of 4 MB: fewer, larger fsyncs for bulk loads.
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.close()


WAL_AUTOCHECKPOINT_PAGES = 10_000
_checkpointers: set[str] = set()
_checkpointers_lock = threading.Lock()


def start_wal_checkpointer(url: str, interval: float = 0.25) -> bool:
    """Fold a SQLite file's WAL back into the database from a background thread, every ``interval`` s.

    SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, and it fsyncs the
    database file while that writer still holds the write lock: on this machine's disk 25–40 ms, the
    whole p99 budget of a report. A PASSIVE checkpoint here does the same work beside the writers
    without blocking them, so the automatic one never triggers in a busy server. Started once per file
    per process (the server calls it); returns whether it started one now.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return False
    path = str(Path(parsed.database).resolve())
    with _checkpointers_lock:
        if path in _checkpointers:
            return False
        _checkpointers.add(path)

    def run() -> None:
        conn = sqlite3.connect(path, timeout=1, isolation_level=None, check_same_thread=False)
        try:
            while Path(path).exists():
                time.sleep(interval)
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue  # busy or being replaced: next round
        finally:
            conn.close()
            with _checkpointers_lock:
                _checkpointers.discard(path)

    threading.Thread(target=run, name=f"wal-checkpoint:{Path(path).name}", daemon=True).start()
    return True


class SQLiteWriteLock:
    """One writer at a time across threads *and processes*, waited for without SQLite's busy handler.

    SQLite's own busy handler sleeps 1, 2, 5, 10 … 100 ms between tries, so two server processes
    writing the same file (``serve --workers 2``) keep missing each other's sub-millisecond windows
    and a report waits hundreds of ms for a lock that was free most of that time. Here a write
    transaction first takes a ``threading.Lock`` (threads of this process queue on it, woken at once)
    and then an ``flock`` on ``<db>-writelock`` (processes), polled every ~0.5 ms while another process
    holds it; after ``timeout`` seconds it gives up like SQLite does ("database is locked").
    Released right after COMMIT or ROLLBACK (``_release_after``).
    """

    def __init__(self, db_path: str, timeout: float = 30.0) -> None:
        self.path = db_path + "-writelock"
        self.timeout = timeout
        self.local = threading.Lock()
        self.fd: int | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self.local.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked")
        try:
            if self.fd is None:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            pause = 0.0002
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise sqlite3.OperationalError("database is locked") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.001)
        except BaseException:
            self.local.release()
            raise

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.local.release()


_HELD = "cityloop_write_lock"


def _sqlite_begin(conn: Any) -> None:
    # A deferred SQLite transaction that reads first and writes later fails at once with "database
    # is locked" when another writer committed in between. Write sessions therefore take the write
    # lock when they begin (IMMEDIATE) — first our own SQLiteWriteLock, so they queue without
    # SQLite's sleeping busy handler — and read sessions stay deferred so WAL readers never wait.
    if conn.get_execution_options().get("sqlite_begin") == "immediate":
        lock: SQLiteWriteLock | None = getattr(conn.engine, "cityloop_write_lock", None)
        if lock is not None:
            lock.acquire()
            conn.connection.info[_HELD] = lock
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            held = conn.connection.info.pop(_HELD, None)
            if held is not None:
                held.release()
            raise
    else:
        conn.exec_driver_sql("BEGIN")


def _release_on_invalidate(_dbapi_connection: Any, record: Any, _exc: Any = None) -> None:
    # A connection thrown away mid-transaction (no COMMIT/ROLLBACK will follow) must not keep the lock.
    held = record.info.pop(_HELD, None)
    if held is not None:
        held.release()


def _release_after(method: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap the dialect's do_commit/do_rollback: release the write lock once the transaction is over."""

    def run(dbapi_connection: Any) -> None:
        try:
            method(dbapi_connection)
        finally:
            try:
                info = dbapi_connection.info
            except (AttributeError, NotImplementedError):  # the dialect's own first-connect probe
                info = None
            held = info.pop(_HELD, None) if info is not None else None
            if held is not None:
                held.release()

    return run


def make_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=16,
            max_overflow=32,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        if parsed.database and parsed.database != ":memory:":
            engine.cityloop_write_lock = SQLiteWriteLock(  # type: ignore[attr-defined]
                str(Path(parsed.database).resolve())
            )
            dialect: Any = engine.dialect
            dialect.do_commit = _release_after(dialect.do_commit)
            dialect.do_rollback = _release_after(dialect.do_rollback)
            event.listen(engine.pool, "invalidate", _release_on_invalidate)
        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    engine = make_engine(url)
    _engines.append(engine)
    return engine


_engines: list[Engine] = []


@lru_cache
def _factory(url: str | None, write: bool) -> sessionmaker[Session]:
    engine = get_engine(url)
    bind = engine.execution_options(sqlite_begin="immediate") if write else engine
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


# Tests install a factory here so the app, the CLI and the worker all share one rolled-back connection.
_session_override: Callable[[], Session] | None = None


def override_sessions(factory: Callable[[], Session] | None) -> None:
    global _session_override
    _session_override = factory


def new_session(url: str | None = None, *, write: bool = False) -> Session:
    """A session; ``write=True`` for units of work that will change data (see ``_sqlite_begin``)."""
    if _session_override is not None:
        return _session_override()
    return _factory(url, write)()


def reset_engines() -> None:
    """Dispose every engine made so far (tests switch databases; settings changed)."""
    for engine in _engines:
        engine.dispose()
    _engines.clear()
    get_engine.cache_clear()
    _factory.cache_clear()


@contextmanager
def session_scope(url: str | None = None, *, write: bool = True) -> Iterator[Session]:
    """A unit of work outside a request (CLI, worker): commit on success, roll back on error."""
    session = new_session(url, write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
