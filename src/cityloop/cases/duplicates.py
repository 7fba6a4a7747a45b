"""Duplicate reports (重复件): open cases of the same category, near in space and time, similar in text.

Cases store their H3 cell (resolution 9, hexagons of ~174 m edge), so the candidates come from an index
lookup on (category, cell ∈ k-ring) and only those few are measured exactly — never a scan of the table.
Each candidate is scored on place (distance, same address), time (age within the window) and text
(character-bigram overlap of the descriptions); a report that says nearly the same thing counts up to
``TEXT_WIDEN``× the category's radius away, and the best-scored come first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import cast

import h3
from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from cityloop.cases.categories import Leaf
from cityloop.cases.models import OPEN_SQL, Case, Category

H3_RES = 9
TEXT_WIDEN = 2  # a candidate this many radii away still counts when its text is this similar:
TEXT_SIMILAR = 0.5
TEXT_CHARS = 200
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
_C = cast(Table, Case.__table__).c
# Table columns, not the entity's: a Core select skips the ORM's per-row work on every report.
_NEARBY = (
    select(
        _C.id,
        _C.tracking_no,
        _C.state,
        _C.lon,
        _C.lat,
        _C.reported_at,
        _C.description,
        _C.address,
        _C.version,
    )
    .where(
        _C.category_id == bindparam("category"),
        _C.h3_cell.in_(bindparam("cells", expanding=True)),
        _C.reported_at >= bindparam("since"),
        _C.reported_at <= bindparam("until"),
        text(f"cases.{OPEN_SQL}"),  # literal, to match the partial index on open cases
        _C.parent_id.is_(None),
        _C.id != bindparam("exclude"),
        # The radius's bounding box, so only the few real neighbours come back to Python: the k-ring of
        # cells is several times the circle's area, and a busy area has hundreds of open cases in it.
        _C.lon.between(bindparam("west"), bindparam("east")),
        _C.lat.between(bindparam("south"), bindparam("north")),
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
    similarity: float = 0.0  # character-bigram Dice of the two descriptions (0 when either is empty)
    score: float = 0.0  # place, time and text together, 0..1
    version: int | None = None  # the row's version when read: a merge of a case changed since is refused


def bigrams(text: str) -> frozenset[str]:
    t = "".join((text or "")[:TEXT_CHARS].split())
    return frozenset(t[i : i + 2] for i in range(len(t) - 1))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


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
    text: str = "",
    address: str | None = None,
) -> list[Candidate]:
    """Open, unmerged cases of ``category`` within its time window and its radius (or ``TEXT_WIDEN``
    radii when the text is nearly the same), best score first."""
    radius = category.duplicate_radius_m
    if radius <= 0 or category.duplicate_window_hours <= 0:
        return []
    window = timedelta(hours=category.duplicate_window_hours)
    reach = radius * TEXT_WIDEN  # nearly the same text counts further away
    cells = nearby_cells(cell or cell_of(lon, lat), reach)
    since = at - window
    dlat = math.degrees(reach / _EARTH_M) * 1.01  # 1 % slack: the exact check follows
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
    mine = bigrams(text)
    place = (address or "").strip()
    found = []
    for row in rows:
        d = distance_m(lon, lat, row.lon, row.lat)
        if d > radius * TEXT_WIDEN:
            continue
        sim = similarity(mine, bigrams(row.description))
        if d > radius and sim < TEXT_SIMILAR:
            continue
        same_address = bool(place) and place == (row.address or "").strip()
        near = 1.0 if same_address else max(0.0, 1 - d / (radius * TEXT_WIDEN))
        recent = max(0.0, 1 - (at - row.reported_at) / window)
        text_part = sim if mine and row.description else 0.5
        score = round(0.4 * near + 0.2 * recent + 0.4 * text_part, 3)
        found.append(
            Candidate(
                row.id,
                row.tracking_no,
                row.state,
                round(d, 1),
                row.reported_at,
                round(sim, 3),
                score,
                row.version,
            )
        )
    found.sort(key=lambda c: (-c.score, c.distance_m, c.id))
    return found[:limit]
