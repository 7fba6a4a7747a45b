"""15-minute circle at district scale: a synthetic 50,000-node walking network (written as an OSM
PBF and imported like a real one), 5,000 residential areas, 8 facility types; full accessibility
and MCLP siting with 500 candidates, k = 5. Prints figures; asserts nothing.

Targets from the issue: accessibility < 15 s (network import reported separately); MCLP < 15 s.
Runs on a throw-away SQLite database with the demo organisation.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box, shape

TMP = Path(tempfile.mkdtemp(prefix="cityloop-bench-livability-"))
os.environ["CITYLOOP_DATABASE_URL"] = f"sqlite:///{TMP / 'bench.db'}"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cityloop.core.audit import Actor  # noqa: E402
from cityloop.core.db import session_scope  # noqa: E402
from cityloop.core.migrate import upgrade  # noqa: E402
from cityloop.livability import accessibility, engine, network, service, siting  # noqa: E402
from cityloop.org import demo as org_demo  # noqa: E402
from cityloop.org import service as org  # noqa: E402

ACTOR = Actor("bench")
TYPES = [
    "elderly_station",
    "elderly_canteen",
    "clinic",
    "kindergarten",
    "primary_school",
    "market",
    "park",
    "bus_stop",
]
FACILITIES_PER_TYPE = 60
AREAS = 5000
CANDIDATES = 500


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"{label:<52} {time.perf_counter() - start:7.2f} s", flush=True)
    return out


def write_pbf(net: network.Network, path: Path) -> None:
    import osmium

    writer = osmium.SimpleWriter(str(path))
    ids = np.arange(1, net.node_count + 1)
    for i in range(net.node_count):
        writer.add_node(
            osmium.osm.mutable.Node(id=int(ids[i]), location=(float(net.lon[i]), float(net.lat[i])))
        )
    for j in range(net.edge_count):
        refs = [int(ids[net.u[j]]), int(ids[net.v[j]])]
        writer.add_way(osmium.osm.mutable.Way(id=j + 1, nodes=refs, tags={"highway": "residential"}))
    writer.close()


def points(rng: random.Random, lon: np.ndarray, lat: np.ndarray, n: int, props) -> bytes:
    feats = []
    for i in range(n):
        k = rng.randrange(len(lon))
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(lon[k]) + 1e-4, float(lat[k]) + 1e-4]},
                "properties": props(i),
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": feats}).encode()


def pmedian_small(net: network.Network) -> None:
    """p-median is offered only for small problems (see siting.PMEDIAN_MAX_CELLS): time one."""
    graph = engine.build_graph(net)
    rng = np.random.default_rng(4)
    clients, cands = rng.choice(net.node_count, 300), rng.choice(net.node_count, 30)
    cost = engine.metres_to_candidates(
        graph, (net.lon[clients], net.lat[clients]), (net.lon[cands], net.lat[cands]), 3375.0
    )
    weights = rng.integers(100, 900, 300).astype(float)
    timed(
        "p-median 300 residents x 30 candidates, k=5 (solve)",
        siting._solve_pmedian,
        np.minimum(cost, 3375.0) / 75.0,
        weights,
        5,
    )


def main() -> None:
    timed("migrate an empty SQLite database", upgrade)
    with session_scope() as s:
        org_demo.seed(s)
        service.load_default_types(s, actor=ACTOR)
        outline = shape(org.district_root(s).geometry)
    # An 80 m street grid over the district's centre, clipped to its outline: about 50,000 nodes.
    area = box(106.33, 29.33, 106.52, 29.52).intersection(outline)
    net = timed("generate synthetic grid", network.grid_network, area, 80, jitter=0.2, seed=1, drop=0.05)
    pbf = TMP / "grid.osm.pbf"
    timed("write it as OSM PBF (pyosmium)", write_pbf, net, pbf)
    print(f"network: {net.node_count} nodes, {net.edge_count} edges, {pbf.stat().st_size / 1e6:.1f} MB PBF")
    with session_scope() as s:
        row = timed(
            "IMPORT network (read PBF, filter, clip, pack, store)",
            service.import_network,
            s,
            actor=ACTOR,
            path=pbf,
        )
        print(f"stored blob {len(row.data) / 1e6:.2f} MB")
    inside = shapely.contains_xy(outline, net.lon, net.lat)
    lon, lat = net.lon[inside], net.lat[inside]
    rng = random.Random(2)
    with session_scope() as s:
        areas = points(
            rng, lon, lat, AREAS, lambda i: {"name": f"A{i}", "population": 3000, "elderly_population": 600}
        )
        timed(
            f"import {AREAS} residential areas (GeoJSON)",
            service.import_residential_areas,
            s,
            actor=ACTOR,
            principal=None,
            data=areas,
            filename="areas.geojson",
        )
        n = FACILITIES_PER_TYPE * len(TYPES)
        facs = points(rng, lon, lat, n, lambda i: {"name": f"F{i}", "type": TYPES[i % len(TYPES)]})
        timed(
            f"import {n} facilities of {len(TYPES)} types",
            service.import_facilities,
            s,
            actor=ACTOR,
            principal=None,
            data=facs,
            filename="f.geojson",
        )
    # Only the 8 types with facilities take part (rail stations get none here).
    with session_scope() as s:
        rail = service.get_type(s, code="rail_station")
        service.update_type(s, actor=ACTOR, row=rail, active=False)
    with session_scope() as s:
        timed("build routing graph (first use; cached after)", accessibility.routing_graph, s)
        run = timed("FULL ACCESSIBILITY (8 Dijkstra + store 40,000 rows)", accessibility.run, s, actor=ACTOR)
        print(
            f"run {run.id}: {run.area_count} areas x {len(run.type_codes)} types, "
            f"compute+store {run.seconds:.2f} s"
        )
        rows = timed("read results back + coverage table", accessibility.results, s, run=run, principal=None)
        cov = {c["type"]: c for c in accessibility.coverage(rows) if c["unit"] == "*"}
        print("coverage: " + ", ".join(f"{k} {v['population_share']:.0%}" for k, v in sorted(cov.items())))
    start = time.perf_counter()
    import spopt.locate  # noqa: F401

    print(f"{'import spopt (once per process)':<52} {time.perf_counter() - start:7.2f} s")
    crng = np.random.default_rng(3)
    pick = crng.choice(len(lon), CANDIDATES, replace=False)
    with session_scope() as s:
        where = siting.locator(s)
        cands = [
            siting.Candidate(
                f"C{i}", float(lon[k]), float(lat[k]), where.require(float(lon[k]), float(lat[k]))
            )
            for i, k in enumerate(pick)
        ]
        plan = timed(
            f"MCLP {CANDIDATES} candidates, k=5 (costs + solve + store)",
            siting.plan,
            s,
            actor=ACTOR,
            type_code="elderly_station",
            k=5,
            candidates=cands,
            candidate_source="bench",
        )
        c = plan.coverage
        print(
            f"MCLP: elderly covered {c['elderly_before']:.0f} -> {c['elderly_after']:.0f} "
            f"of {c['elderly']:.0f}"
        )
    pmedian_small(net)
    g = engine.GRAPHS
    print(f"graph cache holds {len(g._items)} graph(s)")


if __name__ == "__main__":
    main()
