"""Duplicate reports (重复件): open cases of the same category, near in space and time.

Cases store their H3 cell (resolution 9, hexagons of ~174 m edge), so the candidates come from an index
lookup on (category, cell ∈ k-ring) and only those few are measured exactly — never a scan of the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import h3
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from cityloop.cases.categories import Leaf
from cityloop.cases.models import OPEN_SQL, Case, Category

H3_RES = 9
_EARTH_M = 6_371_008.8


def cell_of(lon: float, lat: float) -> str:
    return str(h3.latlng_to_cell(lat, lon, H3_RES))


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine on the mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(a)))


@lru_cache(maxsize=64)
def ring_size(radius_m: int) -> int:
    """k such that the k-ring of a cell covers every point within ``radius_m`` of any point in it."""
    edge = h3.average_hexagon_edge_length(H3_RES, unit="m")
    # Neighbouring centres are √3·edge apart; a point may sit anywhere in its own cell (≤ edge from centre).
    return max(1, math.ceil((radius_m + edge) / (math.sqrt(3) * edge)))


def nearby_cells(cell: str, radius_m: int) -> list[str]:
    return [str(c) for c in h3.grid_disk(cell, ring_size(radius_m))]


# One statement for every intake (bound parameters; the cell list expands): built once.
_NEARBY = (
    select(Case.id, Case.tracking_no, Case.state, Case.lon, Case.lat, Case.reported_at)
    .where(
        Case.category_id == bindparam("category"),
        Case.h3_cell.in_(bindparam("cells", expanding=True)),
        Case.reported_at >= bindparam("since"),
        Case.reported_at <= bindparam("until"),
        text(f"cases.{OPEN_SQL}"),  # literal, to match the partial index on open cases
        Case.parent_id.is_(None),
        Case.id != bindparam("exclude"),
        # The radius's bounding box, so only the few real neighbours come back to Python: the k-ring of
        # cells is several times the circle's area, and a busy area has hundreds of open cases in it.
        Case.lon.between(bindparam("west"), bindparam("east")),
        Case.lat.between(bindparam("south"), bindparam("north")),
    )
    .limit(500)
)


@dataclass(frozen=True)
class Candidate:
    id: int
    tracking_no: str
    state: str
    distance_m: float
    reported_at: datetime


def candidates(
    session: Session,
    *,
    category: Category | Leaf,
    lon: float,
    lat: float,
    at: datetime,
    exclude_id: int | None = None,
    cell: str | None = None,
    limit: int = 10,
) -> list[Candidate]:
    """Open, unmerged cases of ``category`` within its radius and time window, nearest first."""
    radius = category.duplicate_radius_m
    if radius <= 0 or category.duplicate_window_hours <= 0:
        return []
    cells = nearby_cells(cell or cell_of(lon, lat), radius)
    since = at - timedelta(hours=category.duplicate_window_hours)
    dlat = math.degrees(radius / _EARTH_M) * 1.01  # 1 % slack: the exact check follows
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    params = {
        "category": category.id,
        "cells": cells,
        "since": since,
        "until": at,
        "exclude": exclude_id or -1,
        "west": lon - dlon,
        "east": lon + dlon,
        "south": lat - dlat,
        "north": lat + dlat,
    }
    rows = session.execute(_NEARBY, params)
    found = []
    for row in rows:
        d = distance_m(lon, lat, row.lon, row.lat)
        if d <= radius:
            found.append(Candidate(row.id, row.tracking_no, row.state, round(d, 1), row.reported_at))
    found.sort(key=lambda c: (c.distance_m, c.id))
    return found[:limit]
