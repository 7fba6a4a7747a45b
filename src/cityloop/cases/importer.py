"""Bulk load of cases (history from an old system, benchmarks, the demo month): ≥ 10,000 cases/s.

Rows are checked, located (one vectorised STRtree query per batch), routed in memory and inserted with
multi-row INSERT … RETURNING in batches; each case gets its "imported" timeline event and, when its clock
still runs, its open deadline step. The whole file is one transaction: a bad row anywhere stops the
import with its line number and nothing is saved. One audit record covers the import.

CSV columns: category, lon, lat (WGS84) or address, reported_at (ISO 8601 with zone) are required;
optional: tracking_no, source, urgency, state, description, address, reporter_name, reporter_phone,
unit (code), registered_at, dispatched_at, accepted_at, feedback_at, verified_at, closed_at, voided_at,
rework_count, return_count, extension_count, rating, rated_at.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

import h3
import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cityloop.cases import deadlines, mapcells, rollup, routing
from cityloop.cases.duplicates import H3_RES
from cityloop.cases.models import Case, Category
from cityloop.cases.scope import Actor
from cityloop.cases.service import SCORES, SOURCES, URGENCIES, next_numbers, tracking_no
from cityloop.cases.states import State
from cityloop.core import audit
from cityloop.core.clock import now, to_display
from cityloop.core.db import is_postgresql
from cityloop.core.errors import ValidationFailed
from cityloop.core.validation import YEAR_MAX, YEAR_MIN, clean_lines, parse_int, time_problem

STAMPS = (
    "registered_at",
    "dispatched_at",
    "accepted_at",
    "feedback_at",
    "verified_at",
    "closed_at",
    "voided_at",
)
# The step whose clock runs in each open state, and the timestamp it started from.
RUNNING = {
    State.reported: ("register", "reported_at"),
    State.registered: ("dispatch", "registered_at"),
    State.returned: ("dispatch", "registered_at"),
    State.dispatched: ("handle", "dispatched_at"),
    State.handling: ("handle", "dispatched_at"),
    State.extension_requested: ("handle", "dispatched_at"),
    State.park_requested: ("handle", "dispatched_at"),
    State.feedback: ("verify", "feedback_at"),
}
NEEDS_STAMP = {State.closed: "closed_at", State.voided: "voided_at", State.verified: "verified_at"}


@dataclass
class ImportStats:
    count: int = 0
    seconds: float = 0.0
    ids: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


# Page cache of the import's connection: cases has 15 indexes, and SQLite's default 2 MB cache makes
# nearly every index insert of a large load miss. Kept until the connection closes (the CLI exits).
SQLITE_IMPORT_CACHE_KIB = 256 * 1024


MAX_COUNT = 1_000_000  # a count column (reworks, returns, …) beyond this is a typo, not history
MAX_LISTED = 20  # bad rows named in the error message (all of them are in its details)
DEFER_INDEXES_FROM = 50_000  # rows: from here a SQLite load rebuilds the case indexes at the end


def _bad(line: int, reason: str) -> ValidationFailed:
    return ValidationFailed("cases.error.csv_line", line=line, reason=reason)


def _time(value: Any, line: int, name: str) -> datetime | None:
    """An aware time from ISO 8601 text (or a datetime), normalised to UTC once, here."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.strip() if isinstance(value, str) else str(value))
        except ValueError:
            raise _bad(line, f"{name} is not an ISO 8601 time: {value!r}") from None
    problem = time_problem(parsed)
    if problem == "naive":
        raise _bad(line, f"{name} has no time zone: {value!r}")
    if problem == "range":
        raise _bad(line, f"{name} is outside {YEAR_MIN}–{YEAR_MAX}: {value!r}")
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _int(value: Any, line: int, name: str) -> int:
    if value is None or value == "":
        return 0
    number = value if isinstance(value, int) and not isinstance(value, bool) else parse_int(str(value), lo=0)
    if number is None or not 0 <= number <= MAX_COUNT:
        raise _bad(line, f"{name} is not a whole number from 0 to {MAX_COUNT}: {str(value)[:40]!r}")
    return number


