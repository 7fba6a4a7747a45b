"""Map cells of cases: a Morton (Z-order) key of the Web Mercator position, so the map can count a
million cases per grid cell without sorting them.

``map_cell`` interleaves the bits of the tile coordinates x and y at zoom ``BITS`` (26: cells of ~0.5 m).
A cell of any coarser level L is then one contiguous key range,
``[k << 2·(BITS−L), ((k + 1) << 2·(BITS−L)) − 1]`` with ``k`` the cell's own interleaved key, so counting a
cell is one range scan of the index ``ix_cases_map`` (cases/map.py) and every level comes from one column.
Cells of level L are the map tiles of zoom L: at zoom z the map clusters in cells of level z + 2 (64 px).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

BITS = 26
MAX_LAT = 85.05112878


def _spread(v: int) -> int:
    """The bits of ``v`` (< 2**26) moved to the even positions (the classic 'part by 1')."""
    v &= 0x3FFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    v = (v | (v << 1)) & 0x5555555555555555
    return v


def tile_xy(lon: float, lat: float, level: int) -> tuple[int, int]:
    """The tile (x, y) containing the point at zoom ``level`` (y grows southwards)."""
    n = 1 << level
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = (lon + 180.0) / 360.0
    s = math.sin(math.radians(lat))
    y = 0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)
    return min(n - 1, max(0, int(x * n))), min(n - 1, max(0, int(y * n)))


def key(x: int, y: int) -> int:
    return _spread(x) | (_spread(y) << 1)


def cell_of(lon: float | None, lat: float | None) -> int | None:
    """The case's ``map_cell`` (None when it has no position)."""
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    return key(*tile_xy(lon, lat, BITS))


def cells_of(lons: Any, lats: Any) -> list[int]:
    """``cell_of`` for arrays of finite positions (the bulk import), vectorised."""
    lon = np.asarray(lons, dtype=float)
    lat = np.clip(np.asarray(lats, dtype=float), -MAX_LAT, MAX_LAT)
    n = 1 << BITS
    s = np.sin(np.radians(lat))
    x = np.clip(((lon + 180.0) / 360.0 * n).astype(np.int64), 0, n - 1).astype(np.uint64)
    y = np.clip(((0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)) * n).astype(np.int64), 0, n - 1)
    y = y.astype(np.uint64)

    def spread(v: Any) -> Any:
        for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                            (2, 0x3333333333333333), (1, 0x5555555555555555)):  # fmt: skip
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    return [int(v) for v in spread(x) | (spread(y) << np.uint64(1))]


def lon_of(x: float, level: int) -> float:
    return x / (1 << level) * 360.0 - 180.0


def lat_of(y: float, level: int) -> float:
    n = math.pi - 2.0 * math.pi * y / (1 << level)
    return math.degrees(math.atan(math.sinh(n)))


def key_range(x: int, y: int, level: int) -> tuple[int, int]:
    """The ``map_cell`` values [lo, hi] inside tile (x, y) of zoom ``level``."""
    shift = 2 * (BITS - level)
    k = key(x, y)
    return k << shift, ((k + 1) << shift) - 1
