"""Water-network computations on EPANET (through WNTR's toolkit binding) and WNTR's valve segments.

Pressures are metres of head above the node (EPANET's pressure in SI files; in US-unit files
psi, converted here to m). Snapshots solve one hydraulic period: the model's demand patterns at
the given time of day, tank levels as given. EPANET is opened once per model version and reused:
a snapshot on L-Town (782 junctions) takes ~25 ms that way, against ~300 ms through files.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import networkx as nx

from cityloop.twin.formats import quiet

PSI_TO_M = 0.70307
US_UNITS = {"CFS", "GPM", "MGD", "IMGD", "AFD"}


class EpanetModel:
    """One open EPANET project; not thread-safe, so callers hold ``lock``."""

    def __init__(self, data: bytes) -> None:
        from wntr.epanet import toolkit
        from wntr.epanet.util import EN

        self.EN = EN
        self.lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="cityloop-epanet-")
        inp = Path(self._dir.name) / "model.inp"
        inp.write_bytes(data)
        self.en = toolkit.ENepanet()
        with quiet():
            self.en.ENopen(str(inp), str(Path(self._dir.name) / "model.rpt"), "")
        self.en.ENsettimeparam(EN.DURATION, 0)
        self.n_nodes = self.en.ENgetcount(EN.NODECOUNT)
        self.node_ids = [self.en.ENgetnodeid(i) for i in range(1, self.n_nodes + 1)]
        self.index = {name: i + 1 for i, name in enumerate(self.node_ids)}
        self.junctions = [
            name for i, name in enumerate(self.node_ids, 1) if self.en.ENgetnodetype(i) == EN.JUNCTION
        ]
        self.to_m = PSI_TO_M if self.en.ENgetflowunits() in _us_codes(EN) else 1.0
        demands = [self.en.ENgetnodevalue(self.index[j], EN.BASEDEMAND) for j in self.junctions]
        self.total_base_demand = float(sum(d for d in demands if d > 0))

    def snapshot(
        self,
        *,
        seconds_of_day: int = 0,
        tank_levels: dict[str, float] | None = None,
        emitters: dict[str, float] | None = None,
        closed_links: Iterable[str] = (),
    ) -> dict[str, float]:
        """Pressure (m) at every node for one period; changes are undone before returning."""
        EN, en = self.EN, self.en
        undo: list[tuple[str, int, int, float]] = []
        try:
            en.ENsettimeparam(EN.PATTERNSTART, int(seconds_of_day))
            for tank, level in (tank_levels or {}).items():
                i = self.index[tank]
                undo.append(("node", i, EN.TANKLEVEL, en.ENgetnodevalue(i, EN.TANKLEVEL)))
                en.ENsetnodevalue(i, EN.TANKLEVEL, level)
            for node, coeff in (emitters or {}).items():
                i = self.index[node]
                undo.append(("node", i, EN.EMITTER, en.ENgetnodevalue(i, EN.EMITTER)))
                en.ENsetnodevalue(i, EN.EMITTER, coeff)
            for link in closed_links:
                i = en.ENgetlinkindex(link)
                undo.append(("link", i, EN.INITSTATUS, en.ENgetlinkvalue(i, EN.INITSTATUS)))
                en.ENsetlinkvalue(i, EN.INITSTATUS, 0)
            en.ENopenH()
            en.ENinitH(0)
            with quiet():
                en.ENrunH()
            out = {
                name: en.ENgetnodevalue(i, EN.PRESSURE) * self.to_m for i, name in enumerate(self.node_ids, 1)
            }
            en.ENcloseH()
            return out
        finally:
            for kind, i, code, value in reversed(undo):
                (en.ENsetnodevalue if kind == "node" else en.ENsetlinkvalue)(i, code, value)

    def leak_coefficient(self, base: dict[str, float]) -> float:
        """An emitter that loses about 5 % of the base demand at mean pressure (file flow units)."""
        mean_p = max(1.0, sum(base.values()) / max(1, len(base)) / self.to_m)
        return 0.05 * max(self.total_base_demand, 1e-6) / math.sqrt(mean_p)


_models: dict[str, EpanetModel] = {}
_models_lock = threading.Lock()


def epanet_for(sha256: str, data: bytes) -> EpanetModel:
    """The open EPANET project for a model version (kept for the life of the process)."""
    with _models_lock:
        model = _models.get(sha256)
        if model is None:
            if len(_models) >= 8:
                _models.pop(next(iter(_models)))
            model = _models[sha256] = EpanetModel(data)
        return model


def _us_codes(EN: Any) -> set[int]:
    return {getattr(EN, name) for name in US_UNITS if hasattr(EN, name)}


# --- valve segments ---------------------------------------------------------------------------------


def graph_from_links(links: Iterable[tuple[str, str, str]]) -> nx.MultiDiGraph:
    """A graph of (link ref, from node, to node) for WNTR's topographic metrics."""
    graph = nx.MultiDiGraph()
    for ref, a, b in links:
        graph.add_edge(a, b, key=ref)
    return graph


