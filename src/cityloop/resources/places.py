"""Which street/town a point lies in, and whether it lies in the district at all.

Shared by resources and livability (livability depends on resources, never the reverse). Units'
polygons are WGS84; points outside the district's outline are refused, points inside it but in no
street/town polygon are filed under the district itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.core.errors import ValidationFailed
from cityloop.core.geo import AreaIndex
from cityloop.org import service as org
from cityloop.org.models import Unit, UnitKind

LOCAL_KINDS = (UnitKind.street.value, UnitKind.town.value)


@dataclass(frozen=True)
class Locator:
    district: Unit
    outline: BaseGeometry | None
    areas: AreaIndex | None
    units: dict[int, Unit]

    def contains(self, lon: float, lat: float) -> bool:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return False
        if self.outline is None:
            return -180 <= lon <= 180 and -90 <= lat <= 90
        return bool(shapely.intersects_xy(self.outline, lon, lat))

    def unit_for(self, lon: float, lat: float) -> Unit | None:
        """The street/town containing the point, the district if none does, None if outside."""
        if not self.contains(lon, lat):
            return None
        hits = self.areas.locate(lon, lat) if self.areas else []
        return self.units[hits[0]] if hits else self.district

    def require(self, lon: float, lat: float) -> Unit:
        unit = self.unit_for(lon, lat)
        if unit is None:
            raise ValidationFailed("places.outside_district", lon=round(lon, 6), lat=round(lat, 6))
        return unit


def locator(session: Session) -> Locator:
    district = org.district_root(session)
    outline = shape(district.geometry) if district.geometry else None
    if outline is not None:
        shapely.prepare(outline)
    local = (
        session.execute(select(Unit).where(Unit.kind.in_(LOCAL_KINDS), Unit.path.startswith(district.path)))
        .scalars()
        .all()
    )
    local = [u for u in local if u.geometry]  # JSON null and SQL NULL both mean "no polygon"
    areas = AreaIndex.build((u.id, shape(u.geometry)) for u in local) if local else None
    return Locator(district, outline, areas, {u.id: u for u in local})