class _Context:
    """What every row needs, loaded once per import."""

    def __init__(self, session: Session) -> None:
        self.areas = routing.areas(session)
        self.rules = routing.all_rules(session)
        self.categories = {c.code: c for c in session.execute(select(Category)).scalars()}
        self.calendar = deadlines.calendar()
        self.now = now()
        self.routes: dict[tuple[int, int | None, int | None], tuple[int | None, str]] = {}
        self.durations: dict[tuple[int, str, str], timedelta] = {}
        self.postgresql = is_postgresql(session)

    def duration(self, cat: Category, urgency: str, step: str) -> timedelta:
        key = (cat.id, urgency, step)
        found = self.durations.get(key)
        if found is None:
            found = self.durations[key] = deadlines.step_duration(cat.deadlines, urgency, step)
        return found

    def route(self, cat: Category, grid_id: int | None, street_id: int | None) -> tuple[int | None, str]:
        # Rows share few (category, grid) pairs: decide each pair once.
        key = (cat.id, grid_id, street_id)
        found = self.routes.get(key)
        if found is None:
            a = self.areas
            street = a.by_id.get(street_id) if street_id else None
            chain = routing.chain_of(a, grid_id, street_id)
            decided = routing.pick(a, self.rules, category=cat, chain=chain, street=street)
            found = self.routes[key] = (decided.unit.id if decided.unit else None), decided.reason
        return found


def _check(ctx: _Context, line: int, raw: dict[str, Any]) -> dict[str, Any]:
    """One row, checked and typed (location still to be resolved)."""
    cat = ctx.categories.get(str(raw.get("category") or "").strip())
    if cat is None:
        raise _bad(line, f"unknown category {raw.get('category')!r}")
    state = str(raw.get("state") or "reported").strip()
    if state not in State._value2member_map_:
        raise _bad(line, f"unknown state {state!r}")
    source = str(raw.get("source") or "web").strip()
    urgency = str(raw.get("urgency") or "normal").strip()
    if source not in SOURCES or urgency not in URGENCIES:
        raise _bad(line, f"unknown source or urgency ({source!r}, {urgency!r})")
    row: dict[str, Any] = {
        "_line": line,
        "_category": cat,
        "state": state,
        "source": source,
        "urgency": urgency,
    }
    lon, lat = raw.get("lon"), raw.get("lat")
    try:
        row["lon"] = float(lon) if lon not in (None, "") else None
        row["lat"] = float(lat) if lat not in (None, "") else None
    except (TypeError, ValueError):
        raise _bad(line, f"coordinates are not numbers ({lon!r}, {lat!r})") from None
    description = str(raw.get("description") or "")
    if len(description) > 4000:
        raise _bad(line, "description longer than 4000 characters")
    row["description"] = description
    row["address"] = str(raw.get("address") or "").strip()[:300] or None
    if row["lon"] is None and not row["address"]:
        raise _bad(line, "neither coordinates nor an address")
    reported = _time(raw.get("reported_at"), line, "reported_at")
    if reported is None:
        raise _bad(line, "reported_at is required")
    row["reported_at"] = reported
    previous = reported
    for name in STAMPS:
        stamp = _time(raw.get(name), line, name)
        if stamp is not None and name != "voided_at" and stamp < previous:
            raise _bad(line, f"{name} is earlier than the step before it")
        row[name] = stamp
        previous = stamp or previous
    needed = NEEDS_STAMP.get(State(state))
    if needed and row[needed] is None:
        raise _bad(line, f"state {state} needs {needed}")
    for name in ("rework_count", "return_count", "extension_count"):
        row[name] = _int(raw.get(name), line, name)
    rating = str(raw.get("rating") or "").strip()
    if rating and rating not in SCORES:
        raise _bad(line, f"unknown rating {rating!r}")
    row["rating"] = rating or None
    row["rated_at"] = _time(raw.get("rated_at"), line, "rated_at") or row.get("closed_at")
    for name in ("tracking_no", "reporter_name", "reporter_phone", "unit", "source_ref"):
        value = str(raw.get(name) or "").strip()
        row[name] = value or None
    row["reporter_user_id"] = raw.get("reporter_user_id")
    return row


