"""Demo 15-minute circle: a SCHEMATIC walking grid over the nine streets' schematic polygons, and
invented facilities and residential areas placed inside them. Every row is flagged ``schematic``
and named (示意); none of it is real data. Real data comes in with ``cityloop livability import-*``.
"""

from __future__ import annotations

import json
import random

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core.audit import Actor
from cityloop.livability import accessibility, network, service
from cityloop.livability.models import WalkNetwork
from cityloop.resources.demo import demo_streets, random_point

ACTOR = Actor("seed-demo")
GRID_SPACING_M = 200
# How many schematic facilities of each type: few enough that the demo shows real gaps.
FACILITY_COUNTS = {
    "elderly_station": 30,
    "elderly_canteen": 20,
    "clinic": 24,
    "kindergarten": 40,
    "primary_school": 24,
    "market": 30,
    "park": 16,
    "bus_stop": 90,
    "rail_station": 10,
}
AREAS_PER_STREET = 18


def _collection(features: list[dict]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


def _feature(lon: float, lat: float, **props: object) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def seed(session: Session) -> bool:
    if session.execute(select(WalkNetwork.id)).first():
        return False
    rng = random.Random(15)
    service.load_default_types(session, actor=ACTOR)
    streets = demo_streets(session)
    union = shapely.union_all([a for _, a in streets])
    grid = network.grid_network(union, GRID_SPACING_M, jitter=0.2, seed=15, drop=0.07)
    service.store_network(
        session,
        actor=ACTOR,
        network=grid,
        name="示意步行网络 (schematic grid)",
        source="demo",
        schematic=True,
    )
    types = {t.code: t for t in service.list_types(session)}
    facilities = []
    for code, count in FACILITY_COUNTS.items():
        for i in range(count):
            unit, area = streets[rng.randrange(len(streets))]
            lon, lat = random_point(rng, area)
            facilities.append(_feature(lon, lat, name=f"{types[code].name}{i + 1}(示意)", type=code))
    service.import_facilities(
        session,
        actor=ACTOR,
        principal=None,
        data=_collection(facilities),
        filename="demo.geojson",
        schematic=True,
    )
    areas = []
    for unit, area in streets:
        for i in range(AREAS_PER_STREET):
            lon, lat = random_point(rng, area)
            population = rng.randrange(800, 7000, 50)
            elderly = int(population * rng.uniform(0.14, 0.32))
            areas.append(
                _feature(
                    lon,
                    lat,
                    name=f"{unit.name[:-2]}示意小区{i + 1}",
                    population=population,
                    elderly_population=elderly,
                )
            )
    service.import_residential_areas(
        session, actor=ACTOR, principal=None, data=_collection(areas), filename="demo.geojson", schematic=True
    )
    accessibility.run(session, actor=ACTOR, minutes=15.0, speed_kmh=4.5)
    return True
