"""Where a leak is: candidate junctions' scores → probabilities → the pipe most likely within 300 m.

A leak on a pipe shows in the model like extra outflow at one of its end junctions, so the search runs
over junctions and the answer is a pipe: the one whose centre is within 300 m (network distance, the
benchmark's rule) of the most probability. Scores are 2 × log-likelihood ratios; because the model is
never perfect, differences between candidates are tempered in proportion to the signal
(``relative_model_error``), so a big leak does not make the model overconfident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from cityloop.core.errors import NotFound
from cityloop.twin.leaks.hydraulics import HydraulicModel
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.records import Candidate, SensorEvidence, SensorLayout
from cityloop.twin.leaks.window import EvidenceWindow, HourState, choose_pipe, posterior

RADIUS = 300.0  # m, the benchmark's localisation tolerance


@dataclass
class Located:
    node: int
    pipe: str
    within: float  # probability that ``pipe`` is within 300 m of the leak
    prob: np.ndarray = field(repr=False)
    candidates: list[Candidate]
    score: float
    scores: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


class Localiser:
    """Junction candidates of one network (in the hydraulic model's order) and their pipes."""

    def __init__(
        self, network: NetworkModel, junction_names: list[str], what_if: HydraulicModel | None = None
    ) -> None:
        self.network = network
        self.what_if = what_if
        self.junction_names = junction_names
        self.position = {n: i for i, n in enumerate(junction_names)}
        order = [network.junctions.index(n) for n in junction_names]
        jp = network.junction_pipe_distances[order]
        half = self._half_adjacent_length()
        # a leak at junction k lies on a pipe touching k, whose centre is about half its length away
        self.distance = jp + half[:, None]
        self.near = (self.distance <= RADIUS).astype(float)
        self.pipes = network.pipes
        self.pipe_index = {p: i for i, p in enumerate(self.pipes)}
        self.pressure = np.full(len(junction_names), 30.0)
        nodes = [network.wn.node_name_list.index(n) for n in junction_names]
        self.node_near = network.node_distances[np.ix_(nodes, nodes)] <= RADIUS

    def _half_adjacent_length(self) -> np.ndarray:
        wn = self.network.wn
        out = np.zeros(len(self.junction_names))
        for i, name in enumerate(self.junction_names):
            lengths = [wn.get_link(p).length for p in wn.get_links_for_node(name) if p in wn.pipe_name_list]
            out[i] = 0.5 * float(np.median(lengths)) if lengths else 0.0
        return out

    def typical_pressure(self, node: int) -> float:
        return float(self.pressure[node])

    def node_of_pipe(self, pipe: str) -> int:
        try:
            link = self.network.wn.get_link(pipe)
        except KeyError:
            raise NotFound("leaks.unknown_pipe", pipe=pipe, network=self.network.name) from None
        for node in (link.start_node_name, link.end_node_name):
            if node in self.position:
                return self.position[node]
        raise NotFound("leaks.unknown_pipe", pipe=pipe, network=self.network.name)

    def probability_around(self, prob: np.ndarray, node: int) -> float:
        """Probability that the leak is within 300 m of junction ``node``."""
        return float(prob[self.node_near[node]].sum())

    def pipes_near(self, a: str, b: str) -> bool:
        """Whether two pipes' centres are within 300 m (the benchmark's rule)."""
        return bool(self.network.pipe_pipe_near[self.pipe_index[a], self.pipe_index[b]])

    def probability_near(self, prob: np.ndarray, pipe: str) -> float:
        return float(prob @ self.near[:, self.pipe_index[pipe]])

    def locate(self, scores: np.ndarray, best: float, temperature: float) -> Located:
        prob = posterior(scores, temperature)
        pipe_i, within = choose_pipe(prob, self.near, self.distance)
        ranked = [pipe_i, *[int(i) for i in np.argsort(-within)[:5] if int(i) != pipe_i][:4]]
        return Located(
            node=int(np.argmax(prob)),
            pipe=self.pipes[pipe_i],
            within=float(within[pipe_i]),
            prob=prob,
            candidates=[Candidate(self.pipes[int(i)], round(float(within[i]), 3)) for i in ranked],
            score=float(best),
            scores=scores,
        )

    def exact_sse(
        self,
        window: EvidenceWindow,
        *,
        slots: np.ndarray,
        residual: np.ndarray,
        flows: np.ndarray,
        candidates: np.ndarray,
        leak_id: int | None,
        others: list[int],
    ) -> tuple[np.ndarray, int]:
        """Squared misfit of each candidate junction, with the leak simulated there by EPANET.

        For each sampled hour (ring ``slots``, with ``residual`` = observed − expected there, normalised,
        and the leak's ``flows`` in m³/h) the expected run of that hour is re-solved at its middle with the
        leak (``leak_id``, or a new one) moved to each candidate; the change it makes is compared with the
        residual. Non-linear and exact where the linear screening is only first order."""
        sse = np.zeros(len(candidates))
        used = 0
        for row, slot in enumerate(slots):
            rec = window.meta[int(slot)]
            if rec is None or rec.state is None or flows[row] <= 0:
                continue
            st = rec.state
            base = dict(st.emitters)
            without = dict(base)
            if leak_id is not None and leak_id in st.leak_coefs:
                node, coef = st.leak_coefs[leak_id]
                without[node] = without.get(node, 0.0) - coef
                if without[node] <= 1e-12:
                    del without[node]
            sigma = np.where(np.isfinite(rec.sigma), rec.sigma, np.inf)
            basis = np.linalg.qr(window.sens[int(slot)][:, others])[0] if others else None
            ref = self._snap(st, rec.factor, base)
            for c, k in enumerate(candidates):
                em = dict(without)
                em[int(k)] = em.get(int(k), 0.0) + flows[row] / np.sqrt(max(self.pressure[int(k)], 1.0))
                delta = (self._snap(st, rec.factor, em) - ref) / sigma
                if basis is not None:
                    delta = delta - basis @ (basis.T @ delta)
                r = residual[row] - delta
                sse[c] += float(r @ r)
            used += 1
        return sse, used

    def _snap(self, st: HourState, factor: float, emitters: dict[int, float]) -> np.ndarray:
        assert self.what_if is not None
        return self.what_if.snapshot(
            time_of_week=st.time_of_week,
            demand_factor=factor,
            tank_levels=st.levels,
            pumps_on=st.pumps,
            emitters=emitters,
        )

    def decide(self, screen: np.ndarray, candidates: np.ndarray, sse: np.ndarray, terms: int) -> Located:
        """Probabilities over all junctions: the screening's (``screen``, a posterior) everywhere, and
        within the simulated candidates their share split by their exact misfits (tempered by the best
        misfit per term). A place is only as certain as the screening allows."""
        temperature = max(1.0, float(sse.min()) / max(terms, 1))
        prob = screen.copy()
        prob[candidates] = screen[candidates].sum() * posterior(-sse, temperature)
        pipe_i, within = choose_pipe(prob, self.near, self.distance)
        ranked = [pipe_i, *[int(i) for i in np.argsort(-within)[:5] if int(i) != pipe_i][:4]]
        scores = np.zeros(len(self.junction_names))
        scores[candidates] = float(sse.max()) - sse
        return Located(
            node=int(candidates[int(np.argmin(sse))]),
            pipe=self.pipes[pipe_i],
            within=float(within[pipe_i]),
            prob=prob,
            candidates=[Candidate(self.pipes[int(i)], round(float(within[i]), 3)) for i in ranked],
            score=float(sse.max() - sse.min()),
            scores=scores,
        )

    def evidence(
        self, window: EvidenceWindow, layout: SensorLayout, *, since: datetime
    ) -> list[SensorEvidence]:
        """The observations furthest from the model (in noise units) since the leak's onset."""
        records = [r for r in window.records() if r.start >= since] or window.records()[-1:]
        raw = np.mean([r.raw for r in records], axis=0)
        expected = np.mean([r.expected for r in records], axis=0)
        sigma = np.mean([r.sigma for r in records], axis=0) / np.sqrt(len(records))
        rows: list[tuple[str, str, str]] = (
            [(n, "pressure", "m") for n in layout.pressures]
            + [(n, "flow", "m³/h") for n in layout.flows]
            + [(n, "tank_inflow", "m³/h") for n in layout.levels]
        )
        z = np.abs(raw) / np.where(sigma > 0, sigma, np.inf)
        out = []
        for i in np.argsort(-z)[:6]:
            name, kind, unit = rows[int(i)]
            out.append(
                SensorEvidence(
                    sensor=name,
                    kind=kind,
                    observed=round(float(expected[i] + raw[i]), 3),
                    expected=round(float(expected[i]), 3),
                    unit=unit,
                )
            )
        return out
