"""Batch runs of the leak detector over a SCADA directory, and calibration on a year of history.

The batch run feeds the online ``LeakDetector`` one time step at a time, exactly as the worker would
with live telemetry, so there is one detection core.

Calibration (``--history``): the detector runs once over the history year with the default settings;
its reports are scored against the history's leak list, and the detection threshold is raised above
the strongest report that was a false alarm (so that, on data like the history, none of them would
have been raised). Leaks of the history that are still open at its end are handed to the detector as
known leaks: they are tracked from the start and never reported again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from cityloop.twin.leaks.engine import LeakDetector
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.records import Detection, DetectorSettings
from cityloop.twin.leaks.scada import LeakRecord, ScadaData

Progress = Callable[[int, int], None]
# The threshold is set this far above the strongest false alarm of the history.
MARGIN = 1.2
# Reports whose place or time matched no leak within this many metres are false alarms.
RADIUS = 300.0


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


def calibrate(
    network: NetworkModel,
    history: ScadaData,
    leaks: list[LeakRecord],
    *,
    until: datetime | None = None,
    base: DetectorSettings | None = None,
    progress: Progress | None = None,
) -> Calibration:
    """Settings tuned on a history year with its leaks; ``until`` is when the scored period starts."""
    base = base or DetectorSettings()
    found = detect(network, history, settings=base, progress=progress)
    false = [d for d in found if not _matches(network, d, leaks)]
    threshold = base.detect_score
    if false:
        threshold = max(threshold, MARGIN * max(d.score for d in false))
    end = until or history.times[-1].to_pydatetime()
    open_at_end = tuple(sorted({leak.pipe for leak in leaks if leak.end >= end}))
    return Calibration(
        replace(base, detect_score=round(threshold, 1)), open_at_end, len(found), len(false), found
    )


def _matches(network: NetworkModel, detection: Detection, leaks: list[LeakRecord]) -> bool:
    return any(
        leak.start <= detection.time <= leak.end
        and network.pipe_distance(detection.pipe, leak.pipe) <= RADIUS
        for leak in leaks
    )
