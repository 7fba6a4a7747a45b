"""The twin loop: an orange/red warning becomes a case request with its impact plan, routed to
the operator; closure waits until the sensor has been normal for the configured time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityloop.core.audit import Actor
from cityloop.core.clock import FrozenClock, set_clock
from cityloop.twin import case_bridge, jobs
from cityloop.twin.models import CaseRequest, TwinWarning, WarningEvent
from cityloop.twin.telemetry import Ingestor, parse_http
from tests.twin.conftest import add_sensor, import_water

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fallback_bridge():
    """These tests check the in-process fallback (test_case_bridge.py checks the real queue)."""
    from cityloop import bridges

    bridges.uninstall()
    yield


def feed(db, ing, code, values, start=0):
    for i, v in enumerate(values, start=start):
        ing.ingest(
            db,
            parse_http([{"sensor": code, "ts": (T0 + timedelta(minutes=i)).isoformat(), "value": v}]),
            channel="http",
        )


def test_red_warning_becomes_one_case_request_with_plan_and_closure_waits_for_normal(db) -> None:
    clock = FrozenClock(T0)
    set_clock(clock)
    net = import_water(db)
    add_sensor(db, "P-22", "pressure", net, "22", rules={"disable": ["rate"]})  # only the low cause
    ing = Ingestor(actor=Actor("test"))
    feed(db, ing, "P-22", [40, 9])
    warning = db.scalar(select(TwinWarning).where(TwinWarning.cause == "low"))
    assert warning.level == "red" and warning.case_state == "pending"
    assert jobs.warning_cases(db) == 1 and jobs.warning_cases(db) == 0  # once only
    request = db.scalar(select(CaseRequest))
    assert request.status == "pending" and request.source == "sensor" and request.source_ref == "P-22"
    assert request.unit.code == "util-water" and warning.case_ref == f"twin-case-request:{request.id}"
    assert request.impact["kind"] == "water" and request.impact["valves"]
    assert "leak_candidates" in request.impact
    assert "红色" in request.title
    events = db.scalars(select(WarningEvent.event).where(WarningEvent.warning_id == warning.id)).all()
    assert "case" in events
    # Closure rule: not while open; after recovery, only once readings were normal for 10 min.
    assert not case_bridge.sensors_normal_since(db, warning)
    feed(db, ing, "P-22", [30] * 12, start=2)
    db.refresh(warning)
    assert warning.status == "resolved"
    clock.current = T0 + timedelta(minutes=13)
    assert case_bridge.sensors_normal_since(db, warning)
    feed(db, ing, "P-22", [18], start=14)  # a new dip (yellow) within the window
    clock.current = T0 + timedelta(minutes=14)
    assert not case_bridge.sensors_normal_since(db, warning)


def test_a_failing_plan_is_recorded_and_the_case_is_still_requested(db, monkeypatch) -> None:
    set_clock(FrozenClock(T0))
    net = import_water(db)
    add_sensor(db, "P-22", "pressure", net, "22", rules={"disable": ["rate"]})
    feed(db, Ingestor(actor=Actor("t")), "P-22", [40, 9])

    def broken(*_a, **_k):
        raise RuntimeError("EPANET error 110: cannot solve network hydraulic equations")

    monkeypatch.setattr(jobs.impact, "water_plan", broken)
    assert jobs.warning_cases(db) == 1
    warning = db.scalar(select(TwinWarning).where(TwinWarning.cause == "low"))
    assert "EPANET error 110" in warning.impact_error and warning.case_state == "requested"
    assert db.scalar(select(CaseRequest)).impact is None


def test_silent_sensor_gets_a_no_data_warning_once(db) -> None:
    clock = FrozenClock(T0)
    set_clock(clock)
    net = import_water(db)
    add_sensor(db, "P-22", "pressure", net, "22")
    feed(db, Ingestor(actor=Actor("t")), "P-22", [40])
    clock.current = T0 + timedelta(minutes=20)
    assert jobs.no_data(db) == 0
    clock.current = T0 + timedelta(minutes=45)
    assert jobs.no_data(db) == 1 and jobs.no_data(db) == 0
    w = db.scalar(select(TwinWarning).where(TwinWarning.cause == "no_data"))
    assert w.level == "yellow"
    feed(db, Ingestor(actor=Actor("t")), "P-22", [40], start=46)
    db.refresh(w)
    assert w.status == "resolved"


def test_model_check_flags_pressure_far_from_epanet(db) -> None:
    from cityloop.core.clock import now
    from cityloop.twin import impact

    net = import_water(db)
    add_sensor(db, "P-22", "pressure", net, "22")
    add_sensor(db, "P-31", "pressure", net, "31")
    expected = impact.expected_pressures(db, network=net)
    at = now().isoformat()
    Ingestor(actor=Actor("t")).ingest(
        db,
        parse_http([
            {"sensor": "P-22", "ts": at, "value": expected["22"] - 12},  # orange: 10–20 m off
            {"sensor": "P-31", "ts": at, "value": expected["31"] + 0.5},
        ]),
        channel="http",
    )  # fmt: skip
    assert jobs.model_check(db) == 1
    w = db.scalar(select(TwinWarning).where(TwinWarning.cause == "deviation"))
    assert w.sensor.code == "P-22" and w.level == "orange" and abs(w.last_value - 12) < 0.01
