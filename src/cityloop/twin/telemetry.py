"""Telemetry in: parse, store once per (sensor, timestamp), dead-letter the rest, run the rules.

Both channels (MQTT and the HTTP batch) call :meth:`Ingestor.ingest` with one transaction per
batch; the caller commits and only then acknowledges. Readings are stored with one bulk
``INSERT … ON CONFLICT (sensor_id, ts) DO NOTHING`` (executemany on SQLite, ``unnest`` arrays on
PostgreSQL), so a redelivered message is stored once and late or out-of-order readings are kept.
Rules look only at readings newer than the sensor's last one: a late reading is stored, not judged.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from cityloop.config import get_settings
from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.db import is_postgresql
from cityloop.core.validation import (
    YEAR_MAX,
    YEAR_MIN,
    bad_char,
    escape_controls,
    finite,
    parse_time,
)
from cityloop.org.models import Unit
from cityloop.twin import alerts
from cityloop.twin.models import DeadLetter, Level, Reading, Sensor, TwinWarning
from cityloop.twin.rules import CauseRule, SensorState, advance_quietly, decide, evaluate, rules_for

MAX_PAYLOAD_KEPT = 2000
# Causes a reading is judged on (a reading also ends a no-data warning); deviation is the worker's.
JUDGED = frozenset({"high", "low", "rate", "flat", "accumulation", "no_data"})
TOPIC_PREFIX = "cityloop/telemetry/"


class Incoming(NamedTuple):  # tuples: tens of thousands are made per second
    sensor: str
    ts: datetime
    value: float


class Rejected(NamedTuple):
    reason: str
    payload: str
    topic: str | None = None


@dataclass
class IngestResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    warnings: list[int] = field(default_factory=list)


RANGES = Path(__file__).resolve().parent / "defaults" / "plausible_ranges.csv"


@lru_cache
def plausible_ranges(path: str | None = None) -> dict[str, tuple[float, float, str]]:
    """Per sensor kind: (min, max, unit) a reading can physically have (``defaults/plausible_ranges.csv``
    or the district's file). A kind without a row is not range-checked."""
    with (Path(path) if path else RANGES).open(encoding="utf-8") as fh:
        return {
            row["kind"]: (float(row["min"]), float(row["max"]), row["measure_unit"])
            for row in csv.DictReader(fh)
        }


def parse_ts(raw: Any) -> datetime:
    """The one time rule (core.validation): ISO-8601 with a zone, within the accepted years, in UTC."""
    if not isinstance(raw, str):
        raise ValueError("ts must be an ISO-8601 string")
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise ValueError(f"ts: {exc}") from None


def parse_value(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError("value is not a number")
    value = finite(raw)
    if value is None:
        raise ValueError("value is NaN, infinite or too large")
    return value


def _item(sensor: str, obj: Any, topic: str | None) -> Incoming | Rejected:
    try:
        if not isinstance(obj, dict):
            raise ValueError("a reading must be an object with ts and value")
        return Incoming(sensor, parse_ts(obj.get("ts")), parse_value(obj.get("value")))
    except (ValueError, OverflowError) as exc:  # OverflowError: a ts at the end of the calendar
        return Rejected(str(exc), json.dumps(obj, ensure_ascii=False)[:MAX_PAYLOAD_KEPT], topic)


def _fast(sensor: str, obj: Any) -> Incoming | None:
    """The common case of ``_item`` without exceptions: an object with an aware ISO-8601 ``ts`` and
    a finite number; None sends the item down the checking path (which names the problem)."""
    if type(obj) is not dict:
        return None
    ts, value = obj.get("ts"), obj.get("value")
    if type(ts) is not str or (type(value) is not float and type(value) is not int):
        return None
    try:
        when = _fromiso(ts)
    except ValueError:
        return None
    zone = when.tzinfo
    if zone is None or value != value or value in _INFINITE or not _YEAR_LO < when.year < _YEAR_HI:
        return None  # the checking path names the problem (the edge years too: an offset may cross them)
    if type(value) is int and not -_BIG < value < _BIG:
        return None
    if zone is not UTC:
        when = when.astimezone(UTC)
    return Incoming(sensor, when, float(value))


_fromiso = datetime.fromisoformat
_INFINITE = (float("inf"), float("-inf"))
_YEAR_LO, _YEAR_HI = YEAR_MIN, YEAR_MAX
_BIG = 2**53  # larger integers go down the checking path (float() of 10**400 overflows)


def parse_mqtt(topic: str, payload: bytes) -> list[Incoming | Rejected]:
    """``cityloop/telemetry/{sensor}`` with ``{"ts", "value"}`` or a list of them."""
    text = payload[:MAX_PAYLOAD_KEPT].decode("utf-8", errors="replace")
    if not topic.startswith(TOPIC_PREFIX) or not topic[len(TOPIC_PREFIX) :]:
        return [Rejected("topic is not cityloop/telemetry/{sensor_id}", text, topic)]
    sensor = topic[len(TOPIC_PREFIX) :]
    if bad_char(sensor, multiline=False) is not None:  # would poison the sensor look-up on PostgreSQL
        return [Rejected("topic holds a control character", text, topic)]
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, a 5,000-digit number
        return [Rejected(f"malformed JSON: {str(exc)[:200]}", text, topic)]
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        return [Rejected("empty list", text, topic)]
    return [_fast(sensor, obj) or _item(sensor, obj, topic) for obj in items]


def parse_http(doc: Any) -> list[Incoming | Rejected]:
    """``[{"sensor", "ts", "value"}, …]`` or ``{"readings": [...]}``."""
    items = doc.get("readings") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        return [Rejected("body must be a list of readings or {readings: [...]}", str(doc)[:MAX_PAYLOAD_KEPT])]
    out: list[Incoming | Rejected] = []
    for obj in items:
        sensor = obj.get("sensor") if isinstance(obj, dict) else None
        if type(sensor) is str and sensor:
            fast = _fast(sensor, obj)
            if fast is not None:
                out.append(fast)
                continue
        if not isinstance(sensor, str) or not sensor:
            out.append(
                Rejected("reading has no sensor", json.dumps(obj, ensure_ascii=False)[:MAX_PAYLOAD_KEPT])
            )
            continue
        out.append(_item(sensor, obj, None))
    return out


@dataclass
class SensorInfo:
    sensor: Sensor
    unit_path: str
    rules: dict[str, CauseRule]
    state: SensorState = field(default_factory=SensorState)
    primed: bool = False


def _sqlite_ts(ts: datetime) -> str:
    # The text form SQLAlchemy's SQLite DateTime stores ("%Y-%m-%d %H:%M:%S.%f"), so raw and ORM
    # rows compare equal; isoformat is several times faster than strftime.
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    return ts.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def store_readings(session: Session, rows: list[tuple[int, datetime, float]]) -> int:
    """Insert readings, skipping (sensor, ts) pairs already stored; returns how many were new."""
    if not rows:
        return 0
    conn = session.connection()
    if is_postgresql(session):
        return _store_postgresql(conn, rows)
    result = conn.exec_driver_sql(
        "INSERT INTO twin_readings (sensor_id, ts, value) VALUES (?, ?, ?) "
        "ON CONFLICT (sensor_id, ts) DO NOTHING",
        [
            (sid, ts.isoformat(" ", "microseconds")[:26] if ts.tzinfo is UTC else _sqlite_ts(ts), value)
            for sid, ts, value in rows
        ],
    )
    return int(result.rowcount)


def _store_postgresql(conn: Any, rows: list[tuple[int, datetime, float]]) -> int:
    """COPY straight into the table under a savepoint (new readings, the usual case: one pass); if
    any (sensor, ts) is already there — a redelivery, a gateway's retry — roll back to the savepoint
    and COPY into a session-private staging table, then one INSERT … SELECT … ON CONFLICT DO
    NOTHING. COPY takes text in bulk, where binding arrays of timestamps costs Python time."""
    import psycopg.errors

    raw = conn.connection.dbapi_connection
    text = "".join(f"{sid}\t{ts.isoformat()}\t{value!r}\n" for sid, ts, value in rows)
    with raw.cursor() as cur:
        cur.execute("SAVEPOINT twin_readings_copy")
        try:
            with cur.copy("COPY twin_readings (sensor_id, ts, value) FROM STDIN") as copy:
                copy.write(text)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT twin_readings_copy")
        else:
            cur.execute("RELEASE SAVEPOINT twin_readings_copy")
            return len(rows)
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS twin_readings_in "
            "(sensor_id integer, ts timestamptz, value double precision) ON COMMIT DELETE ROWS"
        )
        with cur.copy("COPY twin_readings_in (sensor_id, ts, value) FROM STDIN") as copy:
            copy.write(text)
        cur.execute(
            "INSERT INTO twin_readings (sensor_id, ts, value) SELECT sensor_id, ts, value "
            "FROM twin_readings_in ON CONFLICT (sensor_id, ts) DO NOTHING"
        )
        stored = cur.rowcount
        cur.execute("TRUNCATE twin_readings_in")  # a second batch in this transaction starts empty
    return int(stored)


def dead_letter(session: Session, *, channel: str, rejected: list[Rejected]) -> None:
    if rejected:
        at = now()
        session.execute(
            insert(DeadLetter),
            [
                {
                    "received_at": at,
                    "channel": channel,
                    "topic": escape_controls(r.topic[:300]) if r.topic else r.topic,
                    "payload": escape_controls(r.payload),
                    "reason": escape_controls(r.reason[:300]),
                }
                for r in rejected
            ],
        )


def _keep_plausible(
    kind: str,
    code: str,
    readings: list[Incoming],
    bounds: tuple[float, float, str],
    channel: str,
    rejected: list[Rejected],
) -> list[Incoming]:
    """The readings inside the kind's physical range; the others go to ``rejected`` with the reason (a
    pressure of 1e308 m is a broken sensor or a forged message, not a warning)."""
    lo, hi, unit = bounds
    topic = TOPIC_PREFIX + code if channel == "mqtt" else None
    reason = f"implausible value for {kind}: outside {lo:g}…{hi:g} {unit}"
    for item in readings:
        if not lo <= item.value <= hi:
            payload = json.dumps({"sensor": code, "ts": item.ts.isoformat(), "value": item.value})
            rejected.append(Rejected(reason, payload, topic))
    return [r for r in readings if lo <= r.value <= hi]


class Ingestor:
    """Holds the sensor registry and each sensor's rule state for one process (derived data only:
    sensors and readings in the database are the truth; a new process rebuilds this)."""

    def __init__(self, *, actor: audit.Actor, unknown_ttl_s: float = 30.0) -> None:
        self.actor = actor
        self.sensors: dict[str, SensorInfo] = {}
        self._unknown: dict[str, float] = {}
        self.unknown_ttl_s = unknown_ttl_s

    def reset(self) -> None:
        """Forget cached sensors and states (after a failed transaction)."""
        self.sensors.clear()
        self._unknown.clear()

    def _load(self, session: Session, codes: set[str]) -> None:
        clock = time.monotonic()
        wanted = [
            c for c in codes if c not in self.sensors and self._unknown.get(c, 0) < clock and "\x00" not in c
        ]  # a NUL cannot be in a code (PostgreSQL refuses it in a query): such a sensor is unknown
        if not wanted:
            return
        rules_file = get_settings().twin_rules_file
        path = str(rules_file) if rules_file else None
        stmt = (
            select(Sensor, Unit.path)
            .join(Unit, Sensor.unit_id == Unit.id)
            .where(Sensor.code.in_(wanted), Sensor.active.is_(True))
        )
        for sensor, unit_path in session.execute(stmt):
            session.expunge(sensor)
            self.sensors[sensor.code] = SensorInfo(
                sensor, unit_path, rules_for(sensor.kind, sensor.rules, path)
            )
        for code in wanted:
            if code not in self.sensors:
                self._unknown[code] = clock + self.unknown_ttl_s

    def _prime(self, session: Session, info: SensorInfo, before: datetime) -> None:
        """Rebuild the rule state from stored readings older than this batch."""
        window = max((r.max_window_min for r in info.rules.values()), default=0.0)
        stmt = (
            select(Reading.ts, Reading.value)
            .where(Reading.sensor_id == info.sensor.id, Reading.ts < before)
            .order_by(Reading.ts.desc())
        )
        rows = list(session.execute(stmt.limit(500 if "accumulation" in info.rules else 1)))
        for ts, value in reversed(rows):
            if "accumulation" in info.rules and (before - ts).total_seconds() > window * 60:
                continue
            evaluate(info.rules, info.state, ts, value)
        info.primed = True

    def _prime_all(self, session: Session, unprimed: list[tuple[SensorInfo, datetime]]) -> None:
        """Prime many sensors; on PostgreSQL the ones that need only their last reading in one
        LATERAL query (a restarted ingester meets hundreds of sensors in its first batch, and one
        query each delayed that batch's warnings by seconds)."""
        if len(unprimed) > 1 and is_postgresql(session):
            simple = [(i, b) for i, b in unprimed if "accumulation" not in i.rules]
            last = session.execute(
                text(
                    "SELECT b.sid, r.ts, r.value FROM unnest(CAST(:sids AS bigint[]), "
                    "CAST(:befores AS timestamptz[])) AS b(sid, before) CROSS JOIN LATERAL "
                    "(SELECT ts, value FROM twin_readings WHERE sensor_id = b.sid AND ts < b.before "
                    "ORDER BY ts DESC LIMIT 1) AS r"
                ),
                {"sids": [i.sensor.id for i, _ in simple], "befores": [b for _, b in simple]},
            ).all()
            found = {sid: (ts, value) for sid, ts, value in last}
            for info, _ in simple:
                if info.sensor.id in found:
                    evaluate(info.rules, info.state, *found[info.sensor.id])
                info.primed = True
        for info, before in unprimed:
            if not info.primed:
                self._prime(session, info, before)

    def ingest(
        self, session: Session, items: list[Incoming | Rejected], *, channel: str, scope_path: str = "/"
    ) -> IngestResult:
        """Store a batch and run the rules, in the caller's transaction (the caller commits)."""
        result = IngestResult(received=len(items))
        good = [i for i in items if isinstance(i, Incoming)]
        rejected = [i for i in items if isinstance(i, Rejected)]
        by_code: dict[str, list[Incoming]] = {}
        for item in good:
            group = by_code.get(item.sensor)
            if group is None:
                by_code[item.sensor] = group = []
            group.append(item)
        self._load(session, set(by_code))
        ranges_file = get_settings().twin_ranges_file
        ranges = plausible_ranges(str(ranges_file) if ranges_file else None)
        by_sensor: dict[str, list[Incoming]] = {}
        rows: list[tuple[int, datetime, float]] = []
        unprimed: list[tuple[SensorInfo, datetime]] = []
        for code, readings in by_code.items():
            info = self.sensors.get(code)
            if info is None or not info.unit_path.startswith(scope_path):
                topic = TOPIC_PREFIX + code if channel == "mqtt" else None
                for item in readings:
                    payload = json.dumps({"sensor": code, "ts": item.ts.isoformat(), "value": item.value})
                    rejected.append(Rejected("unknown sensor", payload, topic))
                continue
            bounds = ranges.get(info.sensor.kind)
            if bounds is not None and any(not bounds[0] <= r.value <= bounds[1] for r in readings):
                readings = _keep_plausible(info.sensor.kind, code, readings, bounds, channel, rejected)
                if not readings:
                    continue
            by_sensor[code] = readings
            if not info.primed:
                unprimed.append((info, min(r.ts for r in readings)))
            sid = info.sensor.id
            rows.extend([(sid, r.ts, r.value) for r in readings])
        self._prime_all(session, unprimed)
        result.stored = store_readings(session, rows)
        result.duplicates = len(rows) - result.stored
        dead_letter(session, channel=channel, rejected=rejected)
        result.dead_lettered = len(rejected)
        result.warnings = self._judge(session, by_sensor)
        return result

    def _judge(self, session: Session, by_sensor: dict[str, list[Incoming]]) -> list[int]:
        changed: list[int] = []
        ids = [self.sensors[c].sensor.id for c in by_sensor]
        light = alerts.open_warning_levels(session, sensor_ids=ids)
        open_map: dict[tuple[int, str], TwinWarning] = {}
        for code, readings in by_sensor.items():
            info = self.sensors[code]
            last = info.state.last_ts
            fresh = sorted((r for r in readings if last is None or r.ts > last), key=lambda r: r.ts)
            # Late or repeated readings were stored above but are not judged.
            if not fresh:
                continue
            sid = info.sensor.id
            mine = {c: light[(sid, c)] for c in info.rules if c in JUDGED and (sid, c) in light}
            if all(w.normal_since is None for w in mine.values()) and advance_quietly(
                info.rules,
                info.state,
                [r.ts for r in fresh],
                [r.value for r in fresh],
                {cause: Level(w.level) for cause, w in mine.items()},
            ):
                continue
            if mine:  # this sensor's open warnings as ORM rows, only when something may change
                open_map.update(alerts.open_warnings(session, sensor_ids=[sid]))
            for reading in fresh:
                outcome = evaluate(info.rules, info.state, reading.ts, reading.value)
                for cause, (raise_level, hold_level, measured) in outcome.items():
                    warning = open_map.get((info.sensor.id, cause))
                    if warning is None and raise_level is None:
                        continue
                    rule = info.rules[cause]
                    step = decide(
                        open_level=Level(warning.level) if warning else None,
                        normal_since=warning.normal_since if warning else None,
                        raise_level=raise_level,
                        hold_level=hold_level,
                        ts=reading.ts,
                        resolve_after_min=rule.resolve_after_min,
                    )
                    if step.action == "none":
                        continue
                    done = alerts.apply(
                        session,
                        actor=self.actor,
                        sensor=info.sensor,
                        cause=cause,
                        rule=rule,
                        step=step,
                        warning=warning,
                        value=measured,
                        ts=reading.ts,
                    )
                    if done is not None:
                        changed.append(done.id)
                        if done.status == "open":
                            open_map[(info.sensor.id, cause)] = done
                        else:
                            open_map.pop((info.sensor.id, cause), None)
        return changed
