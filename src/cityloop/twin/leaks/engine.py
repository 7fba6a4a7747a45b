"""The leak detector: feed it readings as they arrive, get detections with ranked pipes and evidence.

Every 5-minute step the network model is run at the observed conditions (demand scaled by the smart
meters, tank levels and pump states as measured, leaks already found as emitters) and the readings are
compared with what it expects. Every hour the mean deviations, divided by their noise, go into an
evidence window with the model's leak sensitivities (see ``window``), and three things happen:

1. the tracked leaks are re-fitted (their size may grow; a repaired one fades and is dropped);
2. young tracked leaks are re-localised with all the data since their onset (refined as they grow);
3. a new leak is searched for: the best candidate junction, onset and shape (abrupt step or growing
   ramp). Past the threshold it becomes a tracked leak at once, and is reported when its place is
   known well enough (probability that the chosen pipe is within 300 m of the leak).

The batch command and the online worker both call ``update`` with one time step at a time.
"""

from __future__ import annotations

import math
import pickle
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from cityloop.core.errors import ValidationFailed
from cityloop.twin.leaks.demand import DemandFactor, PatternDemand
from cityloop.twin.leaks.hydraulics import HydraulicModel
from cityloop.twin.leaks.localise import Localiser, Located
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.records import Detection, DetectorSettings, Readings, SensorLayout
from cityloop.twin.leaks.window import Best, EvidenceWindow, HourRecord, HourState, posterior, scan

# Patterns of the model start on a Monday at midnight (L-Town's 2018 data starts Monday 1 January).
PATTERN_ORIGIN = datetime(2018, 1, 1)
PUMP_ON_FLOW = 0.5  # m³/h: a pump reading more than this is running
# Cosine above which a new leak's signature is first tried as a tracked leak in the wrong place.
SIMILAR = 0.5
# Placing a leak: hours screened linearly over all junctions, then candidates × hours simulated exactly.
SCREEN_HOURS = 72
EXACT_CANDIDATES = 8
EXACT_HOURS = 6
# Model errors (the day's demand factor, solver tolerance) repeat within a day, so evidence is worth
# about one independent sample per day, not per hour: the localisation temperature is at least
# hours / DAY_HOURS.
DAY_HOURS = 24.0
# Unreported tracked leaks whose signatures (latest hour) have a cosine above this are fragments of one
# leak and are merged.
MERGE_COS = 0.8


# Rebuilt from the network on restore, never stored in a snapshot (EPANET handles, derived tables).
_REBUILT = frozenset({"network", "layout", "hyd", "loc", "nodal"})


@dataclass
class TrackedLeak:
    id: int
    node: int  # candidate position
    onset: datetime
    coef: float  # emitter coefficient in the expected run (m³/h per √m)
    reported_pipe: str | None = None
    carried_over: bool = False
    flow: float = 0.0  # fitted flow in the last hour (m³/h)
    last_place: str | None = None  # best pipe at the previous localisation (a place must hold twice)
    # when this leak was last re-placed to explain a new signal and stayed put; until
    # ``relocate_every`` hours later it is not re-simulated for the same question again
    rechecked: datetime | None = None
    placed_flow: float = 0.0  # fitted flow (m³/h) when it was last localised
    big_since: datetime | None = None  # since when it has been big enough to report (unreported leaks)


@dataclass
class _Step:
    time: datetime
    p_res: np.ndarray
    f_res: np.ndarray
    f_obs: np.ndarray
    p_exp: np.ndarray
    f_exp: np.ndarray
    levels: np.ndarray
    tank_model_inflow: np.ndarray
    leak_flows: dict[int, float]
    factor: float


