"""The plain values the leak detector takes and gives: sensor layout, readings, detections, settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cityloop.core.errors import ValidationFailed


@dataclass(frozen=True)
class SensorLayout:
    """Which sensors exist: pressure at nodes (m), flow in links (m³/h), level in tanks (m), and
    smart meters (AMR) at junctions (L/h)."""

    pressures: tuple[str, ...]
    flows: tuple[str, ...]
    levels: tuple[str, ...] = ()
    demands: tuple[str, ...] = ()

    def kinds(self) -> dict[str, tuple[str, ...]]:
        return {
            "pressures": self.pressures,
            "flows": self.flows,
            "levels": self.levels,
            "demands": self.demands,
        }


@dataclass
class Readings:
    """One time step of every sensor, in the layout's order; NaN marks a missing reading."""

    time: datetime
    pressures: np.ndarray
    flows: np.ndarray
    levels: np.ndarray
    demands: np.ndarray

    @classmethod
    def from_mapping(
        cls, layout: SensorLayout, time: datetime, values: Mapping[str, Mapping[str, float]]
    ) -> Readings:
        """``values`` = {"pressures": {node: m}, "flows": {link: m³/h}, "levels": {...}, "demands": {...}}.

        A sensor absent from its mapping is an error (a missing column); a None or NaN value is a gap.
        """
        arrays: dict[str, np.ndarray] = {}
        for kind, names in layout.kinds().items():
            given = values.get(kind, {})
            missing = [n for n in names if n not in given]
            if missing:
                raise ValidationFailed("leaks.missing_sensor", kind=kind, sensor=missing[0])
            arrays[kind] = np.array([np.nan if given[n] is None else float(given[n]) for n in names])
        return cls(time=time, **arrays)


@dataclass
class Candidate:
    """A pipe that may leak, with the probability that the leak is within 300 m of it."""

    pipe: str
    probability: float


@dataclass
class SensorEvidence:
    """How far one sensor is from the model, averaged since the leak's estimated onset."""

    sensor: str
    kind: str  # pressure | flow | tank_inflow
    observed: float
    expected: float
    unit: str

    @property
    def deviation(self) -> float:
        return self.observed - self.expected


@dataclass
class Detection:
    """A leak the detector reports: where (ranked pipes), since when, how big, and why."""

    time: datetime  # when the detector raised it (the last reading it had seen)
    pipe: str  # the best pipe
    leak_id: int
    flow: float  # estimated leak outflow now (m³/h)
    onset: datetime  # estimated start of the leak
    candidates: list[Candidate] = field(default_factory=list)
    evidence: list[SensorEvidence] = field(default_factory=list)
    score: float = 0.0  # evidence strength (2 × log-likelihood ratio)
    relocated: bool = False  # True when this corrects the place of a leak reported earlier

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["time"] = self.time.isoformat()
        out["onset"] = self.onset.isoformat()
        return out


@dataclass
class DetectorSettings:
    """Thresholds of the detector. Defaults suit a model that matches the network well; ``calibrate``
    on a year of history with its leak list sets ``detect_score`` from what healthy weeks look like."""

    detect_score: float = 100.0  # GLR score a new leak must reach
    min_flow: float = 0.5  # m³/h: smaller fitted leaks are not tracked
    report_flow: float = 3.0  # m³/h: a leak is reported only once this big (small ones are hard to place)
    report_probability: float = 0.5  # P(within 300 m) needed to report a place
    give_up_hours: int = 96  # after this long unplaced, report the best place anyway
    end_flow: float = 0.3  # m³/h: a tracked leak below this for a day has been repaired
    window_hours: int = 24 * 14
    step_onsets: int = 48  # abrupt leaks: onsets tried over the last hours
    ramp_stride: int = 6  # incipient leaks: onsets tried every so many hours
    ramp_every: int = 3  # incipient leaks: searched every so many hours (they grow slowly)
    relocate_every: int = 12  # hours between re-localisations of young tracked leaks
    relocate_days: int = 10  # a tracked leak older than this keeps its place …
    relocate_growth: float = 1.5  # … unless its flow has grown this many times since it was placed
    move_below: float = 0.3  # move a tracked leak when P(within 300 m of its junction) drops below this
    warmup_hours: int = 6
    flow_noise_floor: float = 0.002  # share of the measured flow
    pressure_noise_floor: float = 0.003  # m
    tank_noise_floor: float = 0.2  # m³/h

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
