"""Walking-time computations on a :class:`~cityloop.livability.network.Network`.

Pure functions on numpy arrays. Points are snapped to their nearest network node with a KD-tree in
a local metric plane (equirectangular around the network's centre: under 0.5 % error across a
district); the straight-line snap distance counts as walking too, at both ends. Shortest paths are
scipy's Dijkstra on an undirected sparse graph whose weights are metres.

Nearest facility of a type for every home is one multi-source Dijkstra (``min_only=True``): each
facility is a virtual node hung on its snapped node by its snap distance, and the type's virtual
nodes are the sources, so one run gives every node its distance to the nearest facility and which
one it is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from cityloop.livability.network import Network

M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQUATOR = 111_320.0


def metres_per_minute(speed_kmh: float) -> float:
    return speed_kmh * 1000.0 / 60.0


@dataclass(frozen=True)
class Graph:
    """A network ready for routing: the CSR adjacency (metres) and a KD-tree over its nodes."""

    network: Network
    csr: sp.csr_matrix
    lon0: float
    lat0: float
    tree: cKDTree

    @property
    def node_count(self) -> int:
        return self.network.node_count

    def plane(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Local x/y metres of lon/lat degrees around the network's centre."""
        kx = M_PER_DEG_LON_EQUATOR * np.cos(np.radians(self.lat0))
        return np.column_stack(
            [(np.asarray(lon) - self.lon0) * kx, (np.asarray(lat) - self.lat0) * M_PER_DEG_LAT]
        )

    def snap(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node index and straight-line distance in metres for each point."""
        if len(lon) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        dist, idx = self.tree.query(self.plane(lon, lat))
        return np.asarray(idx, dtype=np.int64), np.asarray(dist, dtype=np.float64)


def build_graph(network: Network) -> Graph:
    n = network.node_count
    csr = sp.csr_matrix(
        (network.length_m.astype(np.float64), (network.u, network.v)), shape=(n, n)
    )  # duplicate (u, v) pairs were merged at import, so summing cannot occur
    lon0, lat0 = float(network.lon.mean()), float(network.lat.mean())
    kx = M_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat0))
    xy = np.column_stack([(network.lon - lon0) * kx, (network.lat - lat0) * M_PER_DEG_LAT])
    return Graph(network, csr, lon0, lat0, cKDTree(xy))


class GraphCache:
    """Routing graphs by network row (a row never changes, so its identity is a safe key)."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Graph] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], Network]) -> Graph:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        graph = build_graph(load())
        with self._lock:
            self._items[key] = graph
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return graph

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


GRAPHS = GraphCache()


@dataclass(frozen=True)
class Nearest:
    """For each home: metres to the nearest facility (``inf`` if none reachable) and its index."""

    metres: np.ndarray
    facility: np.ndarray  # index into the facilities given, -1 when unreachable


def nearest_facilities(
    graph: Graph,
    homes: tuple[np.ndarray, np.ndarray],
    facilities: tuple[np.ndarray, np.ndarray],
    groups: dict[str, np.ndarray],
) -> dict[str, Nearest]:
    """Nearest facility of each group for every home, over the network.

    ``homes`` and ``facilities`` are (lon, lat) arrays in degrees; ``groups`` maps a type code to
    the indices of its facilities. Returns a :class:`Nearest` per group (metres, facility index).
    """
    n = graph.node_count
    home_node, home_snap = graph.snap(*homes)
    fac_node, fac_snap = graph.snap(*facilities)
    f = len(fac_node)
    # Virtual node n + i for facility i, one edge to its snapped node weighted by the snap distance.
    virt = np.arange(n, n + f)
    extra = sp.csr_matrix(
        (np.maximum(fac_snap, 1e-3), (virt, fac_node)), shape=(n + f, n + f)
    )  # a zero weight would read as "no edge" in a sparse graph
    base = sp.csr_matrix((graph.csr.data, graph.csr.indices, graph.csr.indptr), shape=(n, n))
    augmented = (sp.block_diag([base, sp.csr_matrix((f, f))]) + extra).tocsr()
    out: dict[str, Nearest] = {}
    for code, members in groups.items():
        if len(members) == 0:
            out[code] = Nearest(np.full(len(home_node), np.inf), np.full(len(home_node), -1))
            continue
        dist, _, source = dijkstra(
            augmented, directed=False, indices=virt[members], min_only=True, return_predecessors=True
        )
        metres = dist[home_node] + home_snap
        src = source[home_node]
        facility = np.where(src >= n, src - n, -1)
        metres = np.where(facility >= 0, metres, np.inf)
        out[code] = Nearest(metres, facility)
    return out


def metres_to_candidates(
    graph: Graph,
    clients: tuple[np.ndarray, np.ndarray],
    candidates: tuple[np.ndarray, np.ndarray],
    limit_m: float,
    batch: int = 64,
) -> np.ndarray:
    """Walking metres from every candidate to every client (clients × candidates), ``inf`` beyond
    ``limit_m``. Dijkstra from the candidates' snapped nodes, bounded by the limit, in batches so
    memory stays at ``batch`` × nodes."""
    client_node, client_snap = graph.snap(*clients)
    cand_node, cand_snap = graph.snap(*candidates)
    cost = np.full((len(client_node), len(cand_node)), np.inf)
    unique_nodes, inverse = np.unique(cand_node, return_inverse=True)
    for start in range(0, len(unique_nodes), batch):
        chunk = unique_nodes[start : start + batch]
        dist = dijkstra(graph.csr, directed=False, indices=chunk, limit=limit_m)
        at_clients = dist[:, client_node].T  # clients × chunk
        for j in np.nonzero((inverse >= start) & (inverse < start + len(chunk)))[0]:
            cost[:, j] = at_clients[:, inverse[j] - start] + client_snap + cand_snap[j]
    cost[cost > limit_m] = np.inf
    return cost
