"""Facility types, facilities, residential areas and the walking network. Keyword-only functions
taking a session; they flush, never commit, and write an audit record for every change (a bulk
import is one change with one record naming its size and source)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import Conflict, NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.livability import network as netmod
from cityloop.livability.defaults import DEFAULT_TYPES
from cityloop.livability.models import Facility, FacilityType, ResidentialArea, WalkNetwork
from cityloop.livability.points import PointRow, RowErrors, prop, read_points
from cityloop.org.models import Unit
from cityloop.resources.places import Locator, locator

Actor = Principal | audit.Actor | None
CATEGORIES = ("basic", "quality", "feature")
# The network kept around the district: walks that cross its outline still count.
CLIP_BUFFER_DEG = 0.02  # ≈ 2 km


def actor_name(actor: Actor) -> str:
    if isinstance(actor, Principal):
        return actor.username
    return actor.name if isinstance(actor, audit.Actor) else "system"


def in_scope(unit: Unit, principal: Principal | None) -> bool:
    return principal is None or principal.sees_path(unit.path)


# --- facility types ------------------------------------------------------------------------------


def list_types(session: Session, *, active_only: bool = True) -> Sequence[FacilityType]:
    stmt = select(FacilityType).order_by(FacilityType.sort_order, FacilityType.id)
    if active_only:
        stmt = stmt.where(FacilityType.active.is_(True))
    return session.execute(stmt).scalars().all()


def get_type(session: Session, *, code: str) -> FacilityType:
    row = session.execute(select(FacilityType).where(FacilityType.code == code)).scalar_one_or_none()
    if row is None or not row.active:
        configured = ", ".join(t.code for t in list_types(session)) or "-"
        raise ValidationFailed("livability.type_unknown", code=code, configured=configured)
    return row


def _check_type_values(threshold_minutes: float, category: str) -> None:
    if not (math.isfinite(threshold_minutes) and 0 < threshold_minutes <= 120):
        raise ValidationFailed("livability.threshold_invalid", value=threshold_minutes)
    if category not in CATEGORIES:
        raise ValidationFailed("livability.category_invalid", value=category, allowed=", ".join(CATEGORIES))


def create_type(
    session: Session,
    *,
    actor: Actor,
    code: str,
    name: str,
    name_en: str,
    threshold_minutes: float,
    category: str = "basic",
    for_elderly: bool = False,
    basis: str | None = None,
    sort_order: int = 0,
) -> FacilityType:
    code = code.strip()
    _check_type_values(threshold_minutes, category)
    if session.execute(select(FacilityType.id).where(FacilityType.code == code)).first():
        raise Conflict("livability.type_exists", code=code)
    row = FacilityType(
        code=code,
        name=name.strip(),
        name_en=name_en.strip(),
        threshold_minutes=float(threshold_minutes),
        category=category,
        for_elderly=for_elderly,
        basis=basis,
        sort_order=sort_order,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="facility_type",
        entity_id=row.id,
        after=audit.snapshot(row),
    )
    return row


def update_type(session: Session, *, actor: Actor, row: FacilityType, **changes: Any) -> FacilityType:
    before = audit.snapshot(row)
    allowed = {"name", "name_en", "threshold_minutes", "category", "for_elderly", "basis", "active"}
    for key in changes:
        if key not in allowed:
            raise ValidationFailed("error.unknown_field", field=key)
    _check_type_values(
        float(changes.get("threshold_minutes", row.threshold_minutes)), changes.get("category", row.category)
    )
    for key, value in changes.items():
        setattr(row, key, value)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="facility_type",
        entity_id=row.id,
        before=before,
        after=audit.snapshot(row),
    )
    return row


def load_default_types(session: Session, *, actor: Actor) -> list[FacilityType]:
    """Create the default types that are not configured yet; returns the ones created."""
    have = {t.code for t in list_types(session, active_only=False)}
    return [
        create_type(session, actor=actor, sort_order=i, **d.__dict__)
        for i, d in enumerate(DEFAULT_TYPES)
        if d.code not in have
    ]


# --- facilities ------------------------------------------------------------------------------------


def _checked_name(name: Any, errors: RowErrors, row: int, column: str) -> str:
    text = str(name or "").strip()
    if not text:
        errors.add(row, column, "missing")
    elif len(text) > 200:
        errors.add(row, column, "longer than 200 characters")
    return text


def create_facility(
    session: Session,
    *,
    actor: Actor,
    principal: Principal | None,
    type_code: str,
    name: str,
    lon: float,
    lat: float,
    address: str | None = None,
) -> Facility:
    ftype = get_type(session, code=type_code)
    unit = locator(session).require(lon, lat)
    if not in_scope(unit, principal):
        raise ValidationFailed("places.outside_scope", place=unit.name)
    row = Facility(type_id=ftype.id, name=name.strip(), lon=lon, lat=lat, unit_id=unit.id, address=address)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="facility",
        entity_id=row.id,
        after=audit.snapshot(row),
    )
    return row


def list_facilities(session: Session, *, type_code: str | None = None) -> Sequence[Facility]:
    """Every active facility (a public directory, not scoped), optionally of one type."""
    stmt = select(Facility).where(Facility.active.is_(True)).order_by(Facility.type_id, Facility.id)
    if type_code:
        stmt = stmt.where(Facility.type_id == get_type(session, code=type_code).id)
    return session.execute(stmt).scalars().all()


def get_facility(session: Session, *, facility_id: int, principal: Principal | None) -> Facility:
    row = session.get(Facility, facility_id)
    if row is None or not row.active or not in_scope(row.unit, principal):
        raise NotFound("livability.facility_not_found", id=facility_id)
    return row


def retire_facility(session: Session, *, actor: Actor, row: Facility) -> None:
    row.active = False
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="retire",
        entity_type="facility",
        entity_id=row.id,
        after={"active": False},
    )


def import_facilities(
    session: Session,
    *,
    actor: Actor,
    principal: Principal | None,
    data: bytes,
    filename: str,
    fixed_type: str | None = None,
    type_field: str = "type",
    type_map: dict[str, str] | None = None,
    name_field: str = "name",
    crs: str = "wgs84",
    replace: bool = False,
    schematic: bool = False,
) -> int:
    """Facilities from a point file; all rows checked first, nothing saved if any row is bad.

    The type of a row is ``fixed_type``, or its ``type_field`` property translated by ``type_map``
    (source value → configured type code). ``replace`` retires the existing facilities of the types
    in the file first. Returns the number imported.
    """
    rows = read_points(data, filename=filename, crs=crs)
    types = {t.code: t for t in list_types(session)}
    if fixed_type is not None and fixed_type not in types:
        raise ValidationFailed("livability.type_unknown", code=fixed_type, configured=", ".join(types) or "-")
    where = locator(session)
    errors = RowErrors()
    planned: list[Facility] = []
    for r in rows:
        raw_type = fixed_type or prop(r.props, type_field)
        code = (type_map or {}).get(str(raw_type), str(raw_type)) if raw_type is not None else None
        name = _checked_name(prop(r.props, name_field, "名称", "name"), errors, r.row, name_field)
        unit = _place(where, r, principal, errors)
        if code not in types:
            errors.add(r.row, type_field, f"facility type {raw_type!r} is not configured")
            continue
        if unit is not None and name:
            planned.append(
                Facility(
                    type_id=types[code].id,
                    name=name,
                    lon=r.lon,
                    lat=r.lat,
                    unit_id=unit.id,
                    address=prop(r.props, "address", "地址"),
                    external_id=_text(prop(r.props, "id", "external_id", "编号")),
                    source=Path(filename).name[:120],
                    schematic=schematic,
                )
            )
    errors.raise_if_any()
    if replace:
        type_ids = {f.type_id for f in planned}
        session.execute(
            update(Facility)
            .where(Facility.type_id.in_(type_ids), Facility.active.is_(True))
            .values(active=False)
        )
    session.add_all(planned)
    session.flush()
    by_type: dict[str, int] = {}
    codes = {t.id: c for c, t in types.items()}
    for f in planned:
        by_type[codes[f.type_id]] = by_type.get(codes[f.type_id], 0) + 1
    audit.record(
        session,
        actor=actor,
        action="import",
        entity_type="facility",
        entity_id=f"{planned[0].id}-{planned[-1].id}",
        after={"count": len(planned), "by_type": by_type, "source": filename, "replace": replace},
    )
    return len(planned)


def _text(value: Any) -> str | None:
    return str(value)[:80] if value not in (None, "") else None


def _place(where: Locator, r: PointRow, principal: Principal | None, errors: RowErrors) -> Unit | None:
    unit = where.unit_for(r.lon, r.lat)
    if unit is None:
        errors.add(r.row, "lon/lat", f"({r.lon:.6f}, {r.lat:.6f}) is outside the district")
        return None
    if not in_scope(unit, principal):
        errors.add(r.row, "lon/lat", f"in {unit.name}, outside your area")
        return None
    return unit


# --- residential areas -------------------------------------------------------------------------------


def _check_people(population: Any, elderly: Any, errors: RowErrors, row: int) -> tuple[int, int] | None:
    values = []
    for column, value in (("population", population), ("elderly_population", elderly)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            errors.add(row, column, "not a number")
            return None
        if not math.isfinite(number) or number < 0 or number != int(number):
            errors.add(row, column, "must be a whole number ≥ 0")
            return None
        values.append(int(number))
    if values[1] > values[0]:
        errors.add(row, "elderly_population", "larger than the population")
        return None
    return values[0], values[1]


def create_residential_area(
    session: Session,
    *,
    actor: Actor,
    principal: Principal | None,
    name: str,
    lon: float,
    lat: float,
    population: int,
    elderly_population: int,
) -> ResidentialArea:
    errors = RowErrors()
    people = _check_people(population, elderly_population, errors, 1)
    if people is None:
        item = errors.items[0]
        raise ValidationFailed("livability.people_invalid", column=item["column"], problem=item["problem"])
    unit = locator(session).require(lon, lat)
    if not in_scope(unit, principal):
        raise ValidationFailed("places.outside_scope", place=unit.name)
    row = ResidentialArea(
        name=name.strip(),
        lon=lon,
        lat=lat,
        population=people[0],
        elderly_population=people[1],
        unit_id=unit.id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="residential_area",
        entity_id=row.id,
        after=audit.snapshot(row),
    )
    return row


def update_residential_area(
    session: Session, *, actor: Actor, row: ResidentialArea, **changes: Any
) -> ResidentialArea:
    before = audit.snapshot(row)
    for key in changes:
        if key not in {"name", "population", "elderly_population"}:
            raise ValidationFailed("error.unknown_field", field=key)
    errors = RowErrors()
    people = _check_people(
        changes.get("population", row.population),
        changes.get("elderly_population", row.elderly_population),
        errors,
        1,
    )
    if people is None:
        item = errors.items[0]
        raise ValidationFailed("livability.people_invalid", column=item["column"], problem=item["problem"])
    row.population, row.elderly_population = people
    if changes.get("name"):
        row.name = str(changes["name"]).strip()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="residential_area",
        entity_id=row.id,
        before=before,
        after=audit.snapshot(row),
    )
    return row


def list_residential_areas(session: Session, *, principal: Principal | None) -> Sequence[ResidentialArea]:
    stmt = select(ResidentialArea).join(Unit, ResidentialArea.unit_id == Unit.id).order_by(ResidentialArea.id)
    if principal is not None:
        stmt = stmt.where(Unit.path.startswith(principal.scope_path))
    return session.execute(stmt).scalars().all()


def get_residential_area(session: Session, *, area_id: int, principal: Principal | None) -> ResidentialArea:
    row = session.get(ResidentialArea, area_id)
    if row is None or not in_scope(row.unit, principal):
        raise NotFound("livability.area_not_found", id=area_id)
    return row


def import_residential_areas(
    session: Session,
    *,
    actor: Actor,
    principal: Principal | None,
    data: bytes,
    filename: str,
    crs: str = "wgs84",
    replace: bool = False,
    schematic: bool = False,
) -> int:
    """Residential areas (name, population, elderly_population) from a point file; all or nothing.

    ``replace`` deletes the existing areas in the caller's scope first (their results go with them).
    """
    rows = read_points(data, filename=filename, crs=crs)
    where = locator(session)
    errors = RowErrors()
    planned = []
    for r in rows:
        name = _checked_name(prop(r.props, "name", "名称", "小区"), errors, r.row, "name")
        people = _check_people(
            prop(r.props, "population", "人口", "常住人口"),
            prop(r.props, "elderly_population", "elderly", "老年人口", "60岁以上人口"),
            errors,
            r.row,
        )
        unit = _place(where, r, principal, errors)
        if unit is not None and people is not None and name:
            planned.append(
                ResidentialArea(
                    name=name,
                    lon=r.lon,
                    lat=r.lat,
                    population=people[0],
                    elderly_population=people[1],
                    unit_id=unit.id,
                    external_id=_text(prop(r.props, "id", "external_id", "编号")),
                    source=Path(filename).name[:120],
                    schematic=schematic,
                )
            )
    errors.raise_if_any()
    removed = 0
    if replace:
        ids = [a.id for a in list_residential_areas(session, principal=principal)]
        if ids:
            session.execute(delete(ResidentialArea).where(ResidentialArea.id.in_(ids)))
            removed = len(ids)
    session.add_all(planned)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import",
        entity_type="residential_area",
        entity_id=f"{planned[0].id}-{planned[-1].id}",
        after={"count": len(planned), "removed": removed, "source": filename},
    )
    return len(planned)


# --- walking network -------------------------------------------------------------------------------------


def active_network(session: Session) -> WalkNetwork:
    row = session.execute(
        select(WalkNetwork).where(WalkNetwork.active.is_(True)).order_by(WalkNetwork.id.desc()).limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("livability.no_network")
    return row


def store_network(
    session: Session,
    *,
    actor: Actor,
    network: netmod.Network,
    name: str,
    source: str,
    schematic: bool = False,
) -> WalkNetwork:
    """Clip ``network`` to the district (plus a margin), store it and make it the active one."""
    district = locator(session)
    if district.outline is not None:
        network = netmod.clip(network, district.outline.buffer(CLIP_BUFFER_DEG))
        if network.edge_count == 0:
            raise ValidationFailed("livability.network.outside", path=source)
    session.execute(update(WalkNetwork).where(WalkNetwork.active.is_(True)).values(active=False))
    row = WalkNetwork(
        name=name[:200],
        source=source[:300],
        format_version=netmod.FORMAT_VERSION,
        node_count=network.node_count,
        edge_count=network.edge_count,
        length_km=round(float(network.length_m.sum()) / 1000.0, 3),
        bbox=network.bbox(),
        data=netmod.pack(network),
        schematic=schematic,
        imported_by=actor_name(actor),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="import",
        entity_type="walk_network",
        entity_id=row.id,
        after={k: getattr(row, k) for k in ("name", "source", "node_count", "edge_count", "length_km")},
    )
    return row


def import_network(session: Session, *, actor: Actor, path: Path) -> WalkNetwork:
    """Read an OSM XML/PBF file's walking ways and store them (see :func:`store_network`)."""
    try:
        network = netmod.read_osm(path)
    except netmod.NetworkError as exc:
        raise ValidationFailed(exc.key, **exc.params) from exc
    return store_network(session, actor=actor, network=network, name=path.stem, source=path.name)


def network_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(WalkNetwork)) or 0)


def area_shape(unit: Unit) -> Any:
    return shape(unit.geometry) if unit.geometry else None