class LeakDetector:
    """Online leak detection and localisation for one network and one sensor layout."""

    def __init__(
        self,
        network: NetworkModel,
        layout: SensorLayout,
        settings: DetectorSettings | None = None,
        *,
        known_leak_pipes: tuple[str, ...] = (),
        pattern_origin: datetime = PATTERN_ORIGIN,
        step_seconds: int = 300,
    ) -> None:
        network.check_sensors(**{k: list(v) for k, v in layout.kinds().items()})
        self.network, self.layout = network, layout
        self.settings = settings or DetectorSettings()
        self.hyd = HydraulicModel(
            network,
            pressure_nodes=list(layout.pressures),
            flow_links=list(layout.flows),
            level_tanks=list(layout.levels),
        )
        what_if = HydraulicModel(
            network,
            pressure_nodes=list(layout.pressures),
            flow_links=list(layout.flows),
            level_tanks=list(layout.levels),
        )
        self.loc = Localiser(network, self.hyd.junction_names, what_if)
        self.demand = (
            DemandFactor(PatternDemand.for_nodes(network, list(layout.demands))) if layout.demands else None
        )
        self.nodal = PatternDemand.for_nodes(network, self.hyd.junction_names)
        # no single leak in the expected run may exceed the network's mean demand (keeps the fit stable)
        week = np.arange(0, 604800, 3600)
        self.max_leak_flow = max(float(np.mean([self.nodal.at(float(t)).sum() for t in week])) / 1000.0, 5.0)
        self.pattern_origin = pattern_origin
        self.cycle = _pattern_cycle(network)
        pump_links = {network.wn.get_link(name).name for name in network.wn.pump_name_list}
        self.pump_cols = np.array([i for i, name in enumerate(layout.flows) if name in pump_links], dtype=int)
        self.tank_area = np.array([_tank_area(network, t) for t in layout.levels])
        self.window = EvidenceWindow(self.settings.window_hours, self.n_obs, len(self.hyd.junction_names))
        self.tracked: dict[int, TrackedLeak] = {}
        self._next_id = 1
        self._hour: list[_Step] = []
        self._sens: np.ndarray | None = None
        self._mid: HourState | None = None
        self._last: datetime | None = None
        self._step_s = int(step_seconds)
        self._prev_levels: np.ndarray | None = None
        self._inflow_hist: deque[np.ndarray] = deque(maxlen=24)
        self._noise: deque[np.ndarray] = deque(maxlen=48)
        self.hours_seen = 0
        self._restart = False
        for pipe in known_leak_pipes:
            leak = self._add_leak(self.loc.node_of_pipe(pipe), onset=pattern_origin, flow=0.0)
            leak.carried_over, leak.reported_pipe = True, pipe

    # -- public -----------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The detector's whole state (window, tracked leaks, partial hour) as bytes, for a restart:
        ``LeakDetector.restore(network, layout, blob)`` continues where this one stands."""
        state = {k: v for k, v in self.__dict__.items() if k not in _REBUILT}
        state["loc_pressure"] = self.loc.pressure
        return zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 1)

    @classmethod
    def restore(cls, network: NetworkModel, layout: SensorLayout, blob: bytes) -> LeakDetector:
        """A detector continuing from ``snapshot()`` (same network model and sensor layout). Only
        snapshots this process or a trusted worker wrote may be restored (they are pickles)."""
        state = pickle.loads(zlib.decompress(blob))
        detector = cls(
            network, layout, state["settings"], pattern_origin=state["pattern_origin"],
            step_seconds=state["_step_s"],
        )  # fmt: skip
        detector.loc.pressure = state.pop("loc_pressure")
        detector.__dict__.update(state)
        detector._restart = True  # the EPANET run starts again at the next step
        return detector

    @property
    def n_obs(self) -> int:
        return len(self.layout.pressures) + len(self.layout.flows) + len(self.layout.levels)

    def update(self, readings: Readings) -> list[Detection]:
        """Take one time step of readings; return the detections it completes (usually none).

        A gap in the readings closes the current hour and restarts the model run after the gap.
        """
        out: list[Detection] = []
        if self._last is not None and readings.time <= self._last:
            raise ValidationFailed("leaks.time_not_increasing", time=readings.time.isoformat())
        if self._last is None or (readings.time - self._last).total_seconds() != self._step_s:
            out += self.finish()
            self.hyd.start(time_of_week=self._tow(readings.time), step_seconds=self._step_s)
            self._prev_levels = None
        elif self._restart:  # restored from a snapshot: same run, new EPANET project
            self.hyd.start(time_of_week=self._tow(readings.time), step_seconds=self._step_s)
        self._restart = False
        self._last = readings.time
        return out + self._take(readings)

    def finish(self) -> list[Detection]:
        """Close a partial last hour (end of a batch)."""
        return self._close_hour() if self._hour else []

    def close(self) -> None:
        """Release the EPANET projects."""
        self.hyd.close()
        if self.loc.what_if is not None:
            self.loc.what_if.close()

    # -- per step ---------------------------------------------------------------------------------
    def _tow(self, t: datetime) -> float:
        return (t - self.pattern_origin).total_seconds() % self.cycle

    def _take(self, r: Readings) -> list[Detection]:
        out: list[Detection] = []
        if self._hour and _hour_of(self._hour[0].time) != _hour_of(r.time):
            out += self._close_hour()
        factor = 1.0
        if self.demand is not None:
            factor = self.demand.update(day=r.time.date(), time_of_week=self._tow(r.time), readings=r.demands)
        pumps = None
        if len(self.pump_cols):
            pumps = np.nan_to_num(r.flows[self.pump_cols], nan=PUMP_ON_FLOW * 2) > PUMP_ON_FLOW
        emitters: dict[int, float] = {}
        for leak in self.tracked.values():
            if leak.coef > 0:
                emitters[leak.node] = emitters.get(leak.node, 0.0) + leak.coef
        sol = self.hyd.step(demand_factor=factor, tank_levels=r.levels, pumps_on=pumps, emitters=emitters)
        root_p = {
            n: math.sqrt(max(p, 0.0)) for n, p in zip(sorted(emitters), sol.leak_pressures, strict=True)
        }
        leak_flows = {leak.id: leak.coef * root_p.get(leak.node, 0.0) for leak in self.tracked.values()}
        self._hour.append(
            _Step(
                r.time, r.pressures - sol.pressures, r.flows - sol.flows, r.flows, sol.pressures,
                sol.flows, r.levels, sol.tank_inflow, leak_flows, factor,
            )
        )  # fmt: skip
        if r.time.minute >= 30 and self._sens is None:
            self._sens = self.hyd.sensitivities()
            coefs = {leak.id: (leak.node, leak.coef) for leak in self.tracked.values() if leak.coef > 0}
            self._mid = HourState(self._tow(r.time), r.levels.copy(), pumps, dict(emitters), coefs)
            if self.hours_seen % 24 == 0:
                self.loc.pressure = self.hyd.junction_pressures()
        if _hour_of(r.time + timedelta(seconds=self._step_s)) != _hour_of(r.time):
            out += self._close_hour()
        return out

    # -- per hour ---------------------------------------------------------------------------------
    def _close_hour(self) -> list[Detection]:
        steps, self._hour = self._hour, []
        sens = self._sens if self._sens is not None else self.hyd.sensitivities()
        state, self._sens, self._mid = self._mid, None, None
        if not steps:
            return []
        y_raw, sigma, expected = self._hour_residual(steps)
        ok = np.isfinite(y_raw) & np.isfinite(sigma) & (sigma > 0)
        y = np.where(ok, y_raw / np.where(ok, sigma, 1.0), 0.0)
        s_norm = np.where(ok[:, None], sens / np.where(ok, sigma, 1.0)[:, None], 0.0)
        base = {i: float(np.mean([s.leak_flows.get(i, 0.0) for s in steps])) for i in self.tracked}
        base_nodes = {i: leak.node for i, leak in self.tracked.items()}
        demand = np.mean([self.nodal.at(self._tow(s.time)) for s in steps], axis=0) / 1000.0  # m³/h
        dem = np.where(ok, (sens @ demand) / np.where(ok, sigma, 1.0), 0.0)
        factor = float(np.mean([s.factor for s in steps]))
        record = HourRecord(
            _hour_of(steps[0].time), base, base_nodes, np.where(ok, y_raw, 0.0), expected,
            np.where(ok, sigma, np.inf), factor, steps[0].time.date(), state,
        )  # fmt: skip
        self.window.push(record, y, s_norm, dem, self._positions())
        if self.demand is not None:
            self.window.revise_day(record.day, self.demand.factor)
        self.hours_seen += 1
        now = steps[-1].time
        self._update_emitters()
        if self.hours_seen < self.settings.warmup_hours:
            return []
        out = self._maintain(now)
        out += self._search_new(now)
        return out

    def _hour_residual(self, steps: list[_Step]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean deviation per observation (m or m³/h), its noise, and the model's expected mean."""
        p = np.array([s.p_res for s in steps])
        f = np.array([s.f_res for s in steps])
        n = np.maximum(np.isfinite(np.concatenate([p, f], axis=1)).sum(axis=0), 1)
        mean = np.concatenate([np.nanmean(p, axis=0), np.nanmean(f, axis=0)]) if len(steps) else np.zeros(0)
        spread = _robust_std(np.concatenate([p, f], axis=1))
        expected = np.concatenate(
            [np.mean([s.p_exp for s in steps], axis=0), np.mean([s.f_exp for s in steps], axis=0)]
        )
        tank_y, tank_spread, tank_exp = self._tank_rows(steps)
        spread = np.concatenate([spread, tank_spread])
        if self._noise:
            spread = np.where(np.isfinite(spread), spread, self._noise[-1])
        self._noise.append(spread)
        step_noise = np.median(np.array(self._noise), axis=0)
        f_obs = np.nanmean(np.array([s.f_obs for s in steps]), axis=0)
        s = self.settings
        floors = np.concatenate(
            [
                np.full(len(self.layout.pressures), s.pressure_noise_floor),
                s.flow_noise_floor * np.abs(np.nan_to_num(f_obs)) + 0.05,
                np.full(len(self.layout.levels), s.tank_noise_floor),
            ]
        )
        counts = np.concatenate([n, np.ones(len(self.layout.levels))])
        sigma = np.sqrt(step_noise**2 / counts + floors**2)
        return np.concatenate([mean, tank_y]), sigma, np.concatenate([expected, tank_exp])

    def _tank_rows(self, steps: list[_Step]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tank net inflow (m³/h) seen by the level (difference of hourly mean levels) vs the model."""
        k = len(self.layout.levels)
        if k == 0:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        levels = np.array([s.levels for s in steps])
        mean_level = np.nanmean(levels, axis=0) if len(steps) else np.full(k, np.nan)
        for s in steps:
            self._inflow_hist.append(s.tank_model_inflow)
        hist = np.array(self._inflow_hist)
        hours = len(steps) * self._step_s / 3600.0
        observed = np.full(k, np.nan)
        expected = np.full(k, np.nan)
        if self._prev_levels is not None and len(hist) >= 2 * len(steps):
            observed = self.tank_area * (mean_level - self._prev_levels) / hours
            # the mean level moves with the inflows of the steps before each reading (triangular weights)
            n = len(steps)
            w = np.concatenate([np.arange(1, n + 1), np.arange(n - 1, 0, -1)]).astype(float)
            window = hist[-(2 * n) : -1]
            expected = (w[:, None] * window).sum(axis=0) / w.sum()
        self._prev_levels = mean_level
        second = np.diff(levels, n=2, axis=0) if len(steps) > 2 else np.full((1, k), np.nan)
        level_noise = _robust_std(second) / math.sqrt(6.0)
        spread = self.tank_area * level_noise * math.sqrt(2.0 / len(steps)) / hours
        return observed - expected, spread, expected

    def _positions(self) -> dict[int, int]:
        return {i: leak.node for i, leak in self.tracked.items()}

    def _update_emitters(self) -> None:
        """Tracked leaks enter the next hours' expected run at their recent fitted size."""
        cap = self.max_leak_flow
        for leak in self.tracked.values():
            leak.flow = self._recent(leak, 1)
            flow = min(max(self._recent(leak, 3), 0.0), cap)
            pressure = self.loc.typical_pressure(leak.node)
            leak.coef = flow / math.sqrt(max(pressure, 1.0))

    def _recent(self, leak: TrackedLeak, hours: int) -> float:
        """Mean fitted flow (m³/h) of a tracked leak over its last hours."""
        tail = self.window.flows(leak.id)[-hours:]
        return float(tail.mean()) if len(tail) else 0.0

    def _age_hours(self, leak: TrackedLeak, now: datetime) -> float:
        return (now - leak.onset).total_seconds() / 3600.0

    def _young(self, leak: TrackedLeak, now: datetime) -> bool:
        """Tracked for at most ``relocate_days`` since its estimated onset (its place not yet earned)."""
        return self._age_hours(leak, now) <= self.settings.relocate_days * 24

    # -- decisions --------------------------------------------------------------------------------
    def _add_leak(self, node: int, *, onset: datetime, flow: float) -> TrackedLeak:
        leak = TrackedLeak(self._next_id, node, onset, 0.0)
        leak.coef = max(flow, 0.0) / math.sqrt(max(self.loc.typical_pressure(node), 1.0))
        self._next_id += 1
        self.tracked[leak.id] = leak
        self.window.refit(self._positions())
        return leak

    def _drop(self, leak: TrackedLeak) -> None:
        del self.tracked[leak.id]
        self.window.refit(self._positions())

    def _maintain(self, now: datetime) -> list[Detection]:
        """Drop leaks that faded (repaired, or never there); re-place young ones with their history."""
        out: list[Detection] = []
        s = self.settings
        for leak in list(self.tracked.values()):
            age_h = int(self._age_hours(leak, now))
            if age_h >= 48 and self._recent(leak, 24) < s.end_flow:
                self._drop(leak)
                continue
            # A reported leak still growing is placed again: its signal is stronger than when it was
            # placed (an incipient leak is found small, where the place is least certain). One that
            # shrank (a burst repaired, a slow leak nearby left in it) measures its growth from there.
            # An unreported leak has not earned its place however old it is: one tracked small for
            # weeks takes up a slowly growing leak nearby, and must be placed again to be reported for
            # it (2018: p654 and p31 were taken up so and never reported; p326 in a synthetic 2017).
            if leak.reported_pipe is not None:
                leak.placed_flow = min(leak.placed_flow, self._recent(leak, 24))
            else:
                big = self._recent(leak, 6) >= s.report_flow
                leak.big_since = (leak.big_since or now) if big else None
            grown = leak.reported_pipe is not None and self._grown(leak)
            young = age_h <= s.relocate_days * 24 or grown or leak.reported_pipe is None
            if not leak.carried_over and age_h % s.relocate_every == 0 and young:
                out += self._relocate(leak, now)
        if self.hours_seen % s.relocate_every == 0:
            out += self._merge_fragments(now)
        return out

    def _merge_fragments(self, now: datetime) -> list[Detection]:
        """Unreported tracked leaks with near-equal signatures share one signal between them (a leak
        where the sensors cannot tell places apart, taken up piecewise by leaks placed nearby, none of
        them big enough to report): the largest takes the others' flow and is placed again."""
        loose = [x for x in self.tracked.values() if x.reported_pipe is None and not x.carried_over]
        if len(loose) < 2 or not len(self.window):
            return []
        loose.sort(key=lambda x: -self._recent(x, 24))
        cols = self.window.last_sens()[:, [x.node for x in loose]]
        cols = cols / np.maximum(np.linalg.norm(cols, axis=0), 1e-12)
        cos = cols.T @ cols
        out: list[Detection] = []
        gone: set[int] = set()
        for i, keep in enumerate(loose):
            if keep.id in gone:
                continue
            group = [x for j, x in enumerate(loose) if j > i and x.id not in gone and cos[i, j] > MERGE_COS]
            if not group:
                continue
            for other in group:
                self.window.hand_over(other.id, keep.id, keep.node)
                del self.tracked[other.id]
                gone.add(other.id)
            keep.onset = min([keep.onset, *[x.onset for x in group]])
            self.window.refit(self._positions())
            out += self._relocate(keep, now, force=True)
        return out

    def _grown(self, leak: TrackedLeak) -> bool:
        """Whether a tracked leak's flow has grown well beyond the flow it had when it was placed."""
        s = self.settings
        return self._recent(leak, 6) >= s.relocate_growth * max(leak.placed_flow, s.report_flow)

    def _relocate(self, leak: TrackedLeak, now: datetime, *, force: bool = False) -> list[Detection]:
        result = self._where(leak)
        if result is None:
            return []
        grown = self._grown(leak)
        leak.placed_flow = self._recent(leak, 6)
        # move only when the current place has become unlikely, so a leak does not wander between equals
        if result.node != leak.node and (
            force or self.loc.probability_around(result.prob, leak.node) < self.settings.move_below
        ):
            if grown and leak.reported_pipe is not None and not force:
                return self._split(leak, result)
            leak.node = result.node
            self.window.refit(self._positions())
        return self._maybe_report(leak, result, now)

    def _split(self, leak: TrackedLeak, result: Located) -> list[Detection]:
        """A reported leak whose flow grew after it was placed, and whose signal now points more than
        300 m away, is taken as a second leak there (typically a slowly growing one that the first
        absorbed, since new leaks are only sought away from tracked ones). The first keeps its place;
        if it was never there, its flow fades and it is dropped. The second is reported once its place
        holds, like any growing leak."""
        slots = self._since(leak.onset, SCREEN_HOURS)
        record = self.window.meta[int(slots[0])] if len(slots) else None
        onset = record.start if record is not None else leak.onset
        # it enters the expected run at zero flow: the first still carries the whole flow there, and
        # the fit (free before it was tracked) shares the flow out between the two
        second = self._add_leak(result.node, onset=onset, flow=0.0)
        second.last_place = result.pipe
        return []

    def _where(self, leak: TrackedLeak) -> Located | None:
        """Where a tracked leak is, from the hours since its onset: a linear screening of every junction,
        then EPANET with the leak moved to each of the best few."""
        slots = self._since(leak.onset, SCREEN_HOURS)
        if len(slots) < 2:
            return None
        others = {i: n for i, n in self._positions().items() if i != leak.id}
        fit = self.window.fit_slots(slots, others)
        flows = np.maximum(self.window.flows_at(leak.id, slots), 0.0)
        if flows.max() <= 0:
            return None
        sens = self.window.sens[slots]
        z = fit.e.copy()
        for row, slot in enumerate(slots):
            rec = self.window.meta[int(slot)]
            if rec is not None and leak.id in rec.base_nodes:
                z[row] += rec.base_flows[leak.id] * sens[row, :, rec.base_nodes[leak.id]]
        num = np.einsum("h,hm,hmn->n", flows, z, sens)
        den = np.maximum(np.einsum("h,hmn,hmn->n", flows**2, sens, sens), 1e-12)
        screen = np.where(num > 0, num * num / den, 0.0)
        energy = float(np.einsum("hm,hm->", z, z))
        temperature = max(
            1.0, (energy - float(screen.max())) / max(len(slots) * self.n_obs - 1, 1), len(slots) / DAY_HOURS
        )
        prior = posterior(screen, temperature)
        candidates = np.unique(np.append(np.argsort(-screen)[:EXACT_CANDIDATES], leak.node))
        pick = _spread(len(slots), EXACT_HOURS)
        sse, used = self.loc.exact_sse(
            self.window, slots=slots[pick], residual=fit.e[pick], flows=flows[pick], candidates=candidates,
            leak_id=leak.id, others=list(others.values()),
        )  # fmt: skip
        return self.loc.decide(prior, candidates, sse, used * self.n_obs) if used else None

    def _since(self, onset: datetime, limit: int) -> np.ndarray:
        """Ring slots of the hours since ``onset`` (at most the last ``limit``), oldest first."""
        records = self.window.records()
        hours = min(sum(1 for r in records if r.start >= _hour_of(onset)), limit)
        return self.window.last_slots(hours)

    def _maybe_report(self, leak: TrackedLeak, result: Located, now: datetime) -> list[Detection]:
        s = self.settings
        if leak.reported_pipe is None:
            # a young leak's clock starts at its onset; an old one's when it grew big enough to report
            since = leak.onset if self._young(leak, now) else (leak.big_since or now)
            waited = (now - since).total_seconds() / 3600.0
            big_enough = self._recent(leak, 6) >= s.report_flow
            held = leak.last_place is not None and self.loc.pipes_near(leak.last_place, result.pipe)
            leak.last_place = result.pipe
            if big_enough and ((held and result.within >= s.report_probability) or waited >= s.give_up_hours):
                return [self._report(leak, result, now)]
            return []
        if leak.carried_over:
            return []
        still = self.loc.probability_near(result.prob, leak.reported_pipe)
        if still < 0.2 and result.within >= s.report_probability:
            return [self._report(leak, result, now, relocated=True)]
        return []

    def _search_new(self, now: datetime) -> list[Detection]:
        s = self.settings
        best = self._scan()
        if best is None:
            return []
        # first ask whether a tracked leak in the wrong place explains it better than a new leak
        for leak in self._similar_tracked(int(np.argmax(best.scores)), now):
            # A persistent unexplained signal would otherwise re-simulate the same leak every hour
            # (EPANET over candidates × hours, then two refits): the answer changes only as the
            # evidence grows, so ask again after ``relocate_every`` hours.
            if leak.rechecked is not None and now - leak.rechecked < timedelta(hours=s.relocate_every):
                continue
            leak.rechecked = now
            before = leak.node
            result = self._where(leak)
            if result is None or result.node == before:
                continue
            leak.node = result.node
            self.window.refit(self._positions())
            if self._scan() is None:
                return self._maybe_report(leak, result, now)
            leak.node = before
            self.window.refit(self._positions())
        result = self._place_new(best)
        onset = self.window.records()[best.onset].start
        leak = self._add_leak(result.node, onset=onset, flow=best.flow)
        leak.last_place, leak.placed_flow = result.pipe, max(best.flow, 0.0)
        # a burst is placed at once; a growing leak is reported when its place holds at the next look
        abrupt = best.shape == "step" and best.flow >= s.min_flow
        if abrupt and result.within >= s.report_probability:
            return [self._report(leak, result, now, score=best.score, flow=best.flow)]
        return []

    def _place_new(self, best: Best) -> Located:
        """Where a new leak is: the scan's best candidates, each simulated by EPANET over its hours."""
        span = len(self.window) - best.onset
        slots = self.window.last_slots(span)
        pick = _spread(span, EXACT_HOURS)
        ramp = np.arange(1, span + 1, dtype=float) / span
        flows = best.flow * (ramp if best.shape == "ramp" else np.ones(span))
        candidates = np.argsort(-best.scores)[:EXACT_CANDIDATES]
        sse, used = self.loc.exact_sse(
            self.window, slots=slots[pick], residual=self.window.fit.e[slots[pick]], flows=flows[pick],
            candidates=candidates, leak_id=None, others=list(self._positions().values()),
        )  # fmt: skip
        if not used:
            return self.loc.locate(best.scores, best.score, best.temperature)
        temperature = max(best.temperature, span / DAY_HOURS)
        return self.loc.decide(posterior(best.scores, temperature), candidates, sse, used * self.n_obs)

    def _scan(self) -> Best | None:
        """The best new-leak hypothesis if it passes the thresholds, else None."""
        s = self.settings
        a, b, energy = self.window.matrices()
        # a new leak is sought more than 300 m from the tracked ones: nearer, it is one of them
        allowed: np.ndarray | None = None
        if self.tracked:
            nodes = [leak.node for leak in self.tracked.values()]
            allowed = np.asarray(~self.loc.node_near[:, nodes].any(axis=1))
        best = scan(
            a, b, energy, n_obs=self.n_obs, step_onsets=s.step_onsets, ramp_stride=s.ramp_stride,
            ramps=self.hours_seen % s.ramp_every == 0, allowed=allowed,
        )  # fmt: skip
        if best is None or best.score < s.detect_score or best.flow < s.min_flow:
            return None
        return best

    def _similar_tracked(self, node: int, now: datetime) -> list[TrackedLeak]:
        """Young tracked leaks whose signature resembles a candidate's (latest hour), most similar first.
        A leak tracked for longer than ``relocate_days`` has earned its place."""
        if not len(self.window):
            return []
        sens = self.window.last_sens()
        target = sens[:, node]
        out = []
        for leak in self.tracked.values():
            if leak.carried_over or not self._young(leak, now):
                continue
            other = sens[:, leak.node]
            cos = float(target @ other / max(np.linalg.norm(target) * np.linalg.norm(other), 1e-12))
            if cos > SIMILAR:
                out.append((cos, leak))
        return [leak for _, leak in sorted(out, key=lambda x: -x[0])]

    def _report(
        self,
        leak: TrackedLeak,
        result: Located,
        now: datetime,
        *,
        relocated: bool = False,
        score: float | None = None,
        flow: float | None = None,
    ) -> Detection:
        leak.reported_pipe = result.pipe
        evidence = self.loc.evidence(self.window, self.layout, since=leak.onset)
        return Detection(
            time=now,
            pipe=result.pipe,
            leak_id=leak.id,
            flow=float(flow if flow is not None else self._recent(leak, 3)),
            onset=leak.onset,
            candidates=result.candidates,
            evidence=evidence,
            score=float(score if score is not None else result.score),
            relocated=relocated,
        )


def _spread(n: int, k: int) -> np.ndarray:
    """At most ``k`` indices spread evenly over 0..n-1, always ending with the last."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(int))


def _hour_of(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _robust_std(x: np.ndarray) -> np.ndarray:
    """Per column: median absolute deviation scaled to a standard deviation (NaN-tolerant)."""
    if x.shape[0] < 3:
        return np.full(x.shape[1], np.nan)
    med = np.nanmedian(x, axis=0)
    return 1.4826 * np.nanmedian(np.abs(x - med), axis=0)


def _pattern_cycle(network: NetworkModel) -> float:
    """Seconds after which every demand pattern repeats (at least one week)."""
    wn = network.wn
    step = int(wn.options.time.pattern_timestep)
    cycle = 604800
    for name in wn.pattern_name_list:
        cycle = math.lcm(cycle, len(wn.get_pattern(name).multipliers) * step)
    return float(cycle)


def _tank_area(network: NetworkModel, tank: str) -> float:
    node = network.wn.get_node(tank)
    return math.pi * float(node.diameter) ** 2 / 4.0
