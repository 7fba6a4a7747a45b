"""The last weeks of hourly residuals, and the leak-signature tests run over them.

Each hour brings ``y`` (observed − expected per observation, divided by its noise, so each entry is
dimensionless with unit variance when nothing is wrong) and ``S`` (observations × candidate junctions:
the change of each observation per m³/h of leak at each junction, divided by the same noise). A leak of
q(h) m³/h at junction k then shows as y(h) ≈ q(h)·S[:, k](h).

Leaks already tracked are fitted freely every hour (their size may grow, shrink or stop), so what they
can explain is projected out of ``y`` and ``S`` before new leaks are searched for. For a candidate k and a
flow shape w(h) (a step or a linear ramp from an onset hour), the least-squares fit and the drop in
squared error are

    q = Σ w·a / Σ w²·b,   score = (Σ w·a)² / Σ w²·b,   with a = eᵀS[:,k], b = |P⊥ S[:,k]|²

(a generalized likelihood ratio: 2·log of how much better the data fit with that leak). Suffix sums give
every onset at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass
class HourState:
    """Conditions at the middle of an hour, to re-run the model there with leaks placed elsewhere."""

    time_of_week: float
    levels: np.ndarray
    pumps: np.ndarray | None
    emitters: dict[int, float]  # junction → emitter coefficient in the expected run
    leak_coefs: dict[int, tuple[int, float]]  # tracked id → (junction, coefficient)


@dataclass
class HourRecord:
    """What one hour leaves behind besides its residual and sensitivities (kept in the window's arrays)."""

    start: datetime
    base_flows: dict[int, float]  # tracked leak id → flow it had in the expected run (m³/h)
    base_nodes: dict[int, int]  # tracked leak id → junction where the expected run had it
    raw: np.ndarray  # (m,) mean deviation in the observation's unit (m, m³/h)
    expected: np.ndarray  # (m,) the model's mean for the hour
    sigma: np.ndarray  # (m,) noise of the hourly mean
    factor: float  # demand factor the expected run used (mean over the hour)
    day: object = None
    state: HourState | None = None


# A tracked leak's flow may differ from the flow it had in the expected run of the hour (its recent fit)
# by about this much (m³/h, Gaussian prior): enough for growth, a burst or a repair, which the data
# show clearly, but not enough to quietly take over the flow of a new leak elsewhere. The new-leak
# test works in the same metric, so the two stay consistent (a Kalman-style innovation test).
TRACK_PRIOR = 1.0
RIDGE = 1.0 / TRACK_PRIOR**2
# … and in the hours before it was tracked (not in the expected run), about this much from zero.
RIDGE_UNKNOWN = 1.0 / 5.0**2
# Prior stiffness (1/(m³/h)²) that holds a tracked leak's flow at zero in an hour where it fitted negative,
# and how far below zero a fitted flow may go before it is held (noise around a repaired leak).
HELD = 1.0e6
NEGATIVE_SLACK = 0.1
# Share of a candidate's signature energy that tracked leaks must leave unexplained for it to count as new.
NEW_SHARE = 0.05


@dataclass
class Fit:
    """The tracked leaks fitted to a run of hours (rows), and what is left for new leaks."""

    a: np.ndarray  # (hours, N) correlation of the unexplained residual with each candidate
    b: np.ndarray  # (hours, N) energy of each candidate's signature the tracked leaks leave unexplained
    e: np.ndarray  # (hours, m) unexplained residual
    a_dem: np.ndarray  # the same for y = the demand direction, so a revised demand factor is linear
    e_dem: np.ndarray
    flows: dict[int, np.ndarray]  # tracked id → fitted flow per hour (m³/h)
    flows_dem: dict[int, np.ndarray]

    @property
    def energy(self) -> np.ndarray:
        return np.einsum("hm,hm->h", self.e, self.e)


class EvidenceWindow:
    """The last ``hours`` hours in ring arrays, and their fit against the current tracked set.

    ``y`` is the residual against the expected run of its hour, which included the leaks tracked then
    (at their size and place then); each tracked leak's fitted flow is that base flow plus a correction.
    """

    def __init__(self, hours: int, n_obs: int, n_cand: int) -> None:
        self.cap, self.m, self.n = hours, n_obs, n_cand
        self.y = np.zeros((hours, n_obs))
        self.sens = np.zeros((hours, n_obs, n_cand))
        self.dem = np.zeros((hours, n_obs))
        self.full = np.ones((hours, n_cand))
        self.meta: list[HourRecord | None] = [None] * hours
        self.count = 0
        self.head = 0  # next slot to write
        self.fit = _empty_fit(hours, n_obs, n_cand)

    def __len__(self) -> int:
        return self.count

    def order(self) -> np.ndarray:
        """Ring slots from oldest to newest."""
        return (self.head - self.count + np.arange(self.count)) % self.cap

    def records(self) -> list[HourRecord]:
        return [self.meta[int(i)] for i in self.order()]  # type: ignore[misc]

    def last_slots(self, hours: int) -> np.ndarray:
        """Ring slots of the last ``hours`` hours, oldest first."""
        return self.order()[-hours:] if hours > 0 else np.zeros(0, dtype=int)

    def last_sens(self) -> np.ndarray:
        return self.sens[(self.head - 1) % self.cap]

    def push(
        self, record: HourRecord, y: np.ndarray, sens: np.ndarray, dem: np.ndarray, tracked: dict[int, int]
    ) -> None:
        slot = self.head
        self.y[slot], self.sens[slot], self.dem[slot] = y, sens, dem
        self.full[slot] = np.maximum(np.einsum("mn,mn->n", sens, sens), 1e-12)
        self.meta[slot] = record
        self.head = (self.head + 1) % self.cap
        self.count = min(self.count + 1, self.cap)
        _store(self.fit, np.array([slot]), self._fit(np.array([slot]), tracked), tracked)

    def refit(self, tracked: dict[int, int]) -> None:
        """The tracked set changed: redo every hour's fit."""
        slots = self.order() if self.count < self.cap else np.arange(self.cap)
        self.fit.flows = {i: np.zeros(self.cap) for i in tracked}
        self.fit.flows_dem = {i: np.zeros(self.cap) for i in tracked}
        if not len(slots):  # nothing seen yet (a leak known from history, tracked from the start)
            return
        _store(self.fit, slots, self._fit(slots, tracked), tracked)

    def hand_over(self, gone: int, keep: int, keep_node: int) -> None:
        """Tracked leak ``gone`` is merged into ``keep`` (at ``keep_node``): in every hour whose expected
        run had ``gone``, its flow is moved onto ``keep``, linearly (as ``_moved`` does for a leak that
        moved), so the residuals stay those of the expected runs less the merged leak."""
        for slot in self.order():
            rec = self.meta[int(slot)]
            if rec is None or gone not in rec.base_nodes:
                continue
            flow, node = rec.base_flows.pop(gone, 0.0), rec.base_nodes.pop(gone)
            target = rec.base_nodes.setdefault(keep, keep_node)
            if flow:
                self.y[slot] += flow * (self.sens[slot][:, node] - self.sens[slot][:, target])
            rec.base_flows[keep] = rec.base_flows.get(keep, 0.0) + flow

    def fit_slots(self, slots: np.ndarray, tracked: dict[int, int]) -> Fit:
        """These ring slots fitted against another tracked set (the window keeps its own fit)."""
        return self._fit(slots, tracked)

    def matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Chronological (hours × candidates) a and b, and each hour's unexplained energy."""
        slots = self.order()
        e = self.fit.e[slots]
        return self.fit.a[slots], self.fit.b[slots], np.einsum("hm,hm->h", e, e)

    def flows_at(self, leak_id: int, slots: np.ndarray) -> np.ndarray:
        series = self.fit.flows.get(leak_id)
        return series[slots] if series is not None else np.zeros(len(slots))

    def flows(self, leak_id: int) -> np.ndarray:
        """Chronological fitted flow (m³/h) of a tracked leak."""
        series = self.fit.flows.get(leak_id)
        return series[self.order()] if series is not None else np.zeros(0)

    def revise_day(self, day: object, factor: float) -> None:
        """Today's demand factor is one number, better known with every reading: bring today's earlier
        hours to the current estimate, moving residuals and fits along the demand direction."""
        for slot in self.order()[::-1]:
            rec = self.meta[int(slot)]
            if rec is None or rec.day != day:
                break
            delta = factor - rec.factor
            if delta == 0.0:
                continue
            rec.factor = factor
            self.y[slot] -= delta * self.dem[slot]
            rec.raw = rec.raw - delta * self.dem[slot] * np.where(np.isfinite(rec.sigma), rec.sigma, 0.0)
            f = self.fit
            f.a[slot] -= delta * f.a_dem[slot]
            f.e[slot] -= delta * f.e_dem[slot]
            for i in f.flows:
                f.flows[i][slot] -= delta * f.flows_dem[i][slot]

    def _fit(self, slots: np.ndarray, tracked: dict[int, int]) -> Fit:
        # all slots: work on the arrays themselves (row order does not matter), not on a copy
        rows: np.ndarray | slice = slice(None) if len(slots) == self.cap else slots
        sens, y, dem, full = self.sens[rows], self.y[rows], self.dem[rows], self.full[rows]
        if not tracked:
            a = np.matmul(y[:, None, :], sens)[:, 0, :]
            a_dem = np.matmul(dem[:, None, :], sens)[:, 0, :]
            return Fit(a, full.copy(), y.copy(), a_dem, dem.copy(), {}, {})
        ids = list(tracked)
        order = np.arange(self.cap) if isinstance(rows, slice) else slots
        base = np.array([[self.meta[int(s)].base_flows.get(i, 0.0) for i in ids] for s in order])  # type: ignore[union-attr]
        y = self._moved(y, sens, order, ids, tracked, base)
        cols = sens[:, :, [tracked[i] for i in ids]]  # (h, m, t)
        # before a leak was tracked the expected run did not have it: its flow there is free-er
        known = np.array([[i in self.meta[int(s)].base_nodes for i in ids] for s in order])  # type: ignore[union-attr]
        ridge = np.where(known, RIDGE, RIDGE_UNKNOWN)
        eye = np.eye(len(ids))[None]
        gram0 = np.matmul(cols.transpose(0, 2, 1), cols)
        rhs0 = np.matmul(cols.transpose(0, 2, 1), np.stack([y, dem], axis=2))  # (h, t, 2)
        # A leak's outflow is never negative. Unconstrained, two tracked leaks with similar signatures
        # can take huge opposite flows to fit model error (seen on a synthetic year: -67 and then
        # ±10⁴ m³/h, after which the "faded" leaks were dropped and false leaks cascaded). An hour
        # where a leak's flow comes out negative is refitted with that flow held at zero (active set;
        # a stiff prior at coefficient −base, so every hour stays one batched solve).
        held = np.zeros(known.shape, dtype=bool)
        for _ in range(len(ids) + 1):
            stiff = np.where(held, HELD, ridge)
            target = np.where(held, -base, 0.0)
            gram = gram0 + stiff[:, :, None] * eye
            rhs = rhs0.copy()
            rhs[:, :, 0] += stiff * target
            coef = np.linalg.solve(gram, rhs)
            negative = (base + coef[:, :, 0] < -NEGATIVE_SLACK) & ~held
            if not negative.any():
                break
            held |= negative
        e = y - np.matmul(cols, coef[:, :, :1])[:, :, 0]
        e_dem = dem - np.matmul(cols, coef[:, :, 1:])[:, :, 0]
        # energy of each candidate's signature in the metric of the innovations, (I + S_T S_Tᵀ/λ)⁻¹
        # (Woodbury): what the tracked leaks, with their prior, cannot take over
        cross = np.matmul(cols.transpose(0, 2, 1), sens)  # (h, t, N)
        b = full - np.einsum("htn,htn->hn", cross, np.linalg.solve(gram, cross))
        a = np.matmul(e[:, None, :], sens)[:, 0, :]
        a_dem = np.matmul(e_dem[:, None, :], sens)[:, 0, :]
        # a candidate whose signature the tracked leaks already explain is the same leak, not a new one
        same = b < NEW_SHARE * full
        a[same], a_dem[same], b[same] = 0.0, 0.0, 1.0
        flows = {i: base[:, j] + coef[:, j, 0] for j, i in enumerate(ids)}
        flows_dem = {i: coef[:, j, 1] for j, i in enumerate(ids)}
        return Fit(a, np.maximum(b, 1e-12), e, a_dem, e_dem, flows, flows_dem)

    def _moved(
        self,
        y: np.ndarray,
        sens: np.ndarray,
        order: np.ndarray,
        ids: list[int],
        tracked: dict[int, int],
        base: np.ndarray,
    ) -> np.ndarray:
        """``y`` is relative to the expected run of its hour, which had each tracked leak where it was
        then believed to be. For a leak since moved, shift its base flow to the new junction, linearly
        (the two places are near each other, so the local non-linearity largely cancels)."""
        out = y
        for j, i in enumerate(ids):
            was = np.array([self.meta[int(s)].base_nodes.get(i, -1) for s in order])  # type: ignore[union-attr]
            moved = np.nonzero((was >= 0) & (was != tracked[i]) & (base[:, j] != 0))[0]
            if len(moved):
                if out is y:
                    out = y.copy()
                out[moved] += base[moved, j, None] * (sens[moved, :, was[moved]] - sens[moved, :, tracked[i]])
        return out


def _empty_fit(hours: int, m: int, n: int) -> Fit:
    return Fit(
        np.zeros((hours, n)),
        np.ones((hours, n)),
        np.zeros((hours, m)),
        np.zeros((hours, n)),
        np.zeros((hours, m)),
        {},
        {},
    )


def _store(into: Fit, slots: np.ndarray, fit: Fit, tracked: dict[int, int]) -> None:
    into.a[slots], into.b[slots], into.e[slots] = fit.a, fit.b, fit.e
    into.a_dem[slots], into.e_dem[slots] = fit.a_dem, fit.e_dem
    for i in tracked:
        cap = len(into.a)
        into.flows.setdefault(i, np.zeros(cap))[slots] = fit.flows[i]
        into.flows_dem.setdefault(i, np.zeros(cap))[slots] = fit.flows_dem[i]
    for i in list(into.flows):
        if i not in tracked:
            del into.flows[i], into.flows_dem[i]


@dataclass
class Best:
    score: float
    flow: float  # m³/h at the last hour
    onset: int  # index into the window
    shape: str
    scores: np.ndarray  # (N,) candidate scores at that onset and shape
    temperature: float = 1.0  # misfit of the best fit per degree of freedom (≥ 1)


def scan(
    a: np.ndarray,
    b: np.ndarray,
    energy: np.ndarray,
    *,
    n_obs: int,
    step_onsets: int,
    ramp_stride: int,
    ramps: bool = True,
    allowed: np.ndarray | None = None,
    min_hours: int = 2,
) -> Best | None:
    """Best new leak over onsets, shapes (step, ramp) and candidates; None without enough hours.

    Onset j means the leak started at the start of hour j of the window; a step has flow q from then on
    (onsets over the last ``step_onsets`` hours), a ramp q·(h − j + 1) (onsets every ``ramp_stride`` hours
    counted back from the newest hour, over the whole window; skipped when ``ramps`` is false).
    Candidates outside ``allowed`` are not considered.
    """
    hours = a.shape[0]
    if hours < min_hours:
        return None
    if allowed is not None:
        a = np.where(allowed[None, :], a, 0.0)
    last = hours - min_hours + 1
    first_step = max(0, hours - step_onsets)
    sa = _suffix(a[first_step:])[: last - first_step]
    sb = _suffix(b[first_step:])[: last - first_step]
    step_js = np.arange(first_step, last)
    best = _best("step", step_js, sa, sb, np.ones(len(step_js)))
    if ramps:
        ramp = _ramp(a, b, hours, last, max(1, ramp_stride))
        if ramp is not None and (best is None or ramp.score > best.score):
            best = ramp
    if best is not None:
        span = hours - best.onset
        left = float(energy[best.onset :].sum()) - best.score
        best.temperature = max(1.0, left / max(span * n_obs - 1, 1))
    return best


def _ramp(a: np.ndarray, b: np.ndarray, hours: int, last: int, stride: int) -> Best | None:
    # onsets js = last-1, last-1-stride, … ≥ 0: sum each block between onsets once, then from the end
    start = (last - 1) % stride
    js = np.arange(start, last, stride)
    cut = js[-1]
    h1 = np.arange(1, hours + 1, dtype=float)[:, None]
    sums = []
    for x in (a, b, h1 * a, h1 * b, h1 * h1 * b):
        blocks = x[start:cut].reshape(len(js) - 1, stride, x.shape[1]).sum(axis=1)
        seg = np.concatenate([blocks, x[cut:].sum(axis=0)[None]])
        sums.append(_suffix(seg))
    ra, rb, rha, rhb, rh2b = sums
    j = js[:, None].astype(float)
    num = rha - j * ra
    den = rh2b - 2 * j * rhb + j * j * rb
    return _best("ramp", js, num, den, (hours - js).astype(float))


def _suffix(x: np.ndarray) -> np.ndarray:
    """Σ_{k ≥ i} x[k] for every row i."""
    return np.cumsum(x[::-1], axis=0)[::-1]


def _best(
    shape: str, onsets: np.ndarray, num: np.ndarray, den: np.ndarray, w_last: np.ndarray
) -> Best | None:
    if len(onsets) == 0:
        return None
    den = np.maximum(den, 1e-12)
    scores = np.where(num > 0, num * num / den, 0.0)
    row, k = np.unravel_index(int(np.argmax(scores)), scores.shape)
    flow = float(num[row, k] / den[row, k] * w_last[row])
    return Best(float(scores[row, k]), flow, int(onsets[row]), shape, scores[row])


def shape_scores(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores and fitted scale of every candidate for a known flow shape ``weights`` (hours,)."""
    w = weights[:, None]
    num = (w * a).sum(axis=0)
    den = np.maximum((w * w * b).sum(axis=0), 1e-12)
    scale = num / den
    return np.where(num > 0, num * num / den, 0.0), scale


def posterior(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Probability of each candidate from its score (2 × log-likelihood ratio). ``temperature`` is the
    misfit left by the best candidate per degree of freedom: when the model explains the data only
    roughly, likelihood differences are worth proportionally less."""
    z = (scores - scores.max()) / (2.0 * temperature)
    p = np.exp(z)
    return p / p.sum()


def choose_pipe(prob: np.ndarray, near: np.ndarray, distance: np.ndarray) -> tuple[int, np.ndarray]:
    """The pipe most likely within 300 m of the leak (``near``: candidates × pipes, 0/1); among pipes
    about as likely, the one closest on average (``distance``: candidates × pipes, m), since the
    benchmark charges for distance too."""
    within = prob @ near
    top = np.nonzero(within >= within.max() - 0.02)[0]
    expected = prob @ distance[:, top]
    return int(top[int(np.argmin(expected))]), within
