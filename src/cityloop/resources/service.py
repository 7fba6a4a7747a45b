"""Idle spaces and industrial/office buildings. Keyword-only functions taking a session; they flush,
never commit, and write an audit record for every change."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityloop.core.permissions import Principal, Role
from cityloop.org.models import Unit
from cityloop.resources.models import Building, BuildingReport, IdleSpace
from cityloop.resources.places import locator

Actor = Principal | audit.Actor | None
CONDITIONS = ("good", "fair", "poor")
BUILDING_KINDS = ("office", "industrial", "mixed")
PERIOD_RE = re.compile(r"^[0-9]{4}(-(Q[1-4]|0[1-9]|1[0-2]))?\Z")

# Idle-space status machine: (from, action) -> (to, roles allowed). One table, one place.
IDLE_TRANSITIONS: dict[tuple[str, str], tuple[str, frozenset[Role]]] = {
    ("idle", "plan"): ("planned", frozenset({Role.admin, Role.supervisor, Role.street})),
    ("planned", "start_use"): ("in_use", frozenset({Role.admin, Role.supervisor, Role.street})),
    ("planned", "drop_plan"): ("idle", frozenset({Role.admin, Role.supervisor, Role.street})),
    ("in_use", "vacate"): ("idle", frozenset({Role.admin, Role.supervisor, Role.street})),
}
IDLE_STATUSES = ("idle", "planned", "in_use")


def in_scope(unit: Unit, principal: Principal | None) -> bool:
    return principal is None or principal.sees_path(unit.path)


def _positive(value: Any, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("resources.number_invalid", field=field) from exc
    if not math.isfinite(number) or number <= 0:
        raise ValidationFailed("resources.number_invalid", field=field)
    return number


def _place(session: Session, lon: float, lat: float, principal: Principal | None) -> Unit:
    unit = locator(session).require(lon, lat)
    if not in_scope(unit, principal):
        raise ValidationFailed("places.outside_scope", place=unit.name)
    return unit


# --- idle spaces ---------------------------------------------------------------------------------


def create_idle_space(
    session: Session,
    *,
    actor: Actor,
    principal: Principal | None,
    name: str,
    lon: float,
    lat: float,
    area_m2: float,
    owner: str,
    condition: str,
    intended_use: str | None = None,
    note: str | None = None,
    schematic: bool = False,
) -> IdleSpace:
    if not name.strip() or not owner.strip():
        raise ValidationFailed("error.required_field", field="name/owner")
    if condition not in CONDITIONS:
        raise ValidationFailed("resources.condition_invalid", value=condition, allowed=", ".join(CONDITIONS))
    row = IdleSpace(
        name=name.strip(),
        lon=lon,
        lat=lat,
        unit_id=_place(session, lon, lat, principal).id,
        area_m2=_positive(area_m2, "area_m2"),
        owner=owner.strip(),
        condition=condition,
        status="idle",
        intended_use=(intended_use or "").strip() or None,
        note=note,
        schematic=schematic,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="idle_space",
        entity_id=row.id,
        after=audit.snapshot(row),
    )
    return row


def list_idle_spaces(
    session: Session, *, principal: Principal | None, status: str | None = None
) -> Sequence[IdleSpace]:
    stmt = select(IdleSpace).join(Unit, IdleSpace.unit_id == Unit.id).order_by(IdleSpace.id)
    if principal is not None:
        stmt = stmt.where(Unit.path.startswith(principal.scope_path))
    if status:
        if status not in IDLE_STATUSES:
            raise ValidationFailed("resources.status_invalid", value=status, allowed=", ".join(IDLE_STATUSES))
        stmt = stmt.where(IdleSpace.status == status)
    return session.execute(stmt).scalars().all()


def get_idle_space(session: Session, *, space_id: int, principal: Principal | None) -> IdleSpace:
    row = session.get(IdleSpace, space_id)
    if row is None or not in_scope(row.unit, principal):
        raise NotFound("resources.idle_not_found", id=space_id)
    return row


def update_idle_space(
    session: Session, *, actor: Actor, row: IdleSpace, expected_version: int | None = None, **changes: Any
) -> IdleSpace:
    if expected_version is not None and expected_version != row.version:
        raise Conflict("error.stale_version", current=row.version)
    before = audit.snapshot(row)
    for key, value in changes.items():
        if key not in {"name", "area_m2", "owner", "condition", "intended_use", "note"}:
            raise ValidationFailed("error.unknown_field", field=key)
        if key == "condition" and value not in CONDITIONS:
            raise ValidationFailed("resources.condition_invalid", value=value, allowed=", ".join(CONDITIONS))
        if key == "area_m2":
            value = _positive(value, "area_m2")
        if key in ("name", "owner") and not str(value).strip():
            raise ValidationFailed("error.required_field", field=key)
        setattr(row, key, value)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="idle_space",
        entity_id=row.id,
        before=before,
        after=audit.snapshot(row),
    )
    return row


def delete_idle_space(session: Session, *, actor: Actor, row: IdleSpace) -> None:
    """Remove a wrongly registered idle space (siting plans keep their site, without the link)."""
    before = audit.snapshot(row)
    session.delete(row)
    session.flush()
    audit.record(
        session, actor=actor, action="delete", entity_type="idle_space", entity_id=before["id"], before=before
    )


def change_idle_status(
    session: Session, *, actor: Actor, principal: Principal | None, row: IdleSpace, action: str
) -> IdleSpace:
    """Apply ``action`` (plan, start_use, drop_plan, vacate) if the transition table allows it."""
    rule = IDLE_TRANSITIONS.get((row.status, action))
    if rule is None:
        raise Conflict("resources.transition_invalid", status=row.status, action=action)
    to, roles = rule
    if principal is not None and principal.role not in roles:
        raise Forbidden("error.forbidden_permission", permission=f"idle_space.{action}")
    before = row.status
    row.status = to
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type="idle_space",
        entity_id=row.id,
        before={"status": before},
        after={"status": to},
    )
    return row


# --- buildings --------------------------------------------------------------------------------------


def create_building(
    session: Session,
    *,
    actor: Actor,
    principal: Principal | None,
    code: str,
    name: str,
    lon: float,
    lat: float,
    floor_area_m2: float,
    kind: str = "office",
    address: str | None = None,
    operator: str | None = None,
    schematic: bool = False,
) -> Building:
    code = code.strip()
    if not code or not name.strip():
        raise ValidationFailed("error.required_field", field="code/name")
    if kind not in BUILDING_KINDS:
        raise ValidationFailed("resources.kind_invalid", value=kind, allowed=", ".join(BUILDING_KINDS))
    if session.execute(select(Building.id).where(Building.code == code)).first():
        raise Conflict("resources.building_exists", code=code)
    row = Building(
        code=code,
        name=name.strip(),
        kind=kind,
        address=address,
        lon=lon,
        lat=lat,
        unit_id=_place(session, lon, lat, principal).id,
        floor_area_m2=_positive(floor_area_m2, "floor_area_m2"),
        operator=operator,
        schematic=schematic,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="building",
        entity_id=row.id,
        after=audit.snapshot(row),
    )
    return row


def list_buildings(session: Session, *, principal: Principal | None) -> Sequence[Building]:
    stmt = select(Building).join(Unit, Building.unit_id == Unit.id).order_by(Building.code)
    if principal is not None:
        stmt = stmt.where(Unit.path.startswith(principal.scope_path))
    return session.execute(stmt).scalars().all()


def get_building(session: Session, *, code: str, principal: Principal | None) -> Building:
    row = session.execute(select(Building).where(Building.code == code)).scalar_one_or_none()
    if row is None or not in_scope(row.unit, principal):
        raise NotFound("resources.building_not_found", code=code)
    return row


def check_period(period: str) -> str:
    period = period.strip()
    if not PERIOD_RE.match(period):
        raise ValidationFailed("resources.period_invalid", value=period)
    return period


def put_report(
    session: Session, *, actor: Actor, building: Building, period: str, values: dict[str, float], source: str
) -> BuildingReport:
    """Set a building's indicator values for a period (replaces that period's values)."""
    period = check_period(period)
    for key, value in values.items():
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValidationFailed("resources.value_invalid", indicator=key, value=value)
    row = session.execute(
        select(BuildingReport).where(
            BuildingReport.building_id == building.id, BuildingReport.period == period
        )
    ).scalar_one_or_none()
    before = dict(row.values) if row else None
    if row is None:
        row = BuildingReport(building_id=building.id, period=period, values=dict(values), source=source)
        session.add(row)
    else:
        row.values = dict(values)
        row.source = source
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="report",
        entity_type="building",
        entity_id=building.id,
        before={"period": period, "values": before} if before else None,
        after={"period": period, "values": row.values},
    )
    return row


def periods(session: Session) -> list[str]:
    rows = session.execute(select(BuildingReport.period).distinct()).scalars().all()
    return sorted(rows, reverse=True)


def reports(
    session: Session, *, period: str | None = None, building_id: int | None = None
) -> list[BuildingReport]:
    stmt = select(BuildingReport).order_by(BuildingReport.period, BuildingReport.building_id)
    if period is not None:
        stmt = stmt.where(BuildingReport.period == period)
    if building_id is not None:
        stmt = stmt.where(BuildingReport.building_id == building_id)
    return list(session.execute(stmt).scalars())
