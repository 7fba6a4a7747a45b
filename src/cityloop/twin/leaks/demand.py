"""Consumers' demand from the smart meters (AMR): the model's patterns scaled by what the meters read.

The network model gives every junction a base demand and weekly patterns. Real consumption drifts from
them by season and by day (weather, holidays): the scale of the day is read from the metered customers
and applied to every junction, metered or not. The estimate is causal (it only uses readings up to now)
and restarts each day, leaning on the previous day's value until the new day has some readings.

Units: meter readings in L/h (the BattLeDIM convention), model demands in m³/s inside WNTR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cityloop.twin.leaks.network import NetworkModel

# How many steps of yesterday's factor a new day starts with: one, so that the first readings of the
# day (82 meters on L-Town, about 1 % noise together) quickly take over.
PRIOR_STEPS = 1.0


@dataclass
class PatternDemand:
    """Expected demand of a set of junctions (L/h) at a time of week, for a demand factor of 1."""

    base: dict[str, np.ndarray]  # pattern name → base demand per junction (L/h)
    multipliers: dict[str, np.ndarray]  # pattern name → multipliers (constant 1 for no pattern)
    pattern_step: float  # s

    @classmethod
    def for_nodes(cls, network: NetworkModel, nodes: list[str]) -> PatternDemand:
        wn = network.wn
        default = wn.options.hydraulic.pattern
        base: dict[str, np.ndarray] = {}
        for i, name in enumerate(nodes):
            for demand in wn.get_node(name).demand_timeseries_list:
                pattern = demand.pattern_name or default or ""
                base.setdefault(pattern, np.zeros(len(nodes)))[i] += demand.base_value * 3.6e6
        multipliers = {
            p: (np.asarray(wn.get_pattern(p).multipliers, dtype=float) if p else np.ones(1)) for p in base
        }
        scale = float(wn.options.hydraulic.demand_multiplier)
        return cls(
            base={p: b * scale for p, b in base.items()},
            multipliers=multipliers,
            pattern_step=float(wn.options.time.pattern_timestep),
        )

    def at(self, time_of_week: float) -> np.ndarray:
        period = int(time_of_week // self.pattern_step)
        out = np.zeros(len(next(iter(self.base.values())))) if self.base else np.zeros(0)
        for pattern, base in self.base.items():
            m = self.multipliers[pattern]
            out += base * m[period % len(m)]
        return out


@dataclass
class DemandFactor:
    """Running estimate of today's demand factor: Σ metered readings / Σ model expectation."""

    expected: PatternDemand
    factor: float = 1.0
    _day: object = None
    _obs: float = 0.0
    _exp: float = 0.0
    _typical: float = field(default=0.0)

    def update(self, *, day: object, time_of_week: float, readings: np.ndarray) -> float:
        """Add one step of meter readings (L/h, NaN for a missing meter) and return the factor."""
        expected = self.expected.at(time_of_week)
        ok = np.isfinite(readings)
        if day != self._day:
            # a new day starts from yesterday's factor, worth one hour of readings
            self._day = day
            weight = PRIOR_STEPS * (self._typical or float(expected.sum()))
            self._obs, self._exp = self.factor * weight, weight
        if ok.any():
            self._obs += float(readings[ok].sum())
            self._exp += float(expected[ok].sum())
            self._typical = (
                0.99 * self._typical + 0.01 * float(expected.sum())
                if self._typical
                else float(expected.sum())
            )
        if self._exp > 0:
            self.factor = self._obs / self._exp
        return self.factor
