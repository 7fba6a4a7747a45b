"""The leak detector online: live telemetry of a water network → leak warnings with ranked pipes.

The worker job ``twin.leak_detect`` calls :func:`run_network` for every water network that has
pressure or flow sensors on its elements. It reads the stored readings after the detector's cursor,
resamples them to the model's 5-minute steps (a sensor's mean within ±2.5 minutes of the step:
field readings are off the grid, repeated, late or missing; see :func:`_steps`; the sensor layout
comes from the registered sensors: ``pressure`` at junctions in m, ``flow`` in links in m³/h,
``level`` in tanks in m, ``demand`` smart meters at junctions in L/h) and feeds
:class:`~cityloop.twin.leaks.engine.LeakDetector` one step at a time,
exactly as the batch command does. A step is taken once every sensor has reported it, or once the
network's newest reading is ``GRACE`` later (a missing sensor is then a gap).

Durable state (``twin_leak_states``): the detector's snapshot and the step it stands at. A detection
is written in the same transaction as a new checkpoint taken after it, and a checkpoint is also taken
every ``CHECKPOINT_HOURS`` of data; between checkpoints the detector lives in the worker's memory.
A restarted worker restores the checkpoint and replays the readings after it; since a checkpoint
follows every stored detection, the replay never meets a detection that was already stored: nothing
is lost (the readings are in the database) and nothing is repeated. The ``revision`` makes a second
worker drop an in-memory detector that another one has moved past; on PostgreSQL the state row is
locked for the run.

A first report of a leak opens a warning (cause ``leak``, orange, so the case loop takes it with an
impact plan for the pipe); the warning's sensor is the one that moved most. A later report that
moves the leak adds a detection to the same warning. When the detector drops a leak (its fitted
outflow stayed below ``end_flow`` for a day: repaired) the warning is resolved.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.db import is_postgresql
from cityloop.twin import networks
from cityloop.twin.leaks.engine import LeakDetector
from cityloop.twin.leaks.network import NetworkModel
from cityloop.twin.leaks.records import Detection, Readings, SensorLayout
from cityloop.twin.models import (
    LEVEL_RANK,
    LeakDetection,
    LeakState,
    Level,
    Network,
    Reading,
    Sensor,
    TwinWarning,
    WarningEvent,
    WarningStatus,
)

log = logging.getLogger("cityloop.twin.leak_online")
ACTOR = audit.Actor("twin-leak-detector")
CAUSE = "leak"
STEP_S = 300
HALF_STEP_S = STEP_S // 2
GRACE = timedelta(minutes=15)  # a step is taken without a late sensor once data are this far ahead
CHECKPOINT_HOURS = 6.0  # a checkpoint at least this often (hours of data), and after every detection
BACKFILL = timedelta(days=2)  # a new detector starts this long before the newest reading
RUN_SECONDS = 20.0  # one job run stops after this long (it goes on at the next run)
CHUNK = timedelta(hours=6)  # readings are read this many hours at a time
LEVEL = Level.orange  # a leak is worth a case: the impact plan isolates the pipe
KIND_OF = {"pressure": "pressures", "flow": "flows", "level": "levels", "demand": "demands"}


@dataclass
class _Live:
    """A detector kept in this worker's memory between runs."""

    detector: LeakDetector
    revision: int
    sha256: str
    layout_key: str
    cursor: datetime | None  # last step fed (may be ahead of the stored checkpoint)
    checkpoint_steps: int  # detector.hours_seen·12 when the last checkpoint was taken
    steps_since_checkpoint: int = 0


_LIVE: dict[int, _Live] = {}
_MODELS: dict[tuple[int, str], NetworkModel] = {}


def forget() -> None:
    """Drop every in-memory detector (what a worker restart does; tests use it)."""
    for live in _LIVE.values():
        live.detector.close()
    _LIVE.clear()


@dataclass(frozen=True)
class Layout:
    layout: SensorLayout
    sensors: dict[tuple[str, str], Sensor]  # (kind in the layout, element ref) → sensor
    key: str

    @property
    def ids(self) -> list[int]:
        return [s.id for s in self.sensors.values()]