def _due(ctx: _Context, cat: Category, urgency: str, step: str, start: datetime | None) -> datetime | None:
    if start is None:
        return None
    duration = ctx.duration(cat, urgency, step)
    working = cat.working_hours and urgency != "emergency" and ctx.calendar.active
    return ctx.calendar.add(start, duration) if working else start + duration


def _locate(session: Session, ctx: _Context, rows: list[dict[str, Any]]) -> None:
    placed = [r for r in rows if r["lon"] is not None]
    if not placed:
        return
    lons = np.array([r["lon"] for r in placed], dtype=float)
    lats = np.array([r["lat"] for r in placed], dtype=float)
    if not (np.all(np.isfinite(lons)) and np.all(np.isfinite(lats))):
        bad = next(r for r in placed if not (np.isfinite(r["lon"]) and np.isfinite(r["lat"])))
        raise _bad(bad["_line"], "coordinates are not finite numbers")
    grids, streets, inside = routing.locate_many(session, lons, lats)
    cells = mapcells.cells_of(lons, lats)
    for r, g, s, ok, mc in zip(placed, grids, streets, inside, cells, strict=True):
        if not ok:
            r["_error"] = _bad(r["_line"], f"({r['lon']}, {r['lat']}) lies outside the district")
            continue
        r["grid_id"], r["street_id"], r["map_cell"] = g, s, mc
        r["h3_cell"] = h3.latlng_to_cell(r["lat"], r["lon"], H3_RES)


def _finish(ctx: _Context, r: dict[str, Any]) -> None:
    """Routing, deadlines and the running step of one located row."""
    cat: Category = r["_category"]
    a = ctx.areas
    grid_id, street_id = r.get("grid_id"), r.get("street_id")
    if r["unit"]:
        ref = a.by_code.get(r["unit"])
        if ref is None:
            raise _bad(r["_line"], f"unknown unit {r['unit']!r}")
        r["unit_id"], r["routing_reason"] = ref.id, "import"
    else:
        r["unit_id"], r["routing_reason"] = ctx.route(cat, grid_id, street_id)
    u = r["urgency"]
    r["register_due_at"] = _due(ctx, cat, u, "register", r["reported_at"])
    r["dispatch_due_at"] = _due(ctx, cat, u, "dispatch", r["registered_at"])
    r["handle_due_at"] = _due(ctx, cat, u, "handle", r["dispatched_at"])
    # History knows only the last attempt of each step: judge that one (cases/indicators.py).
    fed, verified = r["feedback_at"], r["verified_at"]
    r["handle_late"] = bool(fed and r["handle_due_at"] and fed > r["handle_due_at"])
    verify_due = _due(ctx, cat, u, "verify", fed)
    r["verify_late"] = bool(verified and verify_due and verified > verify_due)
    r["handle_extended"] = r["extension_count"] > 0
    running = RUNNING.get(State(r["state"]))
    r["_step"] = None
    r["due_at"] = None
    if running is not None:
        step, stamp = running
        start = r[stamp] or r["reported_at"]
        duration = ctx.duration(cat, u, step)
        working = cat.working_hours and u != "emergency"
        d = deadlines.compute(
            start=start, duration=duration, working_hours=working, urgency=u, cal=ctx.calendar
        )
        r["due_at"] = d.due_at
        # History does not re-send notices whose moment passed before the import.
        passed = {
            k: (ctx.now if point <= ctx.now else None)
            for k, point in (
                ("reminded_at", d.remind_at),
                ("overdue_at", d.due_at),
                ("escalated_at", d.escalate_at),
            )
        }
        r["_step"] = {
            **passed,
            "step": step,
            "unit_id": r["unit_id"] if step == "handle" else None,
            "started_at": start,
            "due_at": d.due_at,
            "remind_at": d.remind_at,
            "escalate_at": d.escalate_at,
            "allowed_minutes": duration.total_seconds() / 60,
            "working_hours": working,
        }


