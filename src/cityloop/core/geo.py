"""Geometry helpers: Chinese map datums, GeoJSON checks, point-in-area lookups.

All stored coordinates are WGS84 longitude/latitude in degrees. Chinese map data usually arrives in
GCJ-02 (the "Mars" datum used by AMap/Tencent/DataV) or BD-09 (Baidu); these are published closed
formulas, not projections, so pyproj cannot do them. The inverse (to WGS84) is solved by fixed-point
iteration to better than 1e-7 degrees (about 1 cm).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


class Datum(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


def _outside_china(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _dlat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _dlon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    if _outside_china(lon, lat):
        return lon, lat
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Inverse of :func:`wgs84_to_gcj02` by iteration (converges in a few steps)."""
    if _outside_china(lon, lat):
        return lon, lat
    wlon, wlat = lon, lat
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        dlon, dlat = glon - lon, glat - lat
        wlon, wlat = wlon - dlon, wlat - dlat
        if abs(dlon) < 1e-9 and abs(dlat) < 1e-9:
            break
    return wlon, wlat


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def to_wgs84(lon: float, lat: float, datum: Datum | str) -> tuple[float, float]:
    datum = Datum(datum)
    if datum is Datum.wgs84:
        return lon, lat
    if datum is Datum.gcj02:
        return gcj02_to_wgs84(lon, lat)
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def transform_geometry(geom: BaseGeometry, fn: Callable[[float, float], tuple[float, float]]) -> BaseGeometry:
    """Apply a point function (lon, lat) -> (lon, lat) to every vertex."""

    def _apply(coords: Any) -> Any:
        import numpy as np

        return np.array([fn(float(x), float(y)) for x, y in coords[:, :2]])

    return shapely.transform(geom, _apply)


class GeometryError(ValueError):
    """A geometry the platform cannot accept; the message says why."""


def _check_lonlat(geom: BaseGeometry) -> None:
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise GeometryError("coordinates are not longitude/latitude degrees")


def parse_area(geojson: Any) -> BaseGeometry:
    """A Polygon or MultiPolygon from GeoJSON, made valid; anything else raises GeometryError."""
    if isinstance(geojson, dict) and geojson.get("type") == "Feature":
        geojson = geojson.get("geometry")
    if not isinstance(geojson, dict) or "type" not in geojson:
        raise GeometryError("not a GeoJSON geometry")
    if geojson["type"] not in ("Polygon", "MultiPolygon"):
        raise GeometryError(f"geometry type {geojson['type']} is not a Polygon or MultiPolygon")
    try:
        geom = shape(geojson)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise GeometryError(f"malformed coordinates: {exc}") from exc
    if geom.is_empty:
        raise GeometryError("empty geometry")
    _check_lonlat(geom)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
        geom = _polygonal_part(geom)
    return geom


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        raise GeometryError("geometry has no area")
    return shapely.union_all(polys)


def to_geojson(geom: BaseGeometry, precision: int = 7) -> dict[str, Any]:
    """GeoJSON dict with coordinates rounded to ``precision`` decimals (1e-7° ≈ 1 cm)."""
    rounded = shapely.set_precision(geom, 10**-precision) if precision else geom
    return dict(mapping(rounded))


@dataclass(frozen=True)
class AreaIndex:
    """Which area contains a point: an STRtree over polygons, built once and reused."""

    keys: tuple[Any, ...]
    geoms: tuple[BaseGeometry, ...]
    tree: STRtree

    @classmethod
    def build(cls, items: Iterable[tuple[Any, BaseGeometry]]) -> AreaIndex:
        pairs = list(items)
        geoms = tuple(g for _, g in pairs)
        for g in geoms:
            shapely.prepare(g)
        return cls(tuple(k for k, _ in pairs), geoms, STRtree(list(geoms)))

    def locate(self, lon: float, lat: float) -> list[Any]:
        """Keys of every area containing the point (boundary included), smallest area first."""
        pt = shapely.Point(lon, lat)
        hits = self.tree.query(pt, predicate="intersects")
        found = sorted(hits, key=lambda i: self.geoms[i].area)
        return [self.keys[i] for i in found]