def layout_of(session: Session, network: Network, model: NetworkModel) -> Layout | None:
    """The sensor layout of a network's registered sensors on its elements (None: nothing to watch)."""
    stmt = (
        select(Sensor)
        .where(Sensor.network_id == network.id, Sensor.active.is_(True), Sensor.kind.in_(list(KIND_OF)))
        .order_by(Sensor.kind, Sensor.asset_ref, Sensor.id)
    )
    junctions, links = set(model.wn.junction_name_list), set(model.wn.link_name_list)
    tanks = set(model.wn.tank_name_list)
    valid = {"pressures": junctions, "flows": links, "levels": tanks, "demands": junctions}
    chosen: dict[tuple[str, str], Sensor] = {}
    for sensor in session.execute(stmt).scalars():
        kind = KIND_OF[sensor.kind]
        ref = str(sensor.asset_ref or "")
        if ref in valid[kind] and (kind, ref) not in chosen:
            chosen[(kind, ref)] = sensor
    names = {k: tuple(ref for kind, ref in chosen if kind == k) for k in KIND_OF.values()}
    if not names["pressures"] and not names["flows"]:
        return None
    layout = SensorLayout(names["pressures"], names["flows"], names["levels"], names["demands"])
    key = hashlib.sha256(repr(sorted((k, r, s.id) for (k, r), s in chosen.items())).encode()).hexdigest()
    return Layout(layout, chosen, key)


def _model(network: Network) -> NetworkModel:
    key = (network.id, network.sha256)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = NetworkModel.from_inp(networks.model_path(network), name=network.name)
    return _MODELS[key]


def _local(ts: datetime) -> datetime:
    """Detector time: naive local time (demand patterns follow the local clock)."""
    return ts.astimezone(ZoneInfo(get_settings().display_timezone)).replace(tzinfo=None)


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=ZoneInfo(get_settings().display_timezone)).astimezone(UTC)


def _state_row(session: Session, network: Network, lay: Layout) -> LeakState:
    stmt = select(LeakState).where(LeakState.network_id == network.id)
    if is_postgresql(session):
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        row = LeakState(
            network_id=network.id, sha256=network.sha256, layout_key=lay.key, cursor=None, state=None,
            revision=0, steps=0,
        )  # fmt: skip
        session.add(row)
        session.flush()
    elif row.sha256 != network.sha256 or row.layout_key != lay.key:
        # a new model version or another sensor layout: the old state does not fit; start again
        # after the last step taken (nothing is replayed, nothing reported twice)
        row.sha256, row.layout_key, row.state, row.steps = network.sha256, lay.key, None, 0
        row.revision += 1
        session.flush()
    return row


def _live_for(network: Network, model: NetworkModel, lay: Layout, row: LeakState) -> _Live:
    live = _LIVE.get(network.id)
    if live and (live.revision, live.sha256, live.layout_key) == (row.revision, row.sha256, row.layout_key):
        return live
    if live:
        live.detector.close()
    if row.state is not None:
        detector = LeakDetector.restore(model, lay.layout, row.state)
    else:
        detector = LeakDetector(model, lay.layout, step_seconds=STEP_S)
    live = _Live(detector, row.revision, row.sha256, row.layout_key, row.cursor, 0)
    _LIVE[network.id] = live
    return live


def _step_of(ts: datetime) -> datetime:
    """The model step a reading belongs to: the nearest 5-minute mark (a window of ±2.5 min)."""
    epoch = int(ts.timestamp()) + HALF_STEP_S
    return datetime.fromtimestamp(epoch - epoch % STEP_S, UTC)


def _steps(
    session: Session, lay: Layout, after: datetime, until: datetime
) -> dict[datetime, dict[int, float]]:
    """Readings of the layout's sensors resampled to the model's steps after ``after`` up to
    ``until`` (both steps): each step takes the mean of a sensor's readings within ±2.5 minutes of
    it. Field data are off the grid (a gateway's clock, jitter), repeated, late or missing: off-grid
    and repeated readings fall into one step, a missing one leaves the sensor NaN for that step,
    and a reading arriving after its step was taken is stored but never read again (the detector
    only moves forward in time)."""
    half = timedelta(seconds=HALF_STEP_S)
    rows = session.execute(
        select(Reading.sensor_id, Reading.ts, Reading.value)
        .where(Reading.sensor_id.in_(lay.ids), Reading.ts >= after + half, Reading.ts < until + half)
        .order_by(Reading.ts)
    )
    sums: dict[datetime, dict[int, list[float]]] = {}
    for sid, ts, value in rows:
        acc = sums.setdefault(_step_of(ts), {}).setdefault(sid, [0.0, 0.0])
        acc[0] += value
        acc[1] += 1.0
    return {step: {sid: total / n for sid, (total, n) in by.items()} for step, by in sums.items()}


def _readings(lay: Layout, step: datetime, values: dict[int, float]) -> Readings:
    arrays: dict[str, np.ndarray] = {}
    for kind, names in lay.layout.kinds().items():
        arrays[kind] = np.array([values.get(lay.sensors[(kind, n)].id, np.nan) for n in names], dtype=float)
    return Readings(time=_local(step), **arrays)


