"""Worker jobs of the twin: impact plans and case hand-off for orange/red warnings, the no-data
scan, and the comparison of observed pressures with EPANET's expected ones.

Each job runs in its own transaction (worker.runner); claims use ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL so several workers share the load. A simulation that fails or overruns its time is
recorded on the warning and the case is still requested without a plan: the worker never stops.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core.audit import Actor
from cityloop.core.clock import now
from cityloop.core.db import is_postgresql
from cityloop.core.errors import AppError
from cityloop.twin import alerts, case_bridge, impact, leak_online, service
from cityloop.twin.models import Level, Network, Reading, Sensor, TwinWarning, WarningEvent, WarningStatus
from cityloop.twin.rules import decide, level_of, rules_for
from cityloop.worker.runner import job

log = logging.getLogger("cityloop.twin.jobs")
ACTOR = Actor("twin-worker")
PLAN_SECONDS = 60.0


class PlanTimeout(Exception):
    pass


def _deadline(started: float, limit: float) -> None:
    if time.monotonic() - started > limit:
        raise PlanTimeout


def plan_for_warning(
    session: Session, warning: TwinWarning, *, limit_s: float = PLAN_SECONDS
) -> dict[str, Any] | None:
    """The impact plan that goes with a warning, by the network's kind (None without a network)."""
    started = time.monotonic()
    sensor = warning.sensor
    network = sensor.network
    if network is None:
        return None
    if network.kind == "water" and warning.cause == leak_online.CAUSE:
        return leak_online.plan_for_leak(session, warning, network)
    if network.kind == "water":
        node = _sensor_node(session, network, sensor)
        plan = impact.water_plan(session, network=network, node=node)
        _deadline(started, limit_s)
        if sensor.kind == "pressure" and warning.cause in ("low", "rate", "deviation"):
            plan["leak_candidates"] = impact.leak_candidates(session, network=network)
        return plan
    if network.kind == "gas":
        return impact.gas_plan(session, network=network, lon=sensor.lon, lat=sensor.lat)
    totals = _observed_rain(session, network)
    if totals:
        return impact.drainage_plan(session, network=network, totals_mm=totals)
    return impact.drainage_plan(session, network=network, rain_mm=50.0, hours=3.0)


def _sensor_node(session: Session, network: Network, sensor: Sensor) -> str:
    topo = impact.topology(session, network)
    if sensor.asset_ref in topo.nodes:
        return str(sensor.asset_ref)
    for ref, a, _b in topo.links:
        if ref == sensor.asset_ref:
            return a
    return impact._nearest_node(topo, sensor.lon or 0.0, sensor.lat or 0.0, ("junction", "tank", "reservoir"))


