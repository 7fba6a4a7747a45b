"""Leak detection and localisation for water networks (BattLeDIM-style SCADA, EPANET model).

- ``LeakDetector`` (engine): online; ``update(readings)`` per time step → detections with ranked pipes
  and evidence. ``batch.detect`` runs it over a SCADA directory; ``batch.calibrate`` tunes it on history.
- ``score.score_detections``: the BattLeDIM scoring. ``baseline.naive_detections``: the naive detector.
- ``simulate.simulate``: synthetic SCADA years with leaks of our own (EPANET emitters + sensor noise).
"""

from cityloop.twin.leaks.engine import LeakDetector
from cityloop.twin.leaks.network import NetworkModel, resolve_network
from cityloop.twin.leaks.records import Candidate, Detection, DetectorSettings, Readings, SensorEvidence, SensorLayout

__all__ = [
    "Candidate",
    "Detection",
    "DetectorSettings",
    "LeakDetector",
    "NetworkModel",
    "Readings",
    "SensorEvidence",
    "SensorLayout",
    "resolve_network",
]
