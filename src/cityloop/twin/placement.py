"""Put model coordinates on the map (WGS84 lon/lat).

Three ways, chosen explicitly by the user, never guessed:

- ``crs``: the file's coordinates are in a real CRS (``EPSG:xxxx``); pyproj transforms them.
- ``offset``: the file's coordinates are a drawing (EPANET and SWMM editors default to that); the
  drawing's bounding-box centre is placed at ``origin`` (lon, lat) and one drawing unit is
  ``scale`` metres, optionally rotated ``rotation_deg`` counter-clockwise. The result is marked
  schematic.
- ``lonlat``: the coordinates already are WGS84 lon/lat (same as ``crs`` EPSG:4326).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

XY = tuple[float, float]
M_PER_DEG_LAT = 111_320.0


class PlacementError(ValueError):
    """The placement options cannot place this model; the message key says why."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Placement:
    method: str  # crs | offset | lonlat
    crs: str | None = None
    origin: XY | None = None  # lon, lat of the drawing's centre
    scale: float = 1.0  # metres per drawing unit
    rotation_deg: float = 0.0

    @property
    def schematic(self) -> bool:
        return self.method == "offset"

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "crs": self.crs,
            "origin": list(self.origin) if self.origin else None,
            "scale": self.scale,
            "rotation_deg": self.rotation_deg,
        }

    @classmethod
    def from_options(
        cls, *, crs: str | None, origin: str | XY | None, scale: float | None, rotation: float = 0.0
    ) -> Placement | None:
        """From CLI/API options; ``None`` when none were given."""
        if crs and origin:
            raise PlacementError("twin.placement.both")
        if crs:
            code = crs.strip().upper()
            if code in ("EPSG:4326", "WGS84", "LONLAT"):
                return cls("lonlat", crs="EPSG:4326")
            return cls("crs", crs=code)
        if origin is None:
            if scale is not None:
                raise PlacementError("twin.placement.scale_without_origin")
            return None
        lonlat = _parse_origin(origin)
        if scale is None or scale <= 0 or math.isnan(scale):
            raise PlacementError("twin.placement.scale_needed")
        return cls("offset", origin=lonlat, scale=float(scale), rotation_deg=float(rotation))


def _parse_origin(origin: str | XY) -> XY:
    if isinstance(origin, str):
        parts = origin.replace(" ", "").split(",")
        try:
            lon, lat = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            raise PlacementError("twin.placement.origin_format", value=origin) from None
    else:
        lon, lat = float(origin[0]), float(origin[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise PlacementError("twin.placement.origin_format", value=f"{lon},{lat}")
    return lon, lat


def projector(placement: Placement, points: Iterable[XY]) -> Callable[[XY], XY]:
    """A function model (x, y) → (lon, lat) for this placement; ``points`` fixes the drawing centre."""
    if placement.method == "lonlat":
        return _checked_lonlat
    if placement.method == "crs":
        from pyproj import Transformer
        from pyproj.exceptions import CRSError

        try:
            tf = Transformer.from_crs(placement.crs, "EPSG:4326", always_xy=True)
        except CRSError:
            raise PlacementError("twin.placement.crs_unknown", crs=placement.crs) from None

        def by_crs(xy: XY) -> XY:
            lon, lat = tf.transform(xy[0], xy[1])
            return _checked_lonlat((lon, lat))

        return by_crs
    pts = list(points)
    if not pts:
        raise PlacementError("twin.placement.no_coordinates")
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    assert placement.origin is not None
    lon0, lat0 = placement.origin
    cos_r, sin_r = (
        math.cos(math.radians(placement.rotation_deg)),
        math.sin(math.radians(placement.rotation_deg)),
    )
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0))
    scale = placement.scale

    def by_offset(xy: XY) -> XY:
        dx, dy = (xy[0] - cx) * scale, (xy[1] - cy) * scale
        ex, ey = dx * cos_r - dy * sin_r, dx * sin_r + dy * cos_r
        return round(lon0 + ex / m_per_deg_lon, 7), round(lat0 + ey / M_PER_DEG_LAT, 7)

    return by_offset


def _checked_lonlat(xy: XY) -> XY:
    lon, lat = xy
    if not (-180 <= lon <= 180 and -90 <= lat <= 90) or math.isinf(lon) or math.isinf(lat):
        raise PlacementError("twin.placement.not_lonlat", x=xy[0], y=xy[1])
    return round(lon, 7), round(lat, 7)