def _observed_rain(session: Session, network: Network, hours: float = 3.0) -> list[float]:
    """5-minute rainfall totals (mm) of the network's gauges over the last hours, averaged."""
    since = now() - timedelta(hours=hours)
    bins: dict[int, list[float]] = {}
    for sensor in session.execute(
        select(Sensor).where(Sensor.network_id == network.id, Sensor.kind == "rainfall")
    ).scalars():
        for ts, value in session.execute(
            select(Reading.ts, Reading.value).where(Reading.sensor_id == sensor.id, Reading.ts >= since)
        ):
            bins.setdefault(int((ts - since).total_seconds() // 300), []).append(value)
    if not bins:
        return []
    return [sum(bins.get(i, [0.0])) / max(1, len(bins.get(i, [0.0]))) for i in range(max(bins) + 1)]


@job("twin.warning_cases", every_seconds=5)
def warning_cases(session: Session) -> int:
    """Orange/red warnings waiting for a case: compute the plan, hand it over, record the outcome."""
    stmt = select(TwinWarning).where(TwinWarning.case_state == "pending").order_by(TwinWarning.id).limit(10)
    if is_postgresql(session):
        stmt = stmt.with_for_update(skip_locked=True, of=TwinWarning)
    handled = 0
    for warning in session.execute(stmt).scalars().all():
        plan, error = None, None
        try:
            with session.begin_nested():
                plan = plan_for_warning(session, warning)
        except PlanTimeout:
            error = f"timed out after {PLAN_SECONDS:.0f} s"
        except (AppError, Exception) as exc:  # a broken model must not stop the loop
            log.warning("impact plan for warning %s failed: %s", warning.id, exc)
            error = str(exc)[:500]
        warning.impact, warning.impact_error = plan, error
        if error:
            session.add(
                WarningEvent(
                    warning_id=warning.id,
                    at=now(),
                    event="impact_failed",
                    level=warning.level,
                    note=error[:300],
                )
            )
        try:  # a case the queue refuses is reported on the warning; the loop goes on
            with session.begin_nested():
                ref = case_bridge.open_case_for_warning(session, warning, plan)
        except AppError as exc:
            log.warning("case for warning %s refused: %s", warning.id, exc)
            warning.case_state = "failed"
            session.add(
                WarningEvent(
                    warning_id=warning.id, at=now(), event="case_failed", level=warning.level,
                    note=str(exc)[:300],
                )
            )  # fmt: skip
            session.flush()
            handled += 1
            continue
        warning.case_state, warning.case_ref = "requested", ref
        session.add(
            WarningEvent(warning_id=warning.id, at=now(), event="case", level=warning.level, note=ref)
        )
        session.flush()
        handled += 1
    return handled


def _rules_path() -> str | None:
    path = get_settings().twin_rules_file
    return str(path) if path else None


@job("twin.no_data", every_seconds=60)
def no_data(session: Session) -> int:
    """Open a no-data warning for sensors silent past their window."""
    opened = 0
    silent = service.silent_sensors(session)
    open_map = alerts.open_warnings(session, sensor_ids=[s.id for s, _ in silent])
    for sensor, _last in silent:
        if (sensor.id, "no_data") in open_map:
            continue
        rule = rules_for(sensor.kind, sensor.rules, _rules_path())["no_data"]
        level = rule.thresholds[0].level if rule.thresholds else Level.yellow
        alerts.apply(
            session, actor=ACTOR, sensor=sensor, cause="no_data", rule=rule,
            step=decide(open_level=None, normal_since=None, raise_level=level, hold_level=level, ts=now(),
                        resolve_after_min=rule.resolve_after_min),
            warning=None, value=None, ts=now(),
        )  # fmt: skip
        opened += 1
    return opened


@job("twin.model_check", every_seconds=300)
def model_check(session: Session) -> int:
    """Observed pressure vs EPANET's expected pressure for now; deviations become warnings."""
    changed = 0
    fresh = now() - timedelta(minutes=15)
    for network in session.execute(select(Network).where(Network.kind == "water")).scalars().all():
        stmt = select(Sensor).where(
            Sensor.network_id == network.id, Sensor.kind == "pressure", Sensor.active.is_(True)
        )
        sensors = [
            s
            for s in session.execute(stmt).scalars()
            if s.asset_ref and "deviation" in rules_for(s.kind, s.rules, _rules_path())
        ]
        if not sensors:
            continue
        try:
            expected = impact.expected_pressures(session, network=network)
        except Exception as exc:
            log.warning("expected pressures for %s failed: %s", network.name, exc)
            continue
        open_map = alerts.open_warnings(session, sensor_ids=[s.id for s in sensors])
        for sensor in sensors:
            changed += _deviation(session, sensor, expected, open_map.get((sensor.id, "deviation")), fresh)
    return changed


def _deviation(
    session: Session, sensor: Sensor, expected: dict[str, float], warning: TwinWarning | None, fresh: Any
) -> int:
    row = session.execute(
        select(Reading.ts, Reading.value)
        .where(Reading.sensor_id == sensor.id)
        .order_by(Reading.ts.desc())
        .limit(1)
    ).first()
    if row is None or row[0] < fresh or sensor.asset_ref not in expected:
        return 0
    rule = rules_for(sensor.kind, sensor.rules, _rules_path())["deviation"]
    deviation = abs(float(row[1]) - expected[str(sensor.asset_ref)])
    step = decide(
        open_level=Level(warning.level) if warning and warning.status == WarningStatus.open else None,
        normal_since=warning.normal_since if warning else None,
        raise_level=level_of(rule, deviation, hold=False),
        hold_level=level_of(rule, deviation, hold=True),
        ts=row[0],
        resolve_after_min=rule.resolve_after_min,
    )
    if step.action == "none":
        return 0
    alerts.apply(
        session, actor=ACTOR, sensor=sensor, cause="deviation", rule=rule, step=step, warning=warning,
        value=round(deviation, 3), ts=row[0],
    )  # fmt: skip
    return 1


@job("twin.leak_detect", every_seconds=60)
def leak_detect(session: Session) -> int:
    """The leak detector on each water network's new readings (see ``leak_online``): detections
    become leak warnings; the detector's checkpoint is stored with them."""
    handled = 0
    for network in session.execute(select(Network).where(Network.kind == "water")).scalars().all():
        try:
            with session.begin_nested():
                result = leak_online.run_network(session, network)
        except Exception as exc:  # one network's broken model or data must not stop the others
            log.warning("leak detection on %s failed: %s", network.name, exc)
            continue
        handled += result.detections + result.resolved
    return handled
