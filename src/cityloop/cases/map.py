"""The queue map: every case matching the queue's filters inside the map's box, as GeoJSON.

Few cases (≤ ``POINT_LIMIT``) come back as points; more come back as grid clusters, the count of cases per
map cell. Cells are the tiles of zoom level z + 2 (about 64 px on screen at zoom z), so clusters stay put
while the map pans. A cell's count is one range scan of ``ix_cases_map`` (``map_cell`` is a Morton key, so
a cell at any level is one key range; cases/mapcells.py) with the queue's filters checked on the index
entries: a million cases are counted without reading a table row and without sorting them.

Scope is the queue's (``scope.read_clause``); the filters are the queue's (``queue.apply_filters``), so the
map and the list always agree on which cases match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, column, func, or_, select, values
from sqlalchemy.orm import Session

from cityloop.cases import mapcells, queue
from cityloop.cases.models import Case, Category
from cityloop.cases.scope import read_clause
from cityloop.cases.states import OPEN_STATES
from cityloop.core.clock import now
from cityloop.core.errors import ValidationFailed
from cityloop.core.permissions import Principal

POINT_LIMIT = 500  # more matches than this in the box: clusters
MAX_CELLS = 4096  # a box at its zoom may hold at most this many cells (a screen holds a few hundred)
MAX_ZOOM = 22
CELL_ZOOM_OFFSET = 2  # cells of zoom z + 2: a quarter tile, 64 px


@dataclass(frozen=True)
class Box:
    west: float
    south: float
    east: float
    north: float


def parse_bbox(text: str | None) -> Box:
    """``west,south,east,north`` in degrees (WGS 84), as Leaflet's ``getBounds().toBBoxString()``."""
    if not text or not text.strip():
        raise ValidationFailed(
            "cases.error.map_bbox", error_code="bbox_invalid", details={"bbox": text or ""}
        )
    try:
        parts = [float(v) for v in text.split(",")]
    except ValueError:
        parts = []
    ok = len(parts) == 4 and all(math.isfinite(v) for v in parts)
    if ok:
        w, s, e, n = parts
        ok = -180 <= w < e <= 180 and -90 <= s < n <= 90
    if not ok:
        raise ValidationFailed(
            "cases.error.map_bbox", error_code="bbox_invalid", details={"bbox": text[:100]}
        )
    return Box(*parts)


def check_zoom(zoom: int) -> int:
    if not 0 <= zoom <= MAX_ZOOM:
        raise ValidationFailed(
            "cases.error.map_zoom", max=MAX_ZOOM, error_code="zoom_invalid", details={"zoom": zoom}
        )
    return zoom


def cells(box: Box, level: int) -> list[tuple[int, int]]:
    """The tiles of zoom ``level`` the box touches (x west→east, y north→south)."""
    x0, y1 = mapcells.tile_xy(box.west, box.south, level)
    x1, y0 = mapcells.tile_xy(box.east, box.north, level)
    count = (x1 - x0 + 1) * (y1 - y0 + 1)
    if count > MAX_CELLS:
        raise ValidationFailed(
            "cases.error.map_too_large",
            cells=count,
            max=MAX_CELLS,
            error_code="bbox_too_large",
            details={"cells": count, "max_cells": MAX_CELLS},
        )
    return [(x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


def _filtered(session: Session, stmt: Any, principal: Principal, f: queue.CaseFilter) -> Any:
    return queue.apply_filters(session, stmt.where(read_clause(session, principal)), f)


def only_open(f: queue.CaseFilter) -> bool:
    """Whether the filters keep open cases only (then ``apply_filters`` states ``OPEN`` literally)."""
    if f.overdue is True:
        return True
    if not f.states:
        return False
    wanted: set[str] = set()
    for s in f.states:
        wanted |= {x.value for x in OPEN_STATES} if s == "open" else ({"closed"} if s == "closed" else {s})
    return wanted <= {x.value for x in OPEN_STATES}


def counts(
    session: Session, principal: Principal, f: queue.CaseFilter, level: int, tiles: list[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """Matching cases per tile: one query, a correlated count (one index range) per tile."""
    ranges = [(i, *mapcells.key_range(x, y, level)) for i, (x, y) in enumerate(tiles)]
    r = (
        values(column("k", Integer), column("lo", BigInteger), column("hi", BigInteger), name="map_tiles")
        .data(ranges)
        .cte("map_tiles")
    )
    inner = _filtered(session, select(func.count()).select_from(Case), principal, f)
    # SQLite's planner, given a million rows' statistics, prefers a partial index on open cases (by due
    # time, place …) and then scans all of them once per tile; the key range is always the better path.
    index = "ix_cases_open_map" if only_open(f) else "ix_cases_map"
    inner = inner.with_hint(Case, f"INDEXED BY {index}", "sqlite")
    n = inner.where(Case.map_cell.between(r.c.lo, r.c.hi)).scalar_subquery()
    out: dict[tuple[int, int], int] = {}
    for k, count in session.execute(select(r.c.k, n)):
        if count:
            out[tiles[int(k)]] = int(count)
    return out


def features(
    session: Session, *, principal: Principal, filters: queue.CaseFilter, box: Box, zoom: int
) -> dict[str, Any]:
    """GeoJSON of the matching cases in ``box`` at ``zoom``: points when few, else clusters per cell."""
    if filters.bbox is not None:
        raise ValidationFailed("cases.error.map_bbox", error_code="bbox_invalid", details={})
    level = min(check_zoom(zoom) + CELL_ZOOM_OFFSET, mapcells.BITS)
    tiles = cells(box, level)
    found = counts(session, principal, filters, level, tiles)
    total = sum(found.values())
    out: dict[str, Any] = {"type": "FeatureCollection", "zoom": zoom, "level": level, "total": total}
    if total <= POINT_LIMIT:
        out["kind"] = "points"
        out["features"] = _points(session, principal, filters, level, list(found))
        return out
    out["kind"] = "clusters"
    feats = []
    for (x, y), count in sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        w, e = mapcells.lon_of(x, level), mapcells.lon_of(x + 1, level)
        n, s = mapcells.lat_of(y, level), mapcells.lat_of(y + 1, level)
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round((w + e) / 2, 6), round((s + n) / 2, 6)]},
                "properties": {"count": count, "bounds": [round(v, 6) for v in (w, s, e, n)]},
            }
        )
    out["features"] = feats
    return out


def _points(
    session: Session, principal: Principal, f: queue.CaseFilter, level: int, tiles: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    if not tiles:
        return []
    where = or_(*(Case.map_cell.between(*mapcells.key_range(x, y, level)) for x, y in tiles))
    stmt = select(Case.id, Case.tracking_no, Case.lon, Case.lat, Case.state, Case.due_at, Category.name).join(
        Category, Category.id == Case.category_id
    )
    stmt = _filtered(session, stmt, principal, f).where(where).order_by(Case.id).limit(POINT_LIMIT)
    at = now()
    found = session.execute(stmt).all()
    steps = queue.running_steps(
        session, [row[0] for row in found if row[4] in OPEN_STATES and row[5] is not None]
    )
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {
                "id": cid,
                "no": no,
                "state": state,
                "category": cat,
                "colour": queue.deadline_colour(state, due, steps.get(cid), at),
            },
        }
        for cid, no, lon, lat, state, due, cat in found
    ]
