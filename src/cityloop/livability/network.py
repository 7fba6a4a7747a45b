"""Walking networks: read OpenStreetMap files, keep walkable ways, pack the arrays compactly.

Pure functions, no database. Coordinates are WGS84 longitude/latitude degrees; edge lengths are
metres along the great circle between consecutive way nodes (no topology simplification, so a
node is an OSM node and an edge one way segment).

Both OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``) and PBF (``.osm.pbf``) are read with pyosmium
(libosmium), one reader for both formats. Clipped extracts often hold ways whose nodes are cut
away: such ways are trimmed to the segments whose two nodes are present.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

FORMAT_VERSION = 1
EARTH_RADIUS_M = 6_371_008.8

# highway values nobody walks on, after the walking filter osmnx uses for network_type="walk"
# (which also leaves out cycleways), plus motorways, which are closed to pedestrians in China.
NOT_WALKABLE = frozenset(
    {
        "abandoned",
        "bus_guideway",
        "construction",
        "corridor_planned",
        "cycleway",
        "escape",
        "motor",
        "motorway",
        "motorway_link",
        "no",
        "planned",
        "platform",
        "proposed",
        "raceway",
        "razed",
        "busway",
    }
)


class NetworkError(ValueError):
    """The file cannot give a walking network; ``key`` is the message key, ``params`` its values."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params: dict[str, Any] = params


def is_walkable(tags: dict[str, str]) -> bool:
    """True for an OSM way a pedestrian may use (tags as a plain dict)."""
    highway = tags.get("highway")
    if not highway or highway in NOT_WALKABLE or tags.get("area") == "yes":
        return False
    if tags.get("foot") == "no" or tags.get("service") == "private":
        return False
    return not (tags.get("access") in ("private", "no") and tags.get("foot") not in ("yes", "designated"))


@dataclass(frozen=True)
class Network:
    """Nodes (``lon``, ``lat`` degrees, ``osm_id``) and undirected edges ``u``–``v`` of ``length_m``."""

    osm_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray

    @property
    def node_count(self) -> int:
        return int(self.lon.size)

    @property
    def edge_count(self) -> int:
        return int(self.u.size)

    def bbox(self) -> list[float]:
        return [float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max())]


def haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between WGS84 points (arrays of degrees)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))))


def _file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, fmt in ((".osm.pbf", "pbf"), (".pbf", "pbf"), (".osm.gz", "osm.gz"), (".osm.bz2", "osm.bz2")):
        if name.endswith(suffix):
            return fmt
    return "osm" if name.endswith((".osm", ".xml")) else None


def read_osm(path: Path) -> Network:
    """Walkable ways of an OSM XML or PBF file as a :class:`Network`.

    Raises :class:`NetworkError` when the file is not OSM data or holds no walkable way.
    """
    import osmium

    fmt = _file_format(path)
    if fmt is None:
        raise NetworkError("livability.network.not_osm", path=path.name, reason="unknown file extension")
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    segments: list[tuple[int, int]] = []
    coords: dict[int, tuple[float, float]] = {}
    try:
        processor = osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.NODE | osmium.osm.WAY)
        for obj in processor.with_locations():
            if not isinstance(obj, osmium.osm.Way) or not is_walkable(dict(obj.tags)):
                continue
            prev: int | None = None
            for nd in obj.nodes:
                if not nd.location.valid():
                    prev = None  # node cut away by the extract: the way is trimmed here
                    continue
                coords[nd.ref] = (nd.location.lon, nd.location.lat)
                if prev is not None and prev != nd.ref:
                    segments.append((prev, nd.ref))
                prev = nd.ref
    except RuntimeError as exc:  # libosmium reports parse errors of any format this way
        raise NetworkError("livability.network.not_osm", path=path.name, reason=str(exc)) from exc
    if not segments:
        raise NetworkError("livability.network.empty", path=path.name)
    return _compact(segments, coords)