@dataclass
class RunResult:
    steps: int = 0
    detections: int = 0
    resolved: int = 0
    checkpoint: bool = False


def run_network(session: Session, network: Network, *, budget_s: float = RUN_SECONDS) -> RunResult:
    """Feed a network's new readings to its detector; store detections and checkpoints (in the
    caller's transaction). On any error the in-memory detector is dropped: the next run restores the
    stored checkpoint, so a detection made in a failed transaction is made again, not lost."""
    try:
        return _run(session, network, budget_s)
    except BaseException:
        live = _LIVE.pop(network.id, None)
        if live is not None:
            live.detector.close()
        raise


def _run(session: Session, network: Network, budget_s: float) -> RunResult:
    result = RunResult()
    model = _model(network)
    lay = layout_of(session, network, model)
    if lay is None:
        return result
    newest = session.execute(
        select(Reading.ts).where(Reading.sensor_id.in_(lay.ids)).order_by(Reading.ts.desc()).limit(1)
    ).scalar_one_or_none()
    if newest is None:
        return result
    row = _state_row(session, network, lay)
    live = _live_for(network, model, lay, row)
    cursor = live.cursor or row.cursor  # the last step fed, on the 5-minute grid
    step_s = timedelta(seconds=STEP_S)
    if cursor is None:
        first = session.execute(
            select(Reading.ts).where(Reading.sensor_id.in_(lay.ids)).order_by(Reading.ts).limit(1)
        ).scalar_one()
        cursor = max(_step_of(newest - BACKFILL), _step_of(first)) - step_s
    else:
        cursor = _step_of(cursor)  # a checkpoint written before resampling may be off the grid
    last_step = _step_of(newest)
    started = time.monotonic()
    found: list[Detection] = []
    n_sensors = len(lay.sensors)
    done = False
    while not done and cursor < last_step and time.monotonic() - started < budget_s:
        chunk = _steps(session, lay, cursor, min(cursor + CHUNK, last_step))
        if not chunk:
            cursor = min(cursor + CHUNK, last_step)
            continue
        for step in sorted(chunk):
            values = chunk[step]
            if len(values) < n_sensors and newest - step < GRACE:
                done = True  # wait for the late sensors
                break
            found += live.detector.update(_readings(lay, step, values))
            cursor = step
            live.cursor = step
            live.steps_since_checkpoint += 1
            result.steps += 1
            if time.monotonic() - started >= budget_s:
                done = True
                break
    if result.steps:
        result.resolved = _resolve_dropped(session, network, live.detector, at=cursor)
    for detection in found:
        _store(session, network, lay, detection)
        result.detections += 1
    hours = live.steps_since_checkpoint * STEP_S / 3600.0
    if found or result.resolved or (result.steps and (row.state is None or hours >= CHECKPOINT_HOURS)):
        row.state = live.detector.snapshot()
        row.cursor = cursor
        row.steps += live.steps_since_checkpoint
        row.revision += 1
        live.revision = row.revision
        live.steps_since_checkpoint = 0
        result.checkpoint = True
        session.flush()
    return result


def _key(network: Network, leak_id: int) -> str:
    return f"{network.sha256[:10]}:{leak_id}"


