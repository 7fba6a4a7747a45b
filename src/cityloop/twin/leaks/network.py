"""The water network a leak detector works on: the EPANET model, its pipes and pipe distances.

Units: lengths in metres, flows in m³/h, heads and pressures in metres of water. The model is read with
WNTR and written back as a CMH (m³/h) .inp so that the EPANET toolkit reports every value in these units
whatever the source file used (Net3, for example, is in US units).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import wntr
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from cityloop.core.errors import NotFound, ValidationFailed


@dataclass
class NetworkModel:
    """An EPANET water network and the geometry a leak scorer needs."""

    name: str
    wn: wntr.network.WaterNetworkModel
    source: Path | None = None
    _cmh_dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @classmethod
    def from_inp(cls, path: Path, *, name: str | None = None) -> NetworkModel:
        try:
            wn = wntr.network.WaterNetworkModel(str(path))
        except FileNotFoundError:
            raise
        except Exception as exc:  # WNTR raises many types for a broken file; the user needs one line
            raise ValidationFailed(
                "leaks.network_unreadable", path=str(path), reason=_first_line(exc)
            ) from None
        return cls(name=name or path.stem, wn=wn, source=path)

    @classmethod
    def from_wn(cls, wn: wntr.network.WaterNetworkModel, *, name: str = "network") -> NetworkModel:
        return cls(name=name, wn=wn)

    def cmh_inp(self) -> Path:
        """The model as a CMH .inp (written once per model, removed with the model)."""
        if self._cmh_dir is None:
            self._cmh_dir = tempfile.TemporaryDirectory(prefix="cityloop-leaks-")
            path = Path(self._cmh_dir.name) / "model.inp"
            wntr.network.write_inpfile(self.wn, str(path), units="CMH")
        return Path(self._cmh_dir.name) / "model.inp"

    @cached_property
    def junctions(self) -> list[str]:
        return list(self.wn.junction_name_list)

    @cached_property
    def pipes(self) -> list[str]:
        return list(self.wn.pipe_name_list)

    @cached_property
    def _node_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.wn.node_name_list)}

    @cached_property
    def node_distances(self) -> np.ndarray:
        """All-pairs shortest path length (m) between nodes over pipe lengths; pumps and valves count 0."""
        idx = self._node_index
        rows, cols, vals = [], [], []
        for _, link in self.wn.links():
            a, b = idx[link.start_node_name], idx[link.end_node_name]
            length = float(getattr(link, "length", 0.0)) if link.link_type == "Pipe" else 0.0
            rows += [a, b]
            cols += [b, a]
            # csgraph drops explicit zeros; a tiny length keeps a valve or pump connected
            vals += [max(length, 1e-6)] * 2
        n = len(idx)
        graph = csr_matrix((vals, (rows, cols)), shape=(n, n))
        return np.asarray(dijkstra(graph, directed=False))

    def pipe_distance(self, pipe_a: str, pipe_b: str) -> float:
        """Distance (m) between two pipes' centres: the shortest path over pipe lengths between their
        end nodes plus half of each pipe's length (the BattLeDIM rule); 0 for the same pipe."""
        if pipe_a == pipe_b:
            return 0.0
        (a1, a2, la), (b1, b2, lb) = self.pipe_ends(pipe_a), self.pipe_ends(pipe_b)
        d = self.node_distances
        path = min(d[a1, b1], d[a1, b2], d[a2, b1], d[a2, b2])
        return float(path + la / 2 + lb / 2)

    def pipe_ends(self, pipe: str) -> tuple[int, int, float]:
        try:
            link = self.wn.get_link(pipe)
        except KeyError:
            raise NotFound("leaks.unknown_pipe", pipe=pipe, network=self.name) from None
        idx = self._node_index
        length = float(getattr(link, "length", 0.0)) if link.link_type == "Pipe" else 0.0
        return idx[link.start_node_name], idx[link.end_node_name], length

    @cached_property
    def junction_pipe_distances(self) -> np.ndarray:
        """(junctions × pipes) distance (m) from a junction to each pipe's centre along the network."""
        d = self.node_distances
        jidx = np.array([self._node_index[j] for j in self.junctions])
        out = np.empty((len(jidx), len(self.pipes)))
        for c, pipe in enumerate(self.pipes):
            a, b, length = self.pipe_ends(pipe)
            out[:, c] = np.minimum(d[jidx, a], d[jidx, b]) + length / 2
        return out

    @cached_property
    def pipe_pipe_near(self) -> np.ndarray:
        """Boolean (pipes × pipes): centres within 300 m by the scoring rule (used to pick a pipe)."""
        d = self.node_distances
        ends = [self.pipe_ends(p) for p in self.pipes]
        a = np.array([e[0] for e in ends])
        b = np.array([e[1] for e in ends])
        length = np.array([e[2] for e in ends])
        path = np.minimum.reduce([d[np.ix_(a, a)], d[np.ix_(a, b)], d[np.ix_(b, a)], d[np.ix_(b, b)]])
        dist = path + length[:, None] / 2 + length[None, :] / 2
        np.fill_diagonal(dist, 0.0)
        return dist <= 300.0

    def check_sensors(
        self, *, pressures: list[str], flows: list[str], levels: list[str], demands: list[str]
    ) -> None:
        """Every sensor must sit on an element of the right kind; else one clear error naming it."""
        nodes = set(self.wn.node_name_list)
        junctions = set(self.junctions)
        tanks = set(self.wn.tank_name_list)
        links = set(self.wn.link_name_list)
        for kind, names, valid in (
            ("pressure", pressures, nodes),
            ("demand", demands, junctions),
            ("level", levels, tanks),
            ("flow", flows, links),
        ):
            for name in names:
                if name not in valid:
                    raise ValidationFailed(
                        "leaks.sensor_not_in_network", kind=kind, sensor=name, network=self.name
                    )


def resolve_network(name: str) -> NetworkModel:
    """The network a command names: a stored twin network (``cityloop twin import … --name NAME``),
    or else a path to an EPANET .inp file."""
    path = Path(name)
    if path.suffix.lower() == ".inp" or path.exists():
        if not path.exists():
            raise NotFound("leaks.network_not_found", name=name)
        return NetworkModel.from_inp(path)
    from cityloop.twin.networks import resolve_network as stored_model

    try:
        return NetworkModel.from_inp(stored_model(name))
    except NotFound:
        raise NotFound("leaks.network_not_found", name=name) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
