"""Warnings in the database: open, escalate, lower, resolve — each step an event and an audit record.

At most one warning per (sensor, cause) is open, enforced by the unique ``open_key``; a second
process that tries to open the same one fails its transaction and retries against the stored row.
An orange or red warning is marked ``case_state = pending``; the worker then computes its impact
plan and hands it to the case loop (see ``jobs.py``, ``case_bridge.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import NotFound
from cityloop.core.permissions import Principal
from cityloop.org.models import Unit
from cityloop.twin.models import (
    LEVEL_RANK,
    Level,
    Sensor,
    TwinWarning,
    WarningEvent,
    WarningStatus,
)
from cityloop.twin.rules import CauseRule, Step

Actor = Principal | audit.Actor | None
CASE_LEVEL = LEVEL_RANK[Level.orange]


def open_warnings(session: Session, *, sensor_ids: Iterable[int]) -> dict[tuple[int, str], TwinWarning]:
    ids = list(set(sensor_ids))
    if not ids:
        return {}
    stmt = select(TwinWarning).where(TwinWarning.status == WarningStatus.open, TwinWarning.sensor_id.in_(ids))
    return {(w.sensor_id, w.cause): w for w in session.execute(stmt).scalars()}


class OpenLevel(NamedTuple):
    id: int
    level: str
    normal_since: datetime | None


def open_warning_levels(session: Session, *, sensor_ids: Iterable[int]) -> dict[tuple[int, str], OpenLevel]:
    """(sensor, cause) → level and countdown of the open warnings: a light read for the ingest's
    fast path (the ORM rows are loaded only for sensors whose warnings may change)."""
    ids = list(set(sensor_ids))
    if not ids:
        return {}
    stmt = select(
        TwinWarning.sensor_id, TwinWarning.cause, TwinWarning.id, TwinWarning.level, TwinWarning.normal_since
    ).where(TwinWarning.status == WarningStatus.open, TwinWarning.sensor_id.in_(ids))
    rows = session.execute(stmt)
    return {(sid, cause): OpenLevel(wid, level, since) for sid, cause, wid, level, since in rows}


def _event(
    session: Session, warning: TwinWarning, event: str, at: datetime, value: float | None, note: str = ""
) -> None:
    session.add(
        WarningEvent(
            warning_id=warning.id, at=at, event=event, level=warning.level, value=value, note=note or None
        )
    )


def apply(
    session: Session,
    *,
    actor: Actor,
    sensor: Sensor,
    cause: str,
    rule: CauseRule,
    step: Step,
    warning: TwinWarning | None,
    value: float | None,
    ts: datetime,
) -> TwinWarning | None:
    """Carry out one decided step; returns the warning (new or changed) or None."""
    if step.action == "none":
        return warning
    if step.action == "open":
        assert step.level is not None
        return _open(session, actor=actor, sensor=sensor, cause=cause, level=step.level, value=value, ts=ts)
    assert warning is not None
    before = {"level": warning.level, "status": warning.status, "normal_since": warning.normal_since}
    warning.last_value, warning.last_at = value, ts
    if step.action in ("escalate", "lower", "relapse"):
        assert step.level is not None
        warning.level = step.level
        warning.normal_since = None
        if LEVEL_RANK[Level(step.level)] > LEVEL_RANK[Level(warning.max_level)]:
            warning.max_level = step.level
        _maybe_case(warning)
    elif step.action == "normal":
        warning.normal_since = ts
    elif step.action == "resolve":
        warning.status = WarningStatus.resolved
        warning.resolved_at = ts
        warning.open_key = None
    session.flush()
    _event(session, warning, step.action, ts, value)
    audit.record(
        session,
        actor=actor,
        action=f"warning_{step.action}",
        entity_type="twin_warning",
        entity_id=warning.id,
        before=before,
        after={"level": warning.level, "status": warning.status, "normal_since": warning.normal_since},
    )
    return warning


def _open(
    session: Session,
    *,
    actor: Actor,
    sensor: Sensor,
    cause: str,
    level: Level,
    value: float | None,
    ts: datetime,
) -> TwinWarning:
    warning = TwinWarning(
        sensor_id=sensor.id,
        network_id=sensor.network_id,
        cause=cause,
        level=level,
        max_level=level,
        status=WarningStatus.open,
        open_key=f"{sensor.id}:{cause}",
        opened_at=ts,
        stored_at=now(),
        last_value=value,
        last_at=ts,
        message=f"{sensor.code} {cause} {value if value is not None else ''} {sensor.measure_unit}".strip(),
        case_state="none",
    )
    _maybe_case(warning)
    session.add(warning)
    session.flush()
    _event(session, warning, "open", ts, value)
    audit.record(
        session,
        actor=actor,
        action="warning_open",
        entity_type="twin_warning",
        entity_id=warning.id,
        after=audit.snapshot(warning, exclude={"impact"}),
    )
    return warning


def _maybe_case(warning: TwinWarning) -> None:
    if warning.case_state == "none" and LEVEL_RANK[Level(warning.level)] >= CASE_LEVEL:
        warning.case_state = "pending"


# --- reading warnings back ------------------------------------------------------------------------


def list_warnings(
    session: Session,
    *,
    principal: Principal,
    status: str | None = None,
    network_id: int | None = None,
    limit: int = 200,
) -> Sequence[TwinWarning]:
    stmt = (
        select(TwinWarning)
        .join(Sensor, TwinWarning.sensor_id == Sensor.id)
        .join(Unit, Sensor.unit_id == Unit.id)
        .where(Unit.path.startswith(principal.scope_path))
    )
    if status:
        stmt = stmt.where(TwinWarning.status == status)
    if network_id is not None:
        stmt = stmt.where(TwinWarning.network_id == network_id)
    return session.execute(stmt.order_by(TwinWarning.id.desc()).limit(limit)).scalars().all()


def warning_in_scope(session: Session, *, principal: Principal, warning_id: int) -> TwinWarning:
    warning = session.get(TwinWarning, warning_id)
    if warning is None or not principal.sees_path(warning.sensor.unit.path):
        raise NotFound("twin.error.warning_not_found", ref=warning_id)
    return warning


def events(session: Session, *, warning: TwinWarning) -> Sequence[WarningEvent]:
    stmt = select(WarningEvent).where(WarningEvent.warning_id == warning.id).order_by(WarningEvent.id)
    return session.execute(stmt).scalars().all()


def normal_for(rule_minutes: float, since: datetime | None, at: datetime) -> bool:
    return since is not None and at - since >= timedelta(minutes=rule_minutes)
