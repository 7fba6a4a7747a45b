"""Telemetry that no sensor could have sent is dead-lettered with its reason and never opens a warning;
numbers and times that break Python or the databases never crash either channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from cityloop.core.audit import Actor
from cityloop.twin.models import DeadLetter, Reading, TwinWarning
from cityloop.twin.telemetry import Incoming, Ingestor, Rejected, parse_http, parse_mqtt, plausible_ranges
from tests.twin.conftest import add_sensor, import_water

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def count(db: Any, model: Any, *where: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model).where(*where)))


def test_every_sensor_kind_has_a_plausible_range() -> None:
    from cityloop.twin.service import SENSOR_KINDS

    ranges = plausible_ranges()
    assert set(SENSOR_KINDS) <= set(ranges)
    assert ranges["pressure"][:2] == (-20.0, 200.0)
    assert all(lo < hi for lo, hi, _ in ranges.values())


def test_a_pressure_of_1e308_m_is_dead_lettered_over_http_and_opens_no_warning(
    client: Any, token_for: Any, db: Any
) -> None:
    net1 = import_water(db)
    sensor = add_sensor(db, "P-22", "pressure", net1, "22")
    db.commit()
    h = token_for("operator")
    batch = [
        {"sensor": "P-22", "ts": T0.isoformat(), "value": 1e308},
        {"sensor": "P-22", "ts": "2026-11-28T02:01:00Z", "value": -500},
        {"sensor": "P-22", "ts": "2026-11-28T02:02:00Z", "value": 45.0},
    ]
    r = client.post("/api/v1/telemetry", headers=h, json=batch)
    assert r.status_code == 200, r.text
    assert (r.json()["stored"], r.json()["dead_lettered"], r.json()["warnings"]) == (1, 2, [])
    assert count(db, Reading, Reading.sensor_id == sensor.id) == 1
    assert count(db, TwinWarning) == 0
    reasons = db.scalars(select(DeadLetter.reason)).all()
    assert sum("implausible value for pressure: outside -20…200 m" in r for r in reasons) == 2


def test_the_same_range_rule_holds_for_mqtt(db: Any) -> None:
    net1 = import_water(db)
    add_sensor(db, "P-22", "pressure", net1, "22")
    ing = Ingestor(actor=Actor("test"))
    payload = json.dumps(
        [{"ts": T0.isoformat(), "value": 1e308}, {"ts": "2026-11-28T02:01:00Z", "value": 30}]
    )
    result = ing.ingest(db, parse_mqtt("cityloop/telemetry/P-22", payload.encode()), channel="mqtt")
    assert (result.stored, result.dead_lettered, result.warnings) == (1, 1, [])
    letter = db.scalars(select(DeadLetter).where(DeadLetter.channel == "mqtt")).one()
    assert letter.topic == "cityloop/telemetry/P-22" and "implausible" in letter.reason


@pytest.mark.parametrize(
    "payload",
    [
        b'{"ts": "2026-11-28T02:00:00Z", "value": ' + b"9" * 400 + b"}",  # float() overflows
        b'{"ts": "2026-11-28T02:00:00Z", "value": ' + b"9" * 5000 + b"}",  # json.loads refuses
        b'{"ts": "2026-11-28T02:00:00Z", "value": 1e400}',  # inf
        b'{"ts": "9999-12-31T23:59:59-12:00", "value": 1}',  # past year 9999 in UTC
        b'{"ts": "0001-01-01T00:00:00+08:00", "value": 1}',  # before year 1 in UTC
        b'{"ts": "2199-12-31T23:00:00-05:00", "value": 1}',  # past the accepted years in UTC
        b"[" * 50_000 + b"]" * 50_000,
        b'{"ts": "2026-11-28T02:00:00Z", "value": 1, "x": "\\u0000"}',
    ],
)
def test_mqtt_parse_never_raises(payload: bytes) -> None:
    items = parse_mqtt("cityloop/telemetry/P-22", payload)
    assert items and all(isinstance(i, Rejected | Incoming) for i in items)
    if b'"x"' not in payload:
        assert all(isinstance(i, Rejected) for i in items), items


def test_a_control_character_in_the_topic_is_a_dead_letter_not_a_poisoned_query(db: Any) -> None:
    ing = Ingestor(actor=Actor("test"))
    items = parse_mqtt("cityloop/telemetry/P\x00-22", b'{"ts": "2026-11-28T02:00:00Z", "value": 1}')
    assert isinstance(items[0], Rejected)
    result = ing.ingest(db, items, channel="mqtt")
    assert result.dead_lettered == 1
    letter = db.scalars(select(DeadLetter)).one()
    assert "\x00" not in (letter.topic or "") and "\\u0000" in (letter.topic or "")


@pytest.mark.parametrize(
    "value", [str(10**400), "1e400", '"9999-12-31T23:59:59-12:00"', '"0001-01-01T00:00:00+08:00"']
)
def test_http_ingest_answers_4xx_or_dead_letters_never_500(
    client: Any, token_for: Any, db: Any, value: str
) -> None:
    net1 = import_water(db)
    add_sensor(db, "P-22", "pressure", net1, "22")
    db.commit()
    if value.startswith('"'):
        body = f'[{{"sensor": "P-22", "ts": {value}, "value": 1}}]'
    else:
        body = f'[{{"sensor": "P-22", "ts": "2026-11-28T02:00:00Z", "value": {value}}}]'
    r = client.post(
        "/api/v1/telemetry",
        headers={**token_for("operator"), "Content-Type": "application/json"},
        content=body,
    )
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert r.json()["dead_lettered"] == 1 and r.json()["stored"] == 0
    else:
        assert r.json()["error"]["code"] == "number_too_long"
    assert count(db, Reading) == 0


def test_parse_http_refuses_huge_integers_without_raising() -> None:
    items = parse_http([{"sensor": "P-22", "ts": "2026-11-28T02:00:00Z", "value": 10**400}])
    assert isinstance(items[0], Rejected) and "too large" in items[0].reason