def valve_segments(links: list[tuple[str, str, str]], valves: list[tuple[str, str]]) -> dict[str, Any]:
    """WNTR's ``valve_segments``: the segment number of every node and link for a valve layer."""
    import pandas as pd
    from wntr.metrics.topographic import valve_segments as wntr_segments

    graph = graph_from_links(links)
    layer = pd.DataFrame(valves, columns=["link", "node"])
    with quiet():
        node_seg, link_seg, _sizes = wntr_segments(graph, layer)
    return {
        "node": {str(k): int(v) for k, v in node_seg.items()},
        "link": {str(k): int(v) for k, v in link_seg.items()},
    }


def isolate(
    *,
    segment: int,
    segments: dict[str, Any],
    links: list[tuple[str, str, str]],
    valves: list[tuple[str, str, str]],
    sources: set[str],
) -> dict[str, Any]:
    """Valves to close around a segment, and every node left without a source once it is closed.

    ``valves`` are (valve ref, link, node); ``sources`` reservoirs, tanks or gas supply points."""
    node_seg, link_seg = segments["node"], segments["link"]
    in_nodes = {n for n, s in node_seg.items() if s == segment}
    in_links = {link for link, s in link_seg.items() if s == segment}
    to_close = [
        {"valve": ref, "link": link, "node": node}
        for ref, link, node in valves
        if (link_seg.get(link) == segment) != (node_seg.get(node) == segment)
    ]
    graph = nx.Graph()
    graph.add_nodes_from(n for n in node_seg if n not in in_nodes)
    graph.add_edges_from(
        (a, b) for ref, a, b in links if ref not in in_links and a not in in_nodes and b not in in_nodes
    )
    cut_off = set(in_nodes)
    for component in nx.connected_components(graph):
        if not component & sources:
            cut_off |= component
    return {
        "segment": segment,
        "segment_nodes": sorted(in_nodes),
        "segment_links": sorted(in_links),
        "valves": to_close,
        "cut_off_nodes": sorted(cut_off),
    }


# --- leak localisation --------------------------------------------------------------------------------


def leak_signatures(
    model: EpanetModel, sensor_nodes: list[str], *, seconds_of_day: int = 3 * 3600
) -> dict[str, Any]:
    """For each junction, the pressure change (m) at the sensor nodes a standard leak there causes.

    Computed at night (3 h by default), when demand is low and leak signals are clearest."""
    with model.lock:
        base = model.snapshot(seconds_of_day=seconds_of_day)
        coeff = model.leak_coefficient(base)
        signatures = {}
        for junction in model.junctions:
            leak = model.snapshot(seconds_of_day=seconds_of_day, emitters={junction: coeff})
            signatures[junction] = [round(leak[s] - base[s], 5) for s in sensor_nodes]
    return {
        "sensors": sensor_nodes,
        "seconds_of_day": seconds_of_day,
        "coefficient": coeff,
        "signatures": signatures,
    }


def rank_leak_pipes(
    precomputed: dict[str, Any],
    residuals: dict[str, float],
    links: list[tuple[str, str, str]],
    *,
    top: int = 10,
) -> list[dict[str, Any]]:
    """Pipes ranked by how well a leak at their ends explains the observed pressure residuals
    (observed − expected, m, per sensor node): cosine similarity of the residual vector with each
    junction's leak signature; with fewer than three sensors, by sensitivity at those sensors."""
    sensors = precomputed["sensors"]
    use = [i for i, s in enumerate(sensors) if s in residuals]
    if not use:
        return []
    r = [residuals[sensors[i]] for i in use]
    r_norm = math.sqrt(sum(v * v for v in r)) or 1.0
    node_score: dict[str, float] = {}
    for junction, signature in precomputed["signatures"].items():
        s = [signature[i] for i in use]
        dot = sum(a * b for a, b in zip(r, s, strict=True))
        s_norm = math.sqrt(sum(v * v for v in s))
        if s_norm == 0:
            continue
        node_score[junction] = dot / (r_norm * s_norm) if len(use) >= 3 else dot / r_norm
    scored: list[tuple[float, str, str, str]] = []
    for ref, a, b in links:
        score = max(node_score.get(a, -math.inf), node_score.get(b, -math.inf))
        if score > -math.inf:
            scored.append((score, ref, a, b))
    scored.sort(key=lambda p: -p[0])
    return [{"pipe": ref, "score": round(score, 4), "nodes": [a, b]} for score, ref, a, b in scored[:top]]
