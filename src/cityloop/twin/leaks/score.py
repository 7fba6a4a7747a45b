"""The BattLeDIM 2020 scoring of leak detections.

Rules (as the benchmark states them):
- detections before the scored period are ignored; the rest are taken in time order;
- a detection succeeds for a leak when its time is inside the leak's window (start ≤ t ≤ end) and the
  distance between the detected and the leaking pipe (shortest path over pipe lengths between their
  end nodes plus half of each pipe's length; see ``NetworkModel.pipe_distance``) is at most 300 m;
- it then earns the water saved from the detection to the leak's end (sum of the 5-minute outflows in
  m³/h ÷ 12) × €0.80, minus (distance / 300) × €500;
- a repeat detection of a leak already found earns nothing; any other detection costs €500;
- a period is scored on the leaks that start in it: detecting a leak carried over from before (known
  from history) earns nothing and costs nothing.
When a detection matches several leaks, it goes to the nearest one not yet found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from cityloop.core.errors import ValidationFailed
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.scada import LeakRecord

WATER_PRICE = 0.80  # € per m³
FALSE_ALARM = 500.0  # €
RADIUS = 300.0  # m


@dataclass
class LeakOutcome:
    leak: LeakRecord
    perfect: float  # € if detected at its start on the exact pipe
    detected_at: datetime | None = None
    detected_pipe: str | None = None
    distance: float | None = None
    earned: float = 0.0

    @property
    def found(self) -> bool:
        return self.detected_at is not None


@dataclass
class Score:
    score: float
    perfect: float
    true_detections: int
    false_detections: int
    repeats: int  # detections of a leak already found, or of a leak carried over (free)
    ignored: int  # detections before the scored period
    leaks: list[LeakOutcome] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.perfect if self.perfect > 0 else 0.0


def score_detections(
    network: NetworkModel,
    detections: list[tuple[str, datetime]],
    leaks: list[LeakRecord],
    leak_flows: pd.DataFrame,
    *,
    period_start: datetime,
    period_end: datetime | None = None,
) -> Score:
    """Score ``detections`` (pipe, time) against the leaks and their true outflow (m³/h, regular steps)."""
    step_h = step_hours(leak_flows)
    scored = [
        leak
        for leak in leaks
        if leak.start >= period_start and (period_end is None or leak.start <= period_end)
    ]
    outcomes = {
        id(leak): LeakOutcome(leak, WATER_PRICE * _volume(leak_flows, leak, leak.start, step_h))
        for leak in scored
    }
    ignored = sum(1 for _, t in detections if t < period_start)
    total, true_n, false_n, repeats = 0.0, 0, 0, 0
    for pipe, when in sorted((d for d in detections if d[1] >= period_start), key=lambda d: d[1]):
        matches = []
        for leak in leaks:
            if leak.start <= when <= leak.end:
                distance = network.pipe_distance(pipe, leak.pipe)
                if distance <= RADIUS:
                    matches.append((distance, leak))
        fresh = [(d, leak) for d, leak in matches if id(leak) in outcomes and not outcomes[id(leak)].found]
        if fresh:
            distance, leak = min(fresh, key=lambda m: (m[0], m[1].start))
            outcome = outcomes[id(leak)]
            saved = _volume(leak_flows, leak, when, step_h)
            outcome.detected_at, outcome.detected_pipe, outcome.distance = when, pipe, distance
            outcome.earned = WATER_PRICE * saved - distance / RADIUS * FALSE_ALARM
            total += outcome.earned
            true_n += 1
        elif matches:
            repeats += 1
        else:
            total -= FALSE_ALARM
            false_n += 1
    perfect = sum(o.perfect for o in outcomes.values())
    ordered = sorted(outcomes.values(), key=lambda o: o.leak.start)
    return Score(total, perfect, true_n, false_n, repeats, ignored, ordered)


def _volume(leak_flows: pd.DataFrame, leak: LeakRecord, since: datetime, step_h: float) -> float:
    """m³ the leak loses from ``since`` to its end, from its 5-minute outflow series (m³/h)."""
    if leak.pipe not in leak_flows.columns:
        raise ValidationFailed("leaks.no_leak_flow", pipe=leak.pipe)
    series = leak_flows[leak.pipe]
    window = series[(series.index >= pd.Timestamp(since)) & (series.index <= pd.Timestamp(leak.end))]
    return float(np.nansum(window.to_numpy())) * step_h


def step_hours(frame: pd.DataFrame) -> float:
    """The step of a regular time series in hours (5 minutes when it has fewer than two rows)."""
    if len(frame.index) < 2:
        return 1.0 / 12.0
    return float((frame.index[1] - frame.index[0]).total_seconds()) / 3600.0


def format_score(score: Score, *, title: str = "") -> str:
    """The benchmark's summary and a per-leak table, as plain text."""
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"score €{score.score:,.0f} of perfect €{score.perfect:,.0f} = {score.percent:.1f} %  |  "
        f"true {score.true_detections}, false {score.false_detections}, repeats {score.repeats}, "
        f"ignored {score.ignored}"
    )
    lines.append(
        f"{'pipe':<8}{'kind':<10}{'start':<18}{'perfect €':>10}  {'detected':<18}{'as':<8}"
        f"{'dist m':>7}{'delay h':>9}{'earned €':>10}"
    )
    for o in score.leaks:
        leak = o.leak
        if o.found:
            assert o.detected_at is not None
            delay = (o.detected_at - leak.start).total_seconds() / 3600
            found = (
                f"{o.detected_at:%Y-%m-%d %H:%M}  {o.detected_pipe:<8}{o.distance:>7.0f}"
                f"{delay:>9.1f}{o.earned:>10,.0f}"
            )
        else:
            found = f"{'—':<18}{'':<8}{'':>7}{'':>9}{0:>10,.0f}"
        lines.append(
            f"{leak.pipe:<8}{leak.kind:<10}{leak.start:%Y-%m-%d %H:%M}  {o.perfect:>10,.0f}  {found}"
        )
    return "\n".join(lines)
