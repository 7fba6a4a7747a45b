"""Append-only audit trail, chained by hash.

Each record stores the SHA-256 of its own canonical content plus the previous record's hash, so
editing or deleting any row breaks the chain at that point; ``cityloop audit verify`` walks it and
names the first broken link. The chain never forks: a record's id is always its predecessor's id + 1 and
it is inserted only if that predecessor is still the committed tail, so two appends after the same tail
collide on the primary key and the loser re-reads the tail (see ``_append_statement``). On PostgreSQL
appenders also queue on a transaction-scoped advisory lock, so that many concurrent writers wait their turn
instead of colliding and retrying together; the tail is re-read only when the hint is stale. On SQLite the
database's single writer serialises appends anyway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

from sqlalchemy import ForeignKey, Index, String, Table, Text, bindparam, func, inspect, select, text
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from cityloop.core.clock import now
from cityloop.core.db import Base, BigId, JSONDoc, UTCDateTime
from cityloop.core.permissions import Principal

GENESIS = "0" * 64
_NEVER_LOGGED = {"password_hash"}


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str] = mapped_column(String(60))
    before: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    after: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    note: Mapped[str | None] = mapped_column(Text)


def jsonable(value: Any) -> Any:
    """Plain JSON value for a snapshot (times as ISO-8601 UTC, enums as their value)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def snapshot(obj: Any, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """The column values of a mapped object, fit for before/after (secrets left out)."""
    skip = _NEVER_LOGGED | (exclude or set())
    mapper = inspect(obj).mapper
    return {
        attr.key: jsonable(getattr(obj, attr.key)) for attr in mapper.column_attrs if attr.key not in skip
    }


def _canonical(rec: AuditRecord) -> bytes:
    body = {
        "id": rec.id,
        "at": rec.at.isoformat(),
        "actor": rec.actor,
        "actor_user_id": rec.actor_user_id,
        "action": rec.action,
        "entity_type": rec.entity_type,
        "entity_id": rec.entity_id,
        "before": rec.before,
        "after": rec.after,
        "note": rec.note,
        "prev_hash": rec.prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compute_hash(rec: AuditRecord) -> str:
    return hashlib.sha256(_canonical(rec)).hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who did it when no signed-in account did: the CLI, the worker, a sensor gateway."""

    name: str
    user_id: int | None = None


_COLUMNS: tuple[str, ...] = ("id", "at", "actor_user_id", "actor", "action", "entity_type", "entity_id")
_COLUMNS += ("before", "after", "prev_hash", "hash", "note")
_ADVISORY_KEY = 7_317_001  # arbitrary constant: "the audit chain" lock on PostgreSQL
_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_TAIL = select(AuditRecord.id, AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)
# Per database: the last link this process appended or read. Only a hint — the append checks it.
_tails: dict[str, tuple[int, str]] = {}


def _append_statement(dialect_name: str) -> Any:
    """INSERT one record only if the chain's committed tail is still the one it links to.

    ``INSERT … SELECT :values WHERE <tail hash> = :prev_hash ON CONFLICT (id) DO NOTHING RETURNING id``:
    the id is always the tail's id + 1, so two appends after the same tail collide on the primary key;
    the second waits for the first to commit (PostgreSQL) and then inserts nothing, re-reads the tail
    and tries again. No fork is possible and no lock is held beyond the row itself.
    """
    table = cast(Table, AuditRecord.__table__)
    tail_hash = select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1).scalar_subquery()
    values = []
    for name in _COLUMNS:
        col = table.c[name]
        param = bindparam(name, type_=col.type)
        # PostgreSQL cannot infer a bare parameter's type in a SELECT list; SQLite must not cast (JSON
        # would get numeric affinity).
        values.append(sa_cast(param, col.type) if dialect_name == "postgresql" else param)
    condition = func.coalesce(tail_hash, GENESIS) == bindparam("link")
    source = select(*values).where(condition)
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(table).from_select(list(_COLUMNS), source)
    return stmt.on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id)


# Built on first use: a foreign key column's type is known only once the table it refers to is loaded.
_APPEND: dict[str, Any] = {}


def record(
    session: Session,
    *,
    actor: Principal | Actor | None,
    action: str,
    entity_type: str,
    entity_id: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditRecord:
    """Append one audit record in the caller's transaction (one statement when this process wrote the tail).

    Returns the record as written (not attached to the session).
    """
    session.flush()  # the entity's own changes first: on SQLite this also holds the write lock
    actor_name, actor_id = _who(actor)
    bind = session.get_bind()
    url = str(bind.engine.url)
    dialect_name = "postgresql" if bind.dialect.name == "postgresql" else "sqlite"
    stmt = _APPEND.get(dialect_name)
    if stmt is None:
        stmt = _APPEND[dialect_name] = _append_statement(dialect_name)
    rec = AuditRecord(
        at=now(),
        actor=actor_name,
        actor_user_id=actor_id,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=jsonable(before),
        after=jsonable(after),
        note=note,
    )
    if dialect_name == "postgresql":
        # Queue appenders in the database's lock queue (first come, first served) instead of letting them
        # all collide on the next id and retry together. Under the lock the hint is normally right, so
        # the append is this one statement plus the insert — no re-read of the tail.
        session.execute(_LOCK, {"k": _ADVISORY_KEY})
    tail = _tails.get(url)
    for _attempt in range(1000):
        if tail is None:
            row = session.execute(_TAIL).first()
            tail = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        rec.id = tail[0] + 1
        rec.prev_hash = tail[1]
        rec.hash = compute_hash(rec)
        params = {name: getattr(rec, name) for name in _COLUMNS} | {"link": tail[1]}
        if session.execute(stmt, params).first() is not None:
            _tails[url] = (rec.id, rec.hash)
            return rec
        tail = None  # someone else appended (or our hint was stale): read the committed tail again
    raise RuntimeError("audit chain: could not append after 1000 attempts")


@dataclass
class VerifyResult:
    checked: int
    broken_id: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain in id order; stop at the first record whose link or content does not match."""
    expected_prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = (
            session.execute(
                select(AuditRecord).where(AuditRecord.id > last_id).order_by(AuditRecord.id).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return VerifyResult(checked=checked)
        for rec in rows:
            if rec.prev_hash != expected_prev:
                return VerifyResult(checked, rec.id, "prev_hash does not match the previous record")
            if compute_hash(rec) != rec.hash:
                return VerifyResult(checked, rec.id, "content does not match its hash")
            expected_prev = rec.hash
            checked += 1
            last_id = rec.id
        session.expunge_all()


def history(session: Session, *, entity_type: str, entity_id: Any) -> list[AuditRecord]:
    stmt = (
        select(AuditRecord)
        .where(AuditRecord.entity_type == entity_type, AuditRecord.entity_id == str(entity_id))
        .order_by(AuditRecord.id)
    )
    return list(session.execute(stmt).scalars())


def record_many(
    session: Session,
    *,
    action: str,
    entity_type: str,
    entries: Sequence[tuple[Principal | Actor | None, Any, dict[str, Any] | None]],
) -> None:
    """Append one record per ``(actor, entity_id, after)``, in order, in the caller's transaction.

    For group commit: the first link is appended exactly like ``record`` (checked against the committed
    tail, under the chain's lock: SQLite's single writer, PostgreSQL's advisory lock). Once it is in,
    nobody else can append before this transaction ends, so the others follow in one executemany of
    plain INSERTs, each linked to the one before.
    """
    if not entries:
        return
    actor, entity_id, after = entries[0]
    prev = record(
        session, actor=actor, action=action, entity_type=entity_type, entity_id=entity_id, after=after
    )
    rows = []
    for actor, entity_id, after in entries[1:]:
        name, user_id = _who(actor)
        rec = AuditRecord(
            id=prev.id + 1,
            at=prev.at,
            actor=name,
            actor_user_id=user_id,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=None,
            after=jsonable(after),
            note=None,
            prev_hash=prev.hash,
        )
        rec.hash = compute_hash(rec)
        rows.append({column: getattr(rec, column) for column in _COLUMNS})
        prev = rec
    if rows:
        session.execute(_INSERT, rows)
        _tails[str(session.get_bind().engine.url)] = (prev.id, prev.hash)


def _who(actor: Principal | Actor | None) -> tuple[str, int | None]:
    if isinstance(actor, Principal):
        return actor.username, actor.user_id
    if isinstance(actor, Actor):
        return actor.name, actor.user_id
    return "system", None


_INSERT = cast(Table, AuditRecord.__table__).insert()
