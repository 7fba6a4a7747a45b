"""Demo idle spaces and buildings: SCHEMATIC — invented names, sizes and figures placed at random
inside the demo streets' schematic polygons, every row flagged ``schematic``."""

from __future__ import annotations

import random

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core.audit import Actor
from cityloop.org.models import Unit, UnitKind
from cityloop.resources import grading, service
from cityloop.resources.models import GradingSystem

ACTOR = Actor("seed-demo")
USES = ["社区养老服务站", "老年食堂", "社区卫生服务站", "便民菜店", "社区书屋", "托育点", None]
OWNERS = ["区国资公司", "街道办事处", "某物业公司", "区机关事务中心", "某企业"]
NAME_SUFFIXES = ["商务中心", "科创大厦", "数字产业园", "金融楼", "文创园", "智造园", "科技楼", "研发楼"]


def random_point(rng: random.Random, area: BaseGeometry) -> tuple[float, float]:
    minx, miny, maxx, maxy = area.bounds
    while True:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if area.contains(Point(lon, lat)):
            return round(lon, 6), round(lat, 6)


def demo_streets(session: Session) -> list[tuple[Unit, BaseGeometry]]:
    units = session.execute(select(Unit).where(Unit.kind == UnitKind.street.value).order_by(Unit.sort_order))
    return [(u, shape(u.geometry)) for u in units.scalars() if u.geometry]


def seed(session: Session) -> bool:
    if session.execute(select(GradingSystem.id)).first():
        return False
    rng = random.Random(7)
    grading.load_default_system(session, actor=ACTOR)
    streets = demo_streets(session)
    for i in range(18):
        unit, area = streets[i % len(streets)]
        lon, lat = random_point(rng, area)
        space = service.create_idle_space(
            session,
            actor=ACTOR,
            principal=None,
            name=f"{unit.name[:-2]}闲置用房{i + 1}(示意)",
            lon=lon,
            lat=lat,
            area_m2=rng.choice([80, 120, 200, 350, 600, 1200]),
            owner=rng.choice(OWNERS),
            condition=rng.choice(["good", "fair", "poor"]),
            intended_use=rng.choice(USES),
            schematic=True,
        )
        if i % 6 == 5:
            service.change_idle_status(session, actor=ACTOR, principal=None, row=space, action="plan")
    for i in range(12):
        unit, area = streets[i % len(streets)]
        lon, lat = random_point(rng, area)
        b = service.create_building(
            session,
            actor=ACTOR,
            principal=None,
            code=f"BLD-{i + 1:03d}",
            name=f"{unit.name[:-2]}{NAME_SUFFIXES[i % len(NAME_SUFFIXES)]}(示意)",
            lon=lon,
            lat=lat,
            floor_area_m2=rng.choice([18000, 25000, 40000, 60000]),
            kind=rng.choice(["office", "industrial", "mixed"]),
            operator=rng.choice(OWNERS),
            schematic=True,
        )
        base = rng.uniform(0.3, 1.0)
        for period, drift in (("2026-Q2", 0.0), ("2026-Q3", rng.uniform(-0.25, 0.25))):
            q = min(1.0, max(0.05, base + drift))
            values = {
                "occupancy_rate": round(50 + 48 * q, 1),
                "tax_per_m2": round(150 + 1500 * q * rng.uniform(0.7, 1.1)),
                "output_per_m2": round(1500 + 19000 * q),
                "key_industry_share": round(15 + 60 * q * rng.uniform(0.6, 1.1), 1),
                "enterprises": int(5 + 60 * q),
                "property_service_score": round(60 + 36 * rng.uniform(0.3, 1.0), 1),
                "energy_per_m2": round(220 - 150 * q),
                "unified_operation": 1 if q > 0.5 else 0,
            }
            service.put_report(session, actor=ACTOR, building=b, period=period, values=values, source="demo")
    return True
