"""Telemetry storage: idempotent on (sensor, ts), late readings kept, bad input dead-lettered,
warnings raised and resolved from the readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from cityloop.core.audit import Actor
from cityloop.twin.models import DeadLetter, Reading, TwinWarning, WarningEvent
from cityloop.twin.telemetry import Ingestor, parse_http, parse_mqtt
from tests.twin.conftest import add_sensor

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def n(db, model, *where):
    return db.scalar(select(func.count()).select_from(model).where(*where))


def test_redelivered_and_late_readings_are_stored_once(db, net1) -> None:
    sensor = add_sensor(db, "P-22", "pressure", net1, "22")
    ing = Ingestor(actor=Actor("test"))
    payload = json.dumps([{"ts": iso(i), "value": 40 + i} for i in range(5)]).encode()
    first = ing.ingest(db, parse_mqtt("cityloop/telemetry/P-22", payload), channel="mqtt")
    again = ing.ingest(db, parse_mqtt("cityloop/telemetry/P-22", payload), channel="mqtt")
    late = ing.ingest(
        db,
        parse_mqtt("cityloop/telemetry/P-22", json.dumps({"ts": iso(-30), "value": 1}).encode()),
        channel="mqtt",
    )
    assert (first.stored, again.stored, again.duplicates, late.stored) == (5, 0, 5, 1)
    assert n(db, Reading, Reading.sensor_id == sensor.id) == 6
    assert n(db, TwinWarning) == 0  # the late low value is stored but not judged


def test_bad_input_goes_to_dead_letters_with_reasons_and_good_readings_still_land(db, net1) -> None:
    add_sensor(db, "P-22", "pressure", net1, "22")
    ing = Ingestor(actor=Actor("test"))
    items = (
        parse_mqtt("cityloop/telemetry/P-22", b"{nope")
        + parse_mqtt("cityloop/telemetry/P-22", b'[{"ts": "2026-11-28T02:00:00Z", "value": NaN}]')
        + parse_mqtt("cityloop/telemetry/NOPE", b'{"ts": "2026-11-28T02:00:00Z", "value": 1}')
        + parse_mqtt("cityloop/telemetry/P-22", b'{"ts": "2026-11-28T02:00:00", "value": 1}')
        + parse_mqtt("cityloop/telemetry/P-22", b'{"ts": "2026-11-28T02:01:00+08:00", "value": "x"}')
        + parse_mqtt("cityloop/telemetry/P-22", b'{"ts": "2026-11-28T02:02:00+08:00", "value": 45.5}')
    )
    result = ing.ingest(db, items, channel="mqtt")
    assert result.stored == 1 and result.dead_lettered == 5
    reasons = db.scalars(select(DeadLetter.reason).order_by(DeadLetter.id)).all()
    assert any("malformed JSON" in r for r in reasons) and any("NaN" in r for r in reasons)
    assert "unknown sensor" in reasons and any("zone" in r for r in reasons)
    assert any("not a number" in r for r in reasons)


def test_low_pressure_opens_one_warning_escalates_and_resolves_with_history(db, net1) -> None:
    add_sensor(db, "P-22", "pressure", net1, "22")
    ing = Ingestor(actor=Actor("test"))
    values = [40, 19, 19.5, 14, 9] + [30] * 12
    for i, v in enumerate(values):
        ing.ingest(db, parse_http([{"sensor": "P-22", "ts": iso(i), "value": v}]), channel="http")
    low = db.scalars(select(TwinWarning).where(TwinWarning.cause == "low")).all()
    assert len(low) == 1
    w = low[0]
    assert w.max_level == "red" and w.status == "resolved" and w.open_key is None
    assert w.case_state == "pending"  # reached orange: handed to the case loop by the worker
    events = db.scalars(
        select(WarningEvent.event).where(WarningEvent.warning_id == w.id).order_by(WarningEvent.id)
    ).all()
    assert events[0] == "open" and events.count("escalate") == 2 and events[-1] == "resolve"


def test_a_new_process_rebuilds_state_from_stored_readings(db, net1) -> None:
    add_sensor(db, "P-22", "pressure", net1, "22")
    Ingestor(actor=Actor("a")).ingest(
        db, parse_http([{"sensor": "P-22", "ts": iso(0), "value": 50}]), channel="http"
    )
    fresh = Ingestor(actor=Actor("b"))  # knows nothing in memory
    fresh.ingest(db, parse_http([{"sensor": "P-22", "ts": iso(1), "value": 40}]), channel="http")
    rate = db.scalars(select(TwinWarning).where(TwinWarning.cause == "rate")).all()
    assert len(rate) == 1 and rate[0].level == "orange"


def test_a_new_process_rebuilds_many_sensors_states_at_once(db, net1) -> None:
    """A restarted ingester's first batch names many sensors (on PostgreSQL they are primed in one
    query): each one's last stored reading, not another's nor a later one, is what it judges from."""
    for code, node in (("P-22", "22"), ("P-23", "23"), ("P-31", "31")):
        add_sensor(db, code, "pressure", net1, node)
    old = [{"sensor": "P-22", "ts": iso(0), "value": 50}, {"sensor": "P-23", "ts": iso(0), "value": 41}]
    old += [{"sensor": "P-23", "ts": iso(5), "value": 40}]  # after the new batch's first P-23 reading
    Ingestor(actor=Actor("a")).ingest(db, parse_http(old), channel="http")
    fresh = Ingestor(actor=Actor("b"))
    new = [{"sensor": "P-22", "ts": iso(1), "value": 40}, {"sensor": "P-23", "ts": iso(1), "value": 41}]
    new += [{"sensor": "P-31", "ts": iso(1), "value": 40}]  # no history at all
    fresh.ingest(db, parse_http(new), channel="http")
    rate = db.scalars(select(TwinWarning).where(TwinWarning.cause == "rate")).all()
    assert [w.sensor.code for w in rate] == ["P-22"]  # 50 → 40; P-23 41 → 41; P-31 first reading


def test_one_big_batch_catches_a_spike_inside_it_and_a_stuck_sensor(db, net1) -> None:
    add_sensor(db, "P-22", "pressure", net1, "22")
    add_sensor(db, "P-31", "pressure", net1, "31")
    ing = Ingestor(actor=Actor("test"))
    wobble = [{"sensor": "P-22", "ts": iso(i), "value": 40 + (i % 5) * 0.3} for i in range(200)]
    wobble[100]["value"] = 60.0  # a 20 m jump for one minute: rate warning, inside the batch
    stuck = [{"sensor": "P-31", "ts": iso(i), "value": 42.0} for i in range(200)]
    ing.ingest(db, parse_http(wobble + stuck), channel="http")
    causes = {(w.sensor.code, w.cause) for w in db.scalars(select(TwinWarning))}
    assert causes == {("P-22", "rate"), ("P-31", "flat")}
    rate = db.scalar(select(TwinWarning).where(TwinWarning.cause == "rate"))
    assert rate.status == "resolved"  # normal again 10 minutes after the spike, within the batch
    quiet = [{"sensor": "P-22", "ts": iso(300 + i), "value": 40 + (i % 5) * 0.3} for i in range(200)]
    before = n(db, WarningEvent)
    ing.ingest(db, parse_http(quiet), channel="http")
    assert n(db, TwinWarning) == 2 and n(db, WarningEvent) == before  # a quiet batch changes nothing
