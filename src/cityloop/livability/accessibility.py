"""Walking time from every residential area to the nearest facility of every type, coverage per
street/town and for the district, and the gaps.

A run is computed for the whole district (it is one fact, whoever asks) and stored; readers see
the rows of their own scope. Times are minutes at the run's walking speed; "covered" means within
the run's threshold (one for all types, or each type's own).
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.errors import NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.livability import engine, service
from cityloop.livability import network as netmod
from cityloop.livability.models import (
    AccessResult,
    AccessRun,
    Facility,
    FacilityType,
    ResidentialArea,
    WalkNetwork,
)
from cityloop.org.models import Unit

ALL_TYPES = "_all"


def check_params(*, minutes: float | None, speed_kmh: float) -> None:
    if minutes is not None and not (0 < minutes <= 120):
        raise ValidationFailed("livability.minutes_invalid", value=minutes)
    if not (0.5 <= speed_kmh <= 10):
        raise ValidationFailed("livability.speed_invalid", value=speed_kmh)


def routing_graph(session: Session) -> tuple[int, engine.Graph]:
    """The active network's routing graph, built once per network row and cached."""
    row = service.active_network(session)
    network_id = row.id
    # Ids alone are not unique over time where a rolled-back insert frees its id (SQLite).
    key = (network_id, row.imported_at.isoformat(), row.node_count, row.edge_count, row.length_km)

    def load() -> netmod.Network:
        data = session.execute(select(WalkNetwork.data).where(WalkNetwork.id == network_id)).scalar_one()
        return netmod.unpack(data)

    return network_id, engine.GRAPHS.get(key, load)


@dataclass(frozen=True)
class Computed:
    areas: list[ResidentialArea]
    types: list[FacilityType]
    facilities: list[Facility]
    nearest: dict[str, engine.Nearest]


def compute(session: Session, *, type_codes: Sequence[str] | None = None) -> tuple[int, Computed]:
    """Nearest-facility metres for every residential area and type (not stored)."""
    types = list(service.list_types(session))
    if type_codes:
        wanted = set(type_codes)
        for code in wanted:
            service.get_type(session, code=code)
        types = [t for t in types if t.code in wanted]
    if not types:
        raise ValidationFailed("livability.no_types")
    areas = list(session.execute(select(ResidentialArea).order_by(ResidentialArea.id)).scalars())
    if not areas:
        raise ValidationFailed("livability.no_areas")
    network_id, graph = routing_graph(session)
    facilities = list(
        session.execute(
            select(Facility)
            .where(Facility.active.is_(True), Facility.type_id.in_([t.id for t in types]))
            .order_by(Facility.id)
        ).scalars()
    )
    type_of = np.array([f.type_id for f in facilities], dtype=np.int64)
    groups = {t.code: np.nonzero(type_of == t.id)[0] for t in types}
    nearest = engine.nearest_facilities(
        graph,
        (np.array([a.lon for a in areas]), np.array([a.lat for a in areas])),
        (np.array([f.lon for f in facilities]), np.array([f.lat for f in facilities])),
        groups,
    )
    return network_id, Computed(areas, types, facilities, nearest)


def run(
    session: Session,
    *,
    actor: Any,
    minutes: float | None = 15.0,
    speed_kmh: float = 4.5,
) -> AccessRun:
    """Compute and store a run. ``minutes=None`` applies each type's own threshold."""
    check_params(minutes=minutes, speed_kmh=speed_kmh)
    started = time.perf_counter()
    network_id, c = compute(session)
    per_minute = engine.metres_per_minute(speed_kmh)
    record = AccessRun(
        network_id=network_id,
        speed_kmh=speed_kmh,
        minutes=minutes,
        area_count=len(c.areas),
        facility_count=len(c.facilities),
        type_codes=[t.code for t in c.types],
        seconds=0.0,
        created_by=service.actor_name(actor),
    )
    session.add(record)
    session.flush()
    rows: list[dict[str, Any]] = []
    for t in c.types:
        near = c.nearest[t.code]
        limit = minutes if minutes is not None else t.threshold_minutes
        mins = near.metres / per_minute
        for i, area in enumerate(c.areas):
            reachable = bool(np.isfinite(mins[i]))
            rows.append(
                {
                    "run_id": record.id,
                    "residential_area_id": area.id,
                    "type_id": t.id,
                    "minutes": round(float(mins[i]), 2) if reachable else None,
                    "facility_id": c.facilities[near.facility[i]].id if reachable else None,
                    "threshold_minutes": float(limit),
                    "covered": bool(reachable and mins[i] <= limit),
                }
            )
    for start in range(0, len(rows), 5000):
        session.execute(insert(AccessResult), rows[start : start + 5000])
    record.seconds = round(time.perf_counter() - started, 3)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="compute",
        entity_type="access_run",
        entity_id=record.id,
        after={"areas": len(c.areas), "types": record.type_codes, "minutes": minutes, "speed_kmh": speed_kmh},
    )
    return record


def latest_run(session: Session) -> AccessRun:
    row = session.execute(select(AccessRun).order_by(AccessRun.id.desc()).limit(1)).scalar_one_or_none()
    if row is None:
        raise NotFound("livability.no_run")
    return row


