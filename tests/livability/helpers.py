"""A small, fully known 15-minute world inside the demo district, for exact expectations."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update

from cityloop.core.audit import Actor, AuditRecord
from cityloop.livability import service
from cityloop.livability.models import Facility, ResidentialArea
from cityloop.livability.network import Network, haversine_m

ACTOR = Actor("test")
# An east–west street of 21 nodes 0.001° apart (≈96.9 m) at 杨家坪's schematic seat.
LON0, LAT = 106.502, 29.508


def line_network(n: int = 21) -> Network:
    lon = LON0 + np.arange(n) * 0.001
    lat = np.full(n, LAT)
    u, v = np.arange(n - 1, dtype=np.int32), np.arange(1, n, dtype=np.int32)
    return Network(
        np.arange(1, n + 1, dtype=np.int64), lon, lat, u, v, haversine_m(lon[u], lat[u], lon[v], lat[v])
    )


STEP_M = float(line_network().length_m[0])


def small_world(db: Any) -> None:
    """Replace the demo's network, facilities and residential areas with the line above."""
    db.execute(update(Facility).values(active=False))
    db.execute(delete(ResidentialArea))
    service.store_network(db, actor=ACTOR, network=line_network(), name="line", source="test")
    db.flush()


def add_area(db: Any, node: int, population: int = 1000, elderly: int = 200, name: str | None = None):
    return service.create_residential_area(
        db,
        actor=ACTOR,
        principal=None,
        name=name or f"小区{node}",
        lon=LON0 + node * 0.001,
        lat=LAT,
        population=population,
        elderly_population=elderly,
    )


def add_facility(db: Any, node: int, type_code: str = "elderly_station", name: str | None = None):
    return service.create_facility(
        db,
        actor=ACTOR,
        principal=None,
        type_code=type_code,
        name=name or f"{type_code}@{node}",
        lon=LON0 + node * 0.001,
        lat=LAT,
    )


def counts(db: Any, *models: Any) -> tuple[int, ...]:
    return tuple(db.scalar(select(func.count()).select_from(m)) for m in (*models, AuditRecord))


def geojson_points(rows: list[tuple[float, float, dict]]) -> bytes:
    feats = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}
        for lon, lat, props in rows
    ]
    return json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False).encode()