def _number(session: Session, rows: list[dict[str, Any]]) -> None:
    by_year: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        if not r["tracking_no"]:
            shown = to_display(r["reported_at"])
            assert shown is not None
            by_year.setdefault(shown.year, []).append(r)
    for year, group in by_year.items():
        last = next_numbers(session, year=year, count=len(group))
        for i, r in enumerate(group):
            r["tracking_no"] = tracking_no(year, last - len(group) + 1 + i)


_CASE_COLUMNS = (
    "id", "tracking_no", "source", "source_ref", "category_id", "urgency", "state", "lon", "lat", "address",
    "h3_cell", "map_cell", "grid_id", "street_id", "unit_id", "routing_reason", "description", "attributes",
    "reporter_user_id", "reporter_name", "reporter_phone", "parent_id", "possible_duplicate", "rework_count",
    "return_count", "extension_count", "supporters_count", "due_at", "register_due_at", "dispatch_due_at",
    "handle_due_at", "reported_at", "registered_at", "dispatched_at", "accepted_at", "feedback_at",
    "verified_at", "closed_at", "voided_at", "updated_at", "version", "rating", "handle_late",
    "handle_extended", "verify_late",
)  # fmt: skip
_STEP_COLUMNS = (
    "case_id", "step", "unit_id", "started_at", "due_at", "remind_at", "escalate_at", "done_at", "outcome",
    "reminded_at", "overdue_at", "escalated_at", "allowed_minutes", "working_hours",
)  # fmt: skip
_EVENT_COLUMNS = (
    "case_id", "at", "action", "from_state", "to_state", "actor_user_id", "actor_name", "actor_role",
    "unit_id", "public", "note", "public_note", "evidence", "data",
)  # fmt: skip
_RATING_COLUMNS = ("case_id", "score", "comment", "channel", "rated_by", "rated_at")
_TIMES = frozenset(
    {"due_at", "register_due_at", "dispatch_due_at", "handle_due_at", "updated_at", "started_at", "remind_at",
     "escalate_at", "done_at", "reminded_at", "overdue_at", "escalated_at", "at", "rated_at", *STAMPS,
     "reported_at"}
)  # fmt: skip


def _sql(table: str, columns: tuple[str, ...], postgresql: bool) -> str:
    mark = "%s" if postgresql else "?"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def _sqlite_time(v: datetime) -> str:
    # The text SQLAlchemy's SQLite DATETIME writes (naive UTC, always with microseconds), so bulk-loaded
    # rows compare and read back exactly like any other. Times here are UTC already (``_time``).
    # %-formatting: about 4x faster than replace() + isoformat() (a million rows carry ~8 million times).
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond
    )  # fmt: skip


def _tuples(rows: list[dict[str, Any]], columns: tuple[str, ...], postgresql: bool) -> list[tuple[Any, ...]]:
    """Rows as driver tuples; on SQLite the times become text (in place: each row is converted once)."""
    if not postgresql:
        times = [c for c in columns if c in _TIMES]
        for r in rows:
            for c in times:
                v = r[c]
                if v is not None and not isinstance(v, str):
                    r[c] = _sqlite_time(v)
    getter = itemgetter(*columns)
    return [getter(r) for r in rows]


def _write(conn: Any, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]], pg: bool) -> None:
    """Insert ``rows``: COPY on PostgreSQL (psycopg 3 streams them: no statement per row), executemany
    of one prepared INSERT on SQLite."""
    tuples = _tuples(rows, columns, pg)
    if not pg:
        conn.exec_driver_sql(_sql(table, columns, pg), tuples)
        return
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for t in tuples:
                copy.write_row(t)
    finally:
        cursor.close()


def _reserve_ids(session: Session, count: int) -> list[int]:
    """``count`` new case ids: from the id sequence on PostgreSQL; on SQLite, after the current maximum
    (safe: the import's write transaction holds SQLite's only write lock)."""
    if is_postgresql(session):
        stmt = text("SELECT nextval(pg_get_serial_sequence('cases', 'id')) FROM generate_series(1, :n)")
        return [int(i) for i in session.execute(stmt, {"n": count}).scalars()]
    start = int(session.execute(select(func.coalesce(func.max(Case.id), 0))).scalar_one()) + 1
    return list(range(start, start + count))