def _compact(segments: list[tuple[int, int]], coords: dict[int, tuple[float, float]]) -> Network:
    ids = np.fromiter(coords.keys(), dtype=np.int64, count=len(coords))
    order = np.argsort(ids)
    ids = ids[order]
    xy = np.array(list(coords.values()), dtype=np.float64)[order]
    seg = np.array(segments, dtype=np.int64)
    u = np.searchsorted(ids, seg[:, 0]).astype(np.int32)
    v = np.searchsorted(ids, seg[:, 1]).astype(np.int32)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0)  # a segment shared by two ways counts once
    length = haversine_m(xy[pairs[:, 0], 0], xy[pairs[:, 0], 1], xy[pairs[:, 1], 0], xy[pairs[:, 1], 1])
    return Network(ids, xy[:, 0], xy[:, 1], pairs[:, 0], pairs[:, 1], length.astype(np.float32))


def clip(network: Network, area: BaseGeometry) -> Network:
    """The part of ``network`` whose edges have both ends inside ``area`` (unused nodes dropped)."""
    inside = shapely.contains_xy(area, network.lon, network.lat)
    keep = inside[network.u] & inside[network.v]
    if not keep.any():
        return Network(*(np.empty(0, dtype=a.dtype) for a in _arrays(network)))
    u, v = network.u[keep], network.v[keep]
    used = np.unique(np.concatenate([u, v]))
    remap = np.full(network.node_count, -1, dtype=np.int32)
    remap[used] = np.arange(used.size, dtype=np.int32)
    return Network(
        network.osm_id[used],
        network.lon[used],
        network.lat[used],
        remap[u],
        remap[v],
        network.length_m[keep],
    )


def _arrays(n: Network) -> tuple[np.ndarray, ...]:
    return (n.osm_id, n.lon, n.lat, n.u, n.v, n.length_m)


def pack(network: Network) -> bytes:
    """Compressed bytes for the database (numpy .npz; read back with :func:`unpack`)."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        format_version=np.array([FORMAT_VERSION]),
        osm_id=network.osm_id,
        lon=network.lon,
        lat=network.lat,
        u=network.u,
        v=network.v,
        length_m=network.length_m,
    )
    return buf.getvalue()


def unpack(data: bytes) -> Network:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        version = int(z["format_version"][0])
        if version != FORMAT_VERSION:
            raise NetworkError("livability.network.format", version=version)
        return Network(z["osm_id"], z["lon"], z["lat"], z["u"], z["v"], z["length_m"])


def grid_network(
    area: BaseGeometry, spacing_m: float, *, jitter: float = 0.0, seed: int = 0, drop: float = 0.0
) -> Network:
    """A schematic street grid clipped to ``area``: nodes every ``spacing_m`` metres, links to the
    east and north neighbours; ``jitter`` moves nodes by up to that share of the spacing and ``drop``
    removes that share of links at random (so blocks are irregular). For demos and benchmarks."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = area.bounds
    lat0 = (miny + maxy) / 2
    dlat = spacing_m / 110_540.0
    dlon = spacing_m / (111_320.0 * np.cos(np.radians(lat0)))
    nx = int((maxx - minx) / dlon) + 1
    ny = int((maxy - miny) / dlat) + 1
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    lon = minx + gx.ravel() * dlon + rng.uniform(-jitter, jitter, gx.size) * dlon
    lat = miny + gy.ravel() * dlat + rng.uniform(-jitter, jitter, gx.size) * dlat
    idx = np.arange(gx.size).reshape(ny, nx)
    east = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1)
    north = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1)
    pairs = np.concatenate([east, north])
    if drop:
        pairs = pairs[rng.random(len(pairs)) >= drop]
    length = haversine_m(lon[pairs[:, 0]], lat[pairs[:, 0]], lon[pairs[:, 1]], lat[pairs[:, 1]])
    full = Network(
        -np.arange(1, gx.size + 1, dtype=np.int64),  # negative ids: not OSM nodes
        lon,
        lat,
        pairs[:, 0].astype(np.int32),
        pairs[:, 1].astype(np.int32),
        length.astype(np.float32),
    )
    return clip(full, area)
