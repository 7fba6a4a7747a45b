"""Sensors, readings and dead letters. Keyword-only functions on an explicit session; they flush,
never commit, and audit every change. Networks live in ``networks.py``, warnings in ``alerts.py``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.org.models import Unit
from cityloop.twin.models import DeadLetter, Element, Network, Reading, Sensor, TwinWarning, WarningStatus
from cityloop.twin.rules import CAUSES, default_rules, default_unit, rules_for

Actor = Principal | audit.Actor | None
CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")
SENSOR_KINDS = (
    "pressure",
    "flow",
    "level",
    "demand",  # smart meter (AMR), L/h: calibrates the leak detector's demand model
    "water_level",
    "rainfall",
    "gas",
    "manhole_cover",
    "video_alert",
)


def _rules_path() -> str | None:
    path = get_settings().twin_rules_file
    return str(path) if path else None


def create_sensor(
    session: Session,
    *,
    actor: Actor,
    code: str,
    kind: str,
    network: Network | None,
    unit: Unit | None = None,
    asset_ref: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    name: str | None = None,
    measure_unit: str | None = None,
    rules: dict[str, Any] | None = None,
) -> Sensor:
    """Register a sensor on a network element (placed at it) or at a point."""
    code = code.strip()
    if not CODE_RE.match(code):
        raise ValidationFailed("twin.error.sensor_code", code=code)
    if kind not in SENSOR_KINDS:
        raise ValidationFailed("twin.error.sensor_kind", kind=kind, kinds=", ".join(SENSOR_KINDS))
    if session.execute(select(Sensor.id).where(Sensor.code == code)).first():
        raise Conflict("twin.error.sensor_taken", code=code)
    owner = unit or (network.unit if network else None)
    if owner is None:
        raise ValidationFailed("twin.error.sensor_owner")
    if asset_ref:
        if network is None:
            raise ValidationFailed("twin.error.sensor_asset_needs_network")
        lon, lat = _asset_point(session, network=network, ref=asset_ref, lon=lon, lat=lat)
    if lon is None or lat is None:
        raise ValidationFailed("twin.error.sensor_location")
    _check_rules(kind, rules)
    sensor = Sensor(
        code=code,
        name=name,
        kind=kind,
        measure_unit=measure_unit or default_unit(kind, _rules_path()) or "",
        network_id=network.id if network else None,
        unit_id=owner.id,
        asset_ref=asset_ref,
        lon=lon,
        lat=lat,
        rules=rules or {},
    )
    session.add(sensor)
    session.flush()
    audit.record(
        session, actor=actor, action="create", entity_type="twin_sensor", entity_id=sensor.id,
        after=audit.snapshot(sensor),
    )  # fmt: skip
    return sensor


def _asset_point(
    session: Session, *, network: Network, ref: str, lon: float | None, lat: float | None
) -> tuple[float | None, float | None]:
    element = session.execute(
        select(Element).where(Element.network_id == network.id, Element.ref == ref).order_by(Element.category)
    ).scalar()
    if element is None:
        raise NotFound("twin.error.element_not_found", ref=ref, network=network.name)
    geom = element.geometry or {}
    if lon is None and geom.get("type") == "Point":
        lon, lat = geom["coordinates"]
    elif lon is None and geom.get("type") == "LineString":
        coords = geom["coordinates"]
        mid = coords[len(coords) // 2] if len(coords) > 2 else [
            (coords[0][0] + coords[-1][0]) / 2, (coords[0][1] + coords[-1][1]) / 2
        ]  # fmt: skip
        lon, lat = mid[0], mid[1]
    return lon, lat


def _check_rules(kind: str, rules: dict[str, Any] | None) -> None:
    if not rules:
        return
    try:
        rules_for(kind, rules, _rules_path())
        for cause in rules.get("disable", []):
            if cause not in CAUSES:
                raise ValueError(cause)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationFailed("twin.error.sensor_rules", reason=str(exc)) from None


def sensor_in_scope(session: Session, *, principal: Principal, code: str) -> Sensor:
    sensor = session.execute(select(Sensor).where(Sensor.code == code)).scalar_one_or_none()
    if sensor is None or not principal.sees_path(sensor.unit.path):
        raise NotFound("twin.error.sensor_not_found", code=code)
    return sensor


def list_sensors(
    session: Session, *, principal: Principal, network: Network | None = None
) -> Sequence[Sensor]:
    stmt = (
        select(Sensor).join(Unit, Sensor.unit_id == Unit.id).where(Unit.path.startswith(principal.scope_path))
    )
    if network is not None:
        stmt = stmt.where(Sensor.network_id == network.id)
    return session.execute(stmt.order_by(Sensor.code)).scalars().all()


def readings(
    session: Session, *, sensor: Sensor, since: datetime | None = None, limit: int = 500
) -> Sequence[Reading]:
    """The sensor's readings, newest first."""
    stmt = select(Reading).where(Reading.sensor_id == sensor.id)
    if since is not None:
        stmt = stmt.where(Reading.ts >= since)
    return session.execute(stmt.order_by(Reading.ts.desc()).limit(limit)).scalars().all()


def latest(session: Session, *, sensors: Sequence[Sensor]) -> dict[int, tuple[datetime, float]]:
    """Each sensor's newest reading (one index probe per sensor)."""
    out: dict[int, tuple[datetime, float]] = {}
    for sensor in sensors:
        row = session.execute(
            select(Reading.ts, Reading.value)
            .where(Reading.sensor_id == sensor.id)
            .order_by(Reading.ts.desc())
            .limit(1)
        ).first()
        if row is not None:
            out[sensor.id] = (row[0], row[1])
    return out


def live_state(session: Session, *, sensors: Sequence[Sensor]) -> dict[int, dict[str, Any]]:
    """Latest value and highest open warning level per sensor, for maps and tables."""
    last = latest(session, sensors=sensors)
    levels: dict[int, str] = {}
    if sensors:
        open_rows = session.execute(
            select(TwinWarning.sensor_id, TwinWarning.level).where(
                TwinWarning.status == WarningStatus.open,
                TwinWarning.sensor_id.in_([s.id for s in sensors]),
            )
        )
        from cityloop.twin.models import LEVEL_RANK, Level

        for sid, level in open_rows:
            if sid not in levels or LEVEL_RANK[Level(level)] > LEVEL_RANK[Level(levels[sid])]:
                levels[sid] = level
    return {
        s.id: {
            "ts": last[s.id][0] if s.id in last else None,
            "value": last[s.id][1] if s.id in last else None,
            "level": levels.get(s.id),
        }
        for s in sensors
    }


def silent_sensors(session: Session, *, at: datetime | None = None) -> list[tuple[Sensor, datetime | None]]:
    """Active sensors whose kind has a no-data rule and that have been silent past its window."""
    at = at or now()
    path = _rules_path()
    defaults = default_rules(path)
    out = []
    for sensor in session.execute(select(Sensor).where(Sensor.active.is_(True))).scalars():
        rule = (
            rules_for(sensor.kind, sensor.rules, path).get("no_data")
            if sensor.rules
            else defaults.get(sensor.kind, {}).get("no_data")
        )
        if rule is None:
            continue
        last = session.execute(select(func.max(Reading.ts)).where(Reading.sensor_id == sensor.id)).scalar()
        reference = last or sensor.created_at
        if at - reference >= timedelta(minutes=rule.max_window_min):
            out.append((sensor, last))
    return out


def dead_letters(session: Session, *, limit: int = 200) -> Sequence[DeadLetter]:
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    return session.execute(stmt).scalars().all()
