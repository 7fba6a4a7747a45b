"""Batch runs of the leak detector over a SCADA directory, and calibration on a year of history.

The batch run feeds the online ``LeakDetector`` one time step at a time, exactly as the worker would
with live telemetry, so there is one detection core.

Calibration (``--history``): the detector runs once over the history year with the default settings;
its reports are scored against the history's leak list. A false report whose estimated onset lies in a
leak's start or growth is a leak put in the wrong place (a localisation error, which a higher threshold
would only turn into a miss); the others are spurious. The detection threshold is raised above the
spurious reports beyond a small budget (so that, on data like the history, at most that many would
have been raised): setting it above the single strongest one fits the history's worst hour, and on a
synthetic history that cost more than half of the score on the real year. Leaks of the history that
are still open at its end are handed to the detector as known leaks: they are tracked from the start
and never reported again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cityloop.twin.leaks.engine import LeakDetector
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.records import Detection, DetectorSettings
from cityloop.twin.leaks.scada import LeakRecord, ScadaData

Progress = Callable[[int, int], None]
# The threshold is set this far above the strongest false alarm of the history.
MARGIN = 1.2
# Reports whose place or time matched no leak within this many metres are false alarms.
RADIUS = 300.0
# Spurious reports the calibrated threshold still lets through on the history (the target allows
# five false alarms a year; the rest of that margin is for localisation errors).
FALSE_BUDGET = 2
# A false report whose estimated onset is within this long of a leak's start (or of its growth, for an
# incipient leak) reacted to that leak.
ONSET_SLACK = timedelta(hours=72)


def detect(
    network: NetworkModel,
    data: ScadaData,
    *,
    settings: DetectorSettings | None = None,
    known_leak_pipes: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> list[Detection]:
    """Every detection over the directory's readings, in time order."""
    detector = LeakDetector(
        network,
        data.layout,
        settings,
        known_leak_pipes=known_leak_pipes,
        step_seconds=data.step_seconds,
    )
    out: list[Detection] = []
    total = len(data)
    try:
        for i, readings in enumerate(data.readings(), 1):
            out += detector.update(readings)
            if progress is not None and (i % 288 == 0 or i == total):
                progress(i, total)
        out += detector.finish()
    finally:
        detector.close()
    return out


@dataclass
class Calibration:
    settings: DetectorSettings
    known_leak_pipes: tuple[str, ...]
    history_detections: int
    history_false: int
    found: list[Detection]  # the history run's reports (for an in-sample score)
    history_mislocated: int = 0  # false reports beside a leak that had just started (not spurious)


def calibrate(
    network: NetworkModel,
    history: ScadaData,
    leaks: list[LeakRecord],
    *,
    until: datetime | None = None,
    base: DetectorSettings | None = None,
    progress: Progress | None = None,
    found: list[Detection] | None = None,
) -> Calibration:
    """Settings tuned on a history year with its leaks; ``until`` is when the scored period starts.
    ``found``: the detector's reports over the history with ``base`` settings, if already run."""
    base = base or DetectorSettings()
    if found is None:
        found = detect(network, history, settings=base, progress=progress)
    false = [d for d in found if not _matches(network, d, leaks)]
    beside = [_beside_a_leak(d, leaks) for d in false]
    spurious = [d.score for d, near in zip(false, beside, strict=True) if not near]
    threshold = threshold_from_history(base.detect_score, spurious)
    end = until or history.times[-1].to_pydatetime()
    open_at_end = tuple(sorted({leak.pipe for leak in leaks if leak.end >= end}))
    return Calibration(
        replace(base, detect_score=round(threshold, 1)),
        open_at_end,
        len(found),
        len(false),
        found,
        sum(beside),
    )


def threshold_from_history(default: float, spurious_scores: list[float], budget: int = FALSE_BUDGET) -> float:
    """The detection threshold that would have let at most ``budget`` of the history's spurious reports
    through (never below ``default``)."""
    ranked = sorted(spurious_scores, reverse=True)
    if len(ranked) <= budget:
        return default
    return max(default, MARGIN * ranked[budget])


def _beside_a_leak(detection: Detection, leaks: list[LeakRecord]) -> bool:
    """Whether a report's estimated onset falls in some leak's start or growth while it was open."""
    for leak in leaks:
        grown = max(leak.peak or leak.start, leak.start)
        if (
            leak.start - ONSET_SLACK <= detection.onset <= grown + ONSET_SLACK
            and leak.start <= detection.time <= leak.end
        ):
            return True
    return False


def _matches(network: NetworkModel, detection: Detection, leaks: list[LeakRecord]) -> bool:
    return any(
        leak.start <= detection.time <= leak.end
        and network.pipe_distance(detection.pipe, leak.pipe) <= RADIUS
        for leak in leaks
    )
