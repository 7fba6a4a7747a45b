"""Exact monthly roll-ups of the case indicators, so a year of indicators reads a few thousand rows.

``case_rollups`` holds, per month of ``reported_at`` (display zone), responsible unit and street/town, the
very ``Counts`` that cases/indicators.py sums, computed by the same SQL (``count_columns``). The worker job
``cases.rollup`` (cases/jobs.py, every 60 s) recomputes only the months holding a case changed since its
watermark (``cases.updated_at``), one transaction per month (delete + insert), then moves the watermark.

Readers (:func:`split`) serve a month from the roll-ups only when that is exact *now*:

- the month lies wholly inside the asked window and is over (its end is past);
- it was rolled up, is not marked dirty (an import writes cases whose ``updated_at`` is historical, so the
  importer marks their months dirty), and no case reported in it changed after the watermark;
- its 12345 tickets still unanswered when it was rolled up are all due by now (``pending_until``): the
  response rate's denominator counts a ticket once its deadline passes, without the case changing.

Everything else in the window (partial months, the current month, stale months) is computed live, so a
result is always identical to the live computation. The watermark trails the job's start by ``LAG`` so a
transaction still open while the job scans is caught on the next run (and counted live until then).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal_column, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from cityloop.cases.models import Case, CaseReturn, CaseRollup, CaseRollupMark, CaseRollupMonth
from cityloop.core.clock import display_zone, now, to_display

MARK = "cases.rollup"
LAG = timedelta(minutes=2)  # longer than any transaction that writes cases
STALE_LIMIT = 20000  # more cases changed since the watermark than this: compute the window live


def month_of(at: datetime) -> date:
    d = to_display(at)
    assert d is not None
    return date(d.year, d.month, 1)


def next_month(m: date) -> date:
    return date(m.year + 1, 1, 1) if m.month == 12 else date(m.year, m.month + 1, 1)


def bounds(m: date) -> tuple[datetime, datetime]:
    """UTC [start, end) of month ``m`` in the display zone."""
    zone = display_zone()
    start = datetime.combine(m, time(0), tzinfo=zone).astimezone(UTC)
    return start, datetime.combine(next_month(m), time(0), tzinfo=zone).astimezone(UTC)


def watermark(session: Session) -> datetime | None:
    return session.execute(select(CaseRollupMark.at).where(CaseRollupMark.name == MARK)).scalar()


# --- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """A window cut into months served from the roll-ups and UTC ranges [start, end) computed live."""

    months: tuple[date, ...]
    live: tuple[tuple[datetime, datetime], ...]


def split(session: Session, first: date, last: date, start: datetime, end: datetime) -> Split:
    """Which months of the window ``first``..``last`` (UTC ``start``..``end``) the roll-ups answer exactly."""
    at = now()
    whole: list[date] = []
    m = first if first.day == 1 else next_month(first)
    while next_month(m) - timedelta(days=1) <= last and bounds(m)[1] <= at:
        whole.append(m)
        m = next_month(m)
    mark = watermark(session) if whole else None
    if mark is None:
        return Split((), ((start, end),))
    rows = session.execute(
        select(CaseRollupMonth).where(CaseRollupMonth.month.in_(whole), CaseRollupMonth.dirty_at.is_(None))
    ).scalars()
    ok = {r.month for r in rows if r.rolled_at <= at and (r.pending_until is None or r.pending_until <= at)}
    if ok:
        # Only the updated_at condition, so every planner walks ix_cases_updated_at (the few cases changed
        # in the last minutes), never a month of reported_at.
        changed = session.execute(
            select(Case.reported_at).where(Case.updated_at > mark).limit(STALE_LIMIT + 1)
        ).scalars()
        stale = [month_of(r) for r in changed]
        if len(stale) > STALE_LIMIT:
            return Split((), ((start, end),))
        ok -= set(stale)
    served = tuple(sorted(ok))
    live: list[tuple[datetime, datetime]] = []
    cursor = start
    for s, e in (bounds(x) for x in served):
        if s > cursor:
            live.append((cursor, s))
        cursor = e
    if cursor < end:
        live.append((cursor, end))
    return Split(served, tuple(live))


def summed(session: Session, months: Iterable[date], *lead: Any) -> Any:
    """``SELECT lead…, SUM(count)… FROM case_rollups`` over ``months`` (the caller adds WHERE/GROUP BY).
    ``hotline_due`` includes the pending tickets: a month is served only once they are all due."""
    from cityloop.cases.indicators import COUNT_NAMES

    t = CaseRollup
    cols = []
    for name in COUNT_NAMES:
        col = getattr(t, name)
        if name == "hotline_due":
            col = col + t.hotline_pending
        cols.append(func.sum(col).label(name))
    return select(*lead, *cols).where(t.month.in_(list(months)))


# --- the job ----------------------------------------------------------------------------------------------


def _roll_month(session: Session, m: date) -> int:
    """Recompute month ``m`` (delete + insert); the caller commits. Returns the rows written."""
    from cityloop.cases.indicators import COUNT_NAMES, count_columns, returned_counts, returns_query

    at = now()
    start, end = bounds(m)
    hot_open = and_(
        Case.source == "hotline_12345",
        Case.state != "merged",
        Case.registered_at.is_(None),
        Case.voided_at.is_(None),
        Case.register_due_at > at,
    )
    pending_n = func.count(sql_case((hot_open, literal_column("1"))))
    pending_max = func.max(sql_case((hot_open, Case.register_due_at)))
    keys = (Case.unit_id + 0, Case.street_id + 0)
    stmt = (
        select(*keys, *count_columns(at), pending_n, pending_max)
        .where(Case.reported_at >= start, Case.reported_at < end)
        .group_by(*keys)
    )
    rows: dict[tuple[int | None, int | None], dict[str, Any]] = {}
    until: datetime | None = None
    n = len(COUNT_NAMES)
    for r in session.execute(stmt):
        row = {"month": m, "unit_id": r[0], "street_id": r[1], "hotline_pending": int(r[2 + n] or 0)}
        row.update({k: int(v or 0) for k, v in zip(COUNT_NAMES, r[2 : 2 + n], strict=True)})
        rows[(r[0], r[1])] = row
        last = r[3 + n]
        if last is not None:
            if isinstance(last, str):  # SQLite's MAX over a CASE loses the column type
                last = datetime.fromisoformat(last)
            if last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            until = last if until is None or last > until else until
    # Dispatches returned by their unit count for that unit (the live formula's second query).
    rkeys = (CaseReturn.unit_id + 0, Case.street_id + 0)
    for r in session.execute(returns_query(((start, end),), [], *rkeys).group_by(*rkeys)):
        into = rows.get((r[0], r[1]))
        if into is None:
            into = rows[(r[0], r[1])] = {"month": m, "unit_id": r[0], "street_id": r[1], "hotline_pending": 0}
            into.update({k: 0 for k in COUNT_NAMES})
        extra = returned_counts(r, 2)
        for k in COUNT_NAMES:
            into[k] += getattr(extra, k)
    session.execute(delete(CaseRollup).where(CaseRollup.month == m))
    if rows:
        session.execute(insert(CaseRollup), list(rows.values()))
    existing = session.get(CaseRollupMonth, m)
    if existing is None:
        session.add(CaseRollupMonth(month=m, rolled_at=at, dirty_at=None, pending_until=until))
    else:
        existing.rolled_at, existing.pending_until = at, until
        session.flush()
        session.execute(
            update(CaseRollupMonth)
            .where(CaseRollupMonth.month == m, CaseRollupMonth.dirty_at <= at)
            .values(dirty_at=None)
        )
    return len(rows)


def months_to_roll(session: Session, mark: datetime | None) -> set[date]:
    """Months holding a case changed after ``mark`` (every month with cases when there is no mark yet),
    and the months marked dirty."""
    months: set[date] = set()
    if mark is None:
        lo, hi = session.execute(select(func.min(Case.reported_at), func.max(Case.reported_at))).one()
        if lo is not None:
            m, last = month_of(lo), month_of(hi)
            while m <= last:
                months.add(m)
                m = next_month(m)
    else:
        changed = session.execute(select(Case.reported_at).where(Case.updated_at > mark)).scalars()
        months.update(month_of(r) for r in changed)
    dirty = select(CaseRollupMonth.month).where(CaseRollupMonth.dirty_at.is_not(None))
    months.update(session.execute(dirty).scalars())
    return months


def refresh(session: Session, *, full: bool = False) -> int:
    """The job: roll up the months changed since the watermark, one committed transaction each, then
    move the watermark to the job's start minus ``LAG``. Returns the number of months recomputed."""
    started = now()
    mark = None if full else watermark(session)
    months = sorted(months_to_roll(session, mark))
    session.commit()
    for m in months:
        _roll_month(session, m)
        session.commit()
    new_mark = started - LAG
    row = session.get(CaseRollupMark, MARK)
    if row is None:
        session.add(CaseRollupMark(name=MARK, at=new_mark))
    elif mark is None or new_mark > row.at:
        row.at = new_mark
    session.commit()
    return len(months)


def mark_dirty(session: Session, reported: Iterable[datetime]) -> None:
    """Cases written with a historical ``updated_at`` (imports): their months must be recomputed."""
    at = now()
    for m in sorted({month_of(r) for r in reported}):
        existing = session.get(CaseRollupMonth, m)
        if existing is None:
            session.add(CaseRollupMonth(month=m, rolled_at=at, dirty_at=at, pending_until=None))
        else:
            existing.dirty_at = at
    session.flush()