@dataclass(frozen=True)
class ResultRow:
    area: ResidentialArea
    unit: Unit
    type: FacilityType
    minutes: float | None
    facility: Facility | None
    threshold: float
    covered: bool


def results(
    session: Session, *, run: AccessRun, principal: Principal | None, type_code: str | None = None
) -> list[ResultRow]:
    """The run's rows for the areas in ``principal``'s scope (all when None).

    Areas, types and facilities are loaded once each and the result rows as plain tuples: joining
    them row by row through the ORM took 24 s for 40,000 rows, this takes well under one.
    """
    area_stmt = select(ResidentialArea).join(Unit, ResidentialArea.unit_id == Unit.id)
    if principal is not None:
        area_stmt = area_stmt.where(Unit.path.startswith(principal.scope_path))
    areas = {a.id: a for a in session.execute(area_stmt).scalars()}
    types = {t.id: t for t in session.execute(select(FacilityType)).scalars()}
    stmt = (
        select(
            AccessResult.residential_area_id,
            AccessResult.type_id,
            AccessResult.minutes,
            AccessResult.facility_id,
            AccessResult.threshold_minutes,
            AccessResult.covered,
        )
        .where(AccessResult.run_id == run.id)
        .order_by(AccessResult.residential_area_id, AccessResult.id)
    )
    if type_code:
        stmt = stmt.where(AccessResult.type_id.in_([t.id for t in types.values() if t.code == type_code]))
    raw = [r for r in session.execute(stmt).all() if r[0] in areas]
    wanted = {r[3] for r in raw if r[3] is not None}
    facilities = (
        {f.id: f for f in session.execute(select(Facility).where(Facility.id.in_(wanted))).scalars()}
        if len(wanted) <= 30_000
        else {f.id: f for f in session.execute(select(Facility)).scalars()}
    )
    order = {t.id: (t.sort_order, t.id) for t in types.values()}
    raw.sort(key=lambda r: (r[0], order[r[1]]))
    return [
        ResultRow(
            areas[area_id],
            areas[area_id].unit,
            types[type_id],
            minutes,
            facilities.get(facility_id) if facility_id is not None else None,
            threshold,
            covered,
        )
        for area_id, type_id, minutes, facility_id, threshold, covered in raw
    ]


def coverage(rows: Sequence[ResultRow]) -> list[dict[str, Any]]:
    """Shares of residents and elderly residents covered, per street/town and type, per street/town
    for "all types" (covered by every type), and the same for everything given (``unit`` "*")."""
    # (unit key, type key) -> [areas, covered areas, pop, covered pop, elderly, covered elderly]
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    all_types: dict[int, bool] = {}
    area_unit: dict[int, tuple[ResidentialArea, Unit]] = {}
    names: dict[str, tuple[str, str]] = {"*": ("*", "*")}
    for r in rows:
        area_unit[r.area.id] = (r.area, r.unit)
        all_types[r.area.id] = all_types.get(r.area.id, True) and r.covered
        names[r.unit.code] = (r.unit.name, r.unit.kind)
        for unit_key in (r.unit.code, "*"):
            _add(sums[(unit_key, r.type.code)], r.area, r.covered)
    for area_id, ok in all_types.items():
        area, unit = area_unit[area_id]
        for unit_key in (unit.code, "*"):
            _add(sums[(unit_key, ALL_TYPES)], area, ok)
    out = []
    for (unit_key, type_key), s in sorted(sums.items()):
        out.append(
            {
                "unit": unit_key,
                "unit_name": names[unit_key][0],
                "type": type_key,
                "areas": int(s[0]),
                "areas_covered": int(s[1]),
                "population": int(s[2]),
                "population_covered": int(s[3]),
                "population_share": round(s[3] / s[2], 4) if s[2] else None,
                "elderly": int(s[4]),
                "elderly_covered": int(s[5]),
                "elderly_share": round(s[5] / s[4], 4) if s[4] else None,
            }
        )
    return out


def _add(acc: list[float], area: ResidentialArea, covered: bool) -> None:
    acc[0] += 1
    acc[2] += area.population
    acc[4] += area.elderly_population
    if covered:
        acc[1] += 1
        acc[3] += area.population
        acc[5] += area.elderly_population


CSV_COLUMNS = [
    "residential_area_id",
    "residential_area",
    "street_town",
    "population",
    "elderly_population",
    "facility_type",
    "minutes",
    "nearest_facility_id",
    "nearest_facility",
    "threshold_minutes",
    "covered",
]


def to_csv(rows: Sequence[ResultRow]) -> str:
    """One line per residential area × type; minutes empty when nothing is reachable."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.area.id,
                r.area.name,
                r.unit.name,
                r.area.population,
                r.area.elderly_population,
                r.type.code,
                "" if r.minutes is None else f"{r.minutes:.2f}",
                r.facility.id if r.facility else "",
                r.facility.name if r.facility else "",
                f"{r.threshold:g}",
                "yes" if r.covered else "no",
            ]
        )
    return buf.getvalue()