def _store(session: Session, network: Network, lay: Layout, d: Detection) -> TwinWarning:
    by_ref = {(k, ref): s for (k, ref), s in lay.sensors.items()}
    kind_key = {"pressure": "pressures", "flow": "flows", "tank_inflow": "levels"}
    evidence = []
    for e in d.evidence:
        sensor = by_ref.get((kind_key.get(e.kind, ""), e.sensor))
        evidence.append(
            {
                "sensor": e.sensor,
                "code": sensor.code if sensor else None,
                "kind": e.kind,
                "observed": round(float(e.observed), 3),
                "expected": round(float(e.expected), 3),
                "deviation": round(float(e.deviation), 3),
                "unit": e.unit,
            }
        )
    candidates = [{"pipe": c.pipe, "probability": round(float(c.probability), 3)} for c in d.candidates]
    key = _key(network, d.leak_id)
    at = _aware(d.time)
    warning = session.execute(
        select(TwinWarning).where(TwinWarning.open_key == f"leak:{network.id}:{key}")
    ).scalar_one_or_none()
    message = f"leak {d.pipe} ~{d.flow:.1f} m3/h since {d.onset:%Y-%m-%d %H:%M}"
    if warning is None:
        top = next((by_ref.get((kind_key.get(e.kind, ""), e.sensor)) for e in d.evidence), None)
        sensor = top or next(iter(lay.sensors.values()))
        warning = TwinWarning(
            sensor_id=sensor.id, network_id=network.id, cause=CAUSE, level=LEVEL, max_level=LEVEL,
            status=WarningStatus.open, open_key=f"leak:{network.id}:{key}", opened_at=at, stored_at=now(),
            last_value=round(float(d.flow), 3), last_at=at, message=message[:300],
            case_state="pending" if LEVEL_RANK[LEVEL] >= LEVEL_RANK[Level.orange] else "none",
        )  # fmt: skip
        session.add(warning)
        session.flush()
        event = "open"
        audit.record(
            session, actor=ACTOR, action="warning_open", entity_type="twin_warning", entity_id=warning.id,
            after=audit.snapshot(warning, exclude={"impact"}),
        )  # fmt: skip
    else:
        before = {"message": warning.message}
        warning.message, warning.last_value, warning.last_at = message[:300], round(float(d.flow), 3), at
        event = "relocated"
        audit.record(
            session, actor=ACTOR, action="warning_relocated", entity_type="twin_warning",
            entity_id=warning.id, before=before, after={"message": warning.message},
        )  # fmt: skip
    row = LeakDetection(
        network_id=network.id, warning_id=warning.id, leak_key=f"{key}:{d.time:%Y%m%d%H%M}",
        pipe=d.pipe, detected_at=at, onset=_aware(d.onset), flow=round(float(d.flow), 3),
        score=round(float(d.score), 2), relocated=d.relocated, candidates=candidates, evidence=evidence,
    )  # fmt: skip
    session.add(row)
    ranked = ", ".join(f"{c['pipe']} {c['probability']:.2f}" for c in candidates[:3])
    session.add(
        WarningEvent(
            warning_id=warning.id, at=at, event=event, level=warning.level, value=warning.last_value,
            note=f"{d.pipe} · {ranked}"[:300],
        )
    )  # fmt: skip
    session.flush()
    return warning


def _resolve_dropped(session: Session, network: Network, detector: LeakDetector, *, at: datetime) -> int:
    """Open leak warnings whose leak the detector no longer tracks (repaired) are resolved."""
    tracked = {f"leak:{network.id}:{_key(network, i)}" for i in detector.tracked}
    prefix = f"leak:{network.id}:{network.sha256[:10]}:"
    rows = session.execute(
        select(TwinWarning).where(
            TwinWarning.network_id == network.id,
            TwinWarning.cause == CAUSE,
            TwinWarning.status == WarningStatus.open,
        )
    ).scalars()
    resolved = 0
    for warning in rows:
        if not (warning.open_key or "").startswith(prefix) or warning.open_key in tracked:
            continue
        warning.status, warning.resolved_at, warning.open_key = WarningStatus.resolved, at, None
        session.add(WarningEvent(warning_id=warning.id, at=at, event="resolve", level=warning.level))
        audit.record(
            session, actor=ACTOR, action="warning_resolve", entity_type="twin_warning", entity_id=warning.id,
            before={"status": "open"}, after={"status": "resolved"},
        )  # fmt: skip
        resolved += 1
    return resolved


def detections_for(session: Session, *, warning_ids: list[int]) -> dict[int, list[LeakDetection]]:
    """Leak detections of these warnings, newest first per warning."""
    if not warning_ids:
        return {}
    out: dict[int, list[LeakDetection]] = {}
    stmt = (
        select(LeakDetection)
        .where(LeakDetection.warning_id.in_(warning_ids))
        .order_by(LeakDetection.detected_at.desc(), LeakDetection.id.desc())
    )
    for d in session.execute(stmt).scalars():
        out.setdefault(d.warning_id, []).append(d)
    return out


def map_candidates(detections: dict[int, list[LeakDetection]]) -> list[dict[str, Any]]:
    """The latest candidates of each open leak, for the network map: [{pipe, probability, warning}]."""
    out = []
    for warning_id, rows in detections.items():
        for c in rows[0].candidates:
            out.append({"pipe": c["pipe"], "probability": c["probability"], "warning": warning_id,
                        "best": c["pipe"] == rows[0].pipe})  # fmt: skip
    return out


def plan_for_leak(session: Session, warning: TwinWarning, network: Network) -> dict[str, Any]:
    """The impact plan of a leak warning: isolating its best pipe, with the ranked candidates."""
    from cityloop.twin import impact

    latest = session.execute(
        select(LeakDetection)
        .where(LeakDetection.warning_id == warning.id)
        .order_by(LeakDetection.detected_at.desc(), LeakDetection.id.desc())
        .limit(1)
    ).scalar_one()
    plan = impact.water_plan(session, network=network, pipe=latest.pipe)
    plan["leak_candidates"] = latest.candidates
    plan["leak_evidence"] = latest.evidence
    return plan
