"""Append-only audit trail, chained by hash.

Each record stores the SHA-256 of its own canonical content plus the previous record's hash, so
editing or deleting any row breaks the chain at that point; ``cityloop audit verify`` walks it and
names the first broken link. Appends are serialised so the chain never forks: on PostgreSQL with a
transaction-scoped advisory lock, on SQLite by the database's single writer (write sessions begin
IMMEDIATE, see ``core.db``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, inspect, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from cityloop.core.clock import now
from cityloop.core.db import Base, BigId, JSONDoc, UTCDateTime, is_postgresql
from cityloop.core.permissions import Principal

GENESIS = "0" * 64
_ADVISORY_KEY = 7_317_001  # arbitrary constant: "the audit chain" lock on PostgreSQL
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
    """Append one audit record in the caller's transaction."""
    session.flush()  # the entity's own changes first: on SQLite this also holds the write lock
    if is_postgresql(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    actor_id: int | None
    if isinstance(actor, Principal):
        actor_name, actor_id = actor.username, actor.user_id
    elif isinstance(actor, Actor):
        actor_name, actor_id = actor.name, actor.user_id
    else:
        actor_name, actor_id = "system", None
    prev = session.execute(select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)).scalar()
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
        prev_hash=prev or GENESIS,
        hash="pending",
    )
    # The placeholder must be unique until the real hash is known.
    rec.hash = "pending-" + hashlib.sha256(str(id(rec)).encode() + str(now()).encode()).hexdigest()[:48]
    session.add(rec)
    session.flush()  # assigns the id, which the hash covers
    rec.hash = compute_hash(rec)
    session.flush()
    return rec


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