def _insert(session: Session, ctx: _Context, rows: list[dict[str, Any]], *, events: bool) -> list[int]:
    """Plain executemany through the driver: SQLAlchemy's per-value type handling would cost more than
    the inserts themselves at this volume. Values are converted here, the same way the types would."""
    pg = ctx.postgresql
    conn = session.connection()
    ids = _reserve_ids(session, len(rows))
    for r, i in zip(rows, ids, strict=True):
        last = max((r[s] for s in STAMPS if r.get(s)), default=r["reported_at"])
        r.update(id=i, category_id=r["_category"].id, attributes=None, parent_id=None,
                 possible_duplicate=False, supporters_count=0, updated_at=last, version=1)  # fmt: skip
        for column in ("h3_cell", "map_cell", "grid_id", "street_id"):
            r.setdefault(column, None)
    _write(conn, "cases", _CASE_COLUMNS, rows, pg)
    steps = [{**r["_step"], "case_id": r["id"], "done_at": None, "outcome": None} for r in rows if r["_step"]]
    if steps:
        _write(conn, "case_steps", _STEP_COLUMNS, steps, pg)
    rated = [
        {"case_id": r["id"], "score": r["rating"], "comment": None, "channel": "citizen", "rated_by": None,
         "rated_at": r["rated_at"]}
        for r in rows
        if r["rating"] and r["rated_at"]
    ]  # fmt: skip
    if rated:
        _write(conn, "case_ratings", _RATING_COLUMNS, rated, pg)
    if events:
        made = [
            {"case_id": r["id"], "at": r["reported_at"], "action": "imported", "from_state": None,
             "to_state": r["state"], "actor_user_id": None, "actor_name": "import", "actor_role": "system",
             "unit_id": None, "public": True, "note": None, "public_note": None, "evidence": None,
             "data": json.dumps({"source": r["source"]})}
            for r in rows
        ]  # fmt: skip
        _write(conn, "case_events", _EVENT_COLUMNS, made, pg)
    return ids


