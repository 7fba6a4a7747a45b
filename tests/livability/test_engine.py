"""Walking metres over the network, checked against networkx on the same graph."""

import math

import networkx as nx
import numpy as np
from shapely.geometry import box

from cityloop.livability import engine
from cityloop.livability.network import Network, grid_network

AREA = box(106.50, 29.50, 106.52, 29.515)


def nx_graph(net: Network) -> nx.Graph:
    g = nx.Graph()
    for u, v, w in zip(net.u, net.v, net.length_m, strict=True):
        g.add_edge(int(u), int(v), weight=float(w))
    return g


def test_nearest_facility_matches_networkx_multi_source_dijkstra() -> None:
    net = grid_network(AREA, 120, jitter=0.25, seed=3, drop=0.1)
    graph = engine.build_graph(net)
    rng = np.random.default_rng(5)
    homes = (rng.uniform(106.50, 106.52, 40), rng.uniform(29.50, 29.515, 40))
    facs = (rng.uniform(106.50, 106.52, 12), rng.uniform(29.50, 29.515, 12))
    groups = {"a": np.array([0, 3, 7]), "b": np.array([1, 2, 4, 5, 6, 8, 9, 10, 11])}
    got = engine.nearest_facilities(graph, homes, facs, groups)

    g = nx_graph(net)
    home_node, home_snap = graph.snap(*homes)
    fac_node, fac_snap = graph.snap(*facs)
    for code, members in groups.items():
        for i in range(40):
            best = math.inf
            if home_node[i] in g:
                lengths = nx.single_source_dijkstra_path_length(g, int(home_node[i]), weight="weight")
                for j in members:
                    d = lengths.get(int(fac_node[j]), math.inf) + fac_snap[j]
                    best = min(best, d)
            expected = best + home_snap[i]
            assert math.isclose(got[code].metres[i], expected, rel_tol=1e-6) or (
                math.isinf(expected) and math.isinf(got[code].metres[i])
            )
            if math.isfinite(expected):
                j = got[code].facility[i]
                assert j in members
                walk = nx.shortest_path_length(g, int(home_node[i]), int(fac_node[j]), weight="weight")
                assert math.isclose(walk + home_snap[i] + fac_snap[j], expected, rel_tol=1e-6)


def line_network(n: int = 11) -> Network:
    lon = 106.50 + np.arange(n) * 0.001
    lat = np.full(n, 29.50)
    from cityloop.livability.network import haversine_m

    u, v = np.arange(n - 1, dtype=np.int32), np.arange(1, n, dtype=np.int32)
    return Network(np.arange(n, dtype=np.int64), lon, lat, u, v, haversine_m(lon[u], lat[u], lon[v], lat[v]))


def test_snap_distance_counts_as_walking_and_unreachable_is_infinite() -> None:
    net = line_network()
    graph = engine.build_graph(net)
    step = float(net.length_m[0])
    # A home 0.0005° north of node 10 (≈55 m) and a facility on node 0.
    got = engine.nearest_facilities(
        graph,
        (np.array([106.51]), np.array([29.5005])),
        (np.array([106.50]), np.array([29.50])),
        {"x": np.array([0])},
    )
    assert math.isclose(got["x"].metres[0], 10 * step + 55.27, rel_tol=2e-3)
    empty = engine.nearest_facilities(
        graph,
        (np.array([106.51]), np.array([29.50])),
        (np.array([106.50]), np.array([29.50])),
        {"x": np.array([], dtype=int)},
    )
    assert math.isinf(empty["x"].metres[0]) and empty["x"].facility[0] == -1


def test_candidate_matrix_is_bounded_by_the_limit() -> None:
    net = line_network()
    graph = engine.build_graph(net)
    step = float(net.length_m[0])
    clients = (net.lon[[0, 5, 10]], net.lat[[0, 5, 10]])
    cands = (net.lon[[0, 10]], net.lat[[0, 10]])
    cost = engine.metres_to_candidates(graph, clients, cands, limit_m=6 * step)
    assert np.isclose(cost[0, 0], 0) and np.isclose(cost[1, 0], 5 * step) and np.isinf(cost[2, 0])
    assert np.isinf(cost[0, 1]) and np.isclose(cost[1, 1], 5 * step) and np.isclose(cost[2, 1], 0)


def test_minutes_at_walking_speed() -> None:
    assert engine.metres_per_minute(4.5) == 75.0
