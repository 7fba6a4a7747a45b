"""The district's gazetteer: every named place the database knows, with a point.

Streets/towns/communities/grids (a point on their polygon), idle spaces and buildings (resources) and
residential areas (livability). A place name from a report is looked up exactly first, then as a name
that contains or is contained in a known one (the longest known name wins: 杨家坪步行街 before 杨家坪).
"""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.insight.places import normalise
from cityloop.org.models import AREA_KINDS, Unit, UnitKind

MIN_NAME = 2


@dataclass(frozen=True)
class Place:
    name: str
    lon: float
    lat: float
    kind: str  # unit kind, idle_space, building, residential_area


@dataclass
class Gazetteer:
    places: dict[str, Place]

    @property
    def names(self) -> list[str]:
        return list(self.places)

    def find(self, name: str) -> Place | None:
        key = normalise(name).strip()
        if len(key) < MIN_NAME:
            return None
        if key in self.places:
            return self.places[key]
        best: Place | None = None
        for known, place in self.places.items():
            matches = len(known) >= MIN_NAME + 1 and (known in key or key in known)
            if matches and (best is None or len(known) > len(best.name)):
                best = place
        return best


def load(session: Session) -> Gazetteer:
    places: dict[str, Place] = {}

    def add(name: str | None, lon: float | None, lat: float | None, kind: str) -> None:
        key = normalise(name or "").strip()
        if len(key) >= MIN_NAME and lon is not None and lat is not None and key not in places:
            places[key] = Place(key, float(lon), float(lat), kind)

    area_kinds = [k.value for k in AREA_KINDS if k != UnitKind.district]
    for name, geometry, kind in session.execute(
        select(Unit.name, Unit.geometry, Unit.kind).where(Unit.kind.in_(area_kinds), Unit.active.is_(True))
    ):
        if not geometry:
            continue
        try:
            point = shape(geometry).representative_point()
        except Exception:  # a malformed polygon names no point
            continue
        add(name, point.x, point.y, kind)
    from cityloop.livability.models import ResidentialArea
    from cityloop.resources.models import Building, IdleSpace

    for model, kind in (
        (ResidentialArea, "residential_area"),
        (IdleSpace, "idle_space"),
        (Building, "building"),
    ):
        for name, lon, lat in session.execute(select(model.name, model.lon, model.lat)):
            add(name, lon, lat, kind)
    return Gazetteer(places)