def _batches(
    rows: Iterable[tuple[int, dict[str, Any]]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _known_numbers(session: Session, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(numbers), 500):
        part = numbers[i : i + 500]
        found.update(session.execute(select(Case.tracking_no).where(Case.tracking_no.in_(part))).scalars())
    return found


def _too_many_errors(errors: list[ValidationFailed]) -> ValidationFailed:
    if len(errors) == 1:
        return errors[0]
    listed = "; ".join(f"{e.params['line']}: {e.params['reason']}" for e in errors[:MAX_LISTED])
    more = f" (+{len(errors) - MAX_LISTED})" if len(errors) > MAX_LISTED else ""
    details = [{"line": e.params["line"], "problem": e.params["reason"]} for e in errors]
    return ValidationFailed("cases.error.csv_lines", count=len(errors), lines=listed + more, details=details)


def import_rows(
    session: Session,
    *,
    actor: Actor,
    rows: Iterable[tuple[int, dict[str, Any]]],
    label: str = "import",
    batch: int = 5000,
    events: bool = True,
    progress: Callable[[int], None] | None = None,
    expected: int | None = None,
) -> ImportStats:
    """Check, locate, route and insert ``(line, row)`` pairs — all of them or none.

    Every row is checked even after a bad one (nothing more is written then), and the error lists the
    bad rows by line. ``expected`` (the number of rows, when known) lets a large SQLite load build the
    case indexes once at the end instead of row by row (see ``_defer_indexes``).
    """
    started = time.perf_counter()
    ctx = _Context(session)
    stats = ImportStats()
    errors: list[ValidationFailed] = []
    numbers: set[str] = set()
    deferred: list[str] = []
    if not ctx.postgresql:
        # 15 indexes on cases: with SQLite's default 2 MB page cache nearly every index insert misses.
        session.connection().exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")
    if expected is not None:
        deferred = _defer_indexes(session, expected, postgresql=ctx.postgresql)
    for chunk in _batches(rows, batch):
        checked = []
        for line, raw in chunk:
            try:
                checked.append(_check(ctx, line, raw))
            except ValidationFailed as exc:
                errors.append(exc)
        _locate(session, ctx, checked)
        given = [r["tracking_no"] for r in checked if r["tracking_no"]]
        known = _known_numbers(session, given) if given else set()
        good = []
        for r in checked:
            try:
                if "_error" in r:
                    raise r["_error"]
                number = r["tracking_no"]
                if number and (number in known or number in numbers):
                    raise _bad(r["_line"], f"tracking number {number} is already taken")
                if number:
                    numbers.add(number)
                _finish(ctx, r)
                good.append(r)
            except ValidationFailed as exc:
                errors.append(exc)
        if errors:
            continue  # keep checking the rest, so the error names every bad row; write nothing more
        _number(session, good)
        # Their updated_at is historical: the roll-up job would not see them, so their months go dirty.
        rollup.mark_dirty(session, [r["reported_at"] for r in good])
        stats.ids.extend(_insert(session, ctx, good, events=events))
        stats.count += len(good)
        if progress:
            progress(len(good))
    if errors:
        raise _too_many_errors(errors)  # the caller rolls back: nothing of the file is kept
    if deferred:
        for sql in deferred:
            session.connection().exec_driver_sql(sql)
    if stats.count:
        # Fresh planner statistics after a bulk load (cheap, and the queue's plans depend on them).
        for table in ("cases", "case_steps", "case_events", "case_ratings"):
            session.execute(text(f"ANALYZE {table}"))
    stats.seconds = time.perf_counter() - started
    if stats.count:
        # One audit record per import (not per case): its count and id range, and a digest of the ids.
        digest = hashlib.sha256(",".join(map(str, stats.ids)).encode()).hexdigest()
        audit.record(
            session,
            actor=actor,
            action="case.import",
            entity_type="case_import",
            entity_id=label[:60],
            after={
                "count": stats.count,
                "first_id": stats.ids[0],
                "last_id": stats.ids[-1],
                "ids_sha256": digest,
            },
        )
    return stats


def _defer_indexes(session: Session, expected: int, *, postgresql: bool = False) -> list[str]:
    """For a large load, drop the case indexes now and return the statements that rebuild them (run
    after the last row, in the same transaction: all or nothing still holds).

    Building an index once over sorted keys is several times cheaper than growing it row by row, but it
    reads the rows already there too: only worth it when the load is large and at least half as big as
    the table — a district's history loaded into a young database. Unique indexes are rebuilt as well;
    tracking numbers are checked beforehand. On PostgreSQL DROP INDEX locks ``cases`` until the import
    commits, so intake waits for the load: acceptable for that one-off, and why the threshold exists.
    Indexes that back a constraint (the primary key) stay.
    """
    if expected < DEFER_INDEXES_FROM:
        return []
    existing = int(session.execute(select(func.count(Case.id))).scalar_one())
    if expected * 2 < existing:
        return []
    conn = session.connection()
    if postgresql:
        found = conn.exec_driver_sql(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = 'cases' AND t.relnamespace = current_schema()::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ).all()
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    else:
        found = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'cases' AND sql IS NOT NULL"
        ).all()
    for name, _sql_text in found:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    rebuild = [sql_text for _name, sql_text in found]
    if postgresql:
        # PostgreSQL checks each foreign key of each row with a query of its own (six per case: most of
        # a large load's server time); re-adding the constraints at the end validates every row in one
        # join per key instead. Same transaction, so a bad row still fails the whole load. The
        # referenced tables (units, users, categories) refuse writes until the load commits.
        keys = conn.exec_driver_sql(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'cases'::regclass AND contype = 'f'"
        ).all()
        for name, _definition in keys:
            conn.exec_driver_sql(f'ALTER TABLE cases DROP CONSTRAINT "{name}"')
        rebuild += [f'ALTER TABLE cases ADD CONSTRAINT "{name}" {definition}' for name, definition in keys]
    return rebuild


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(clean_lines(fh))
        missing = {"category", "reported_at"} - set(reader.fieldnames or [])
        if missing:
            raise ValidationFailed("cases.error.csv_columns", columns=", ".join(sorted(missing)))
        yield from enumerate(reader, start=2)
