"""Leak detection and localisation for water networks (BattLeDIM-style SCADA, EPANET model).

- ``engine.LeakDetector``: online; ``update(readings)`` per time step → detections with ranked pipes and
  evidence. ``batch.detect`` runs it over a SCADA directory; ``batch.calibrate`` tunes it on history.
- ``score.score_detections``: the BattLeDIM scoring. ``baseline.naive_detections``: the naive detector.
- ``simulate.simulate``: synthetic SCADA years with leaks of our own (EPANET emitters + sensor noise).
- ``network.resolve_network``: a network name → its model (today a path to an .inp file).

Nothing is imported here, so that the ``cityloop`` command starts fast; import the modules.
"""
