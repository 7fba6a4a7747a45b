"""Indicators of the case loop (GB/T 30428.4 / CJ/T 292 practice, and the 12345 hotline's "三率").

Every figure is one SQL aggregate over ``cases`` (``COUNT(CASE WHEN … THEN 1 END)`` … ``GROUP BY``), never
a loop over cases in Python. Definitions (also in docs/cases-indicators.md):

- **Which cases**: a case belongs to the period in which it was *reported* (``reported_at``, shown in the
  district's display zone). One date for every indicator, so each rate compares like with like.
- **Merged** cases (合并, duplicates) count only as ``merged``: their parent carries the work, so they are in
  no denominator. **Voided** cases (作废) were never registered: they count in ``reported`` and ``voided``
  and, for 12345 tickets, in the response rate (declining a ticket in time is a response).
- 按时派遣率 = dispatched on time / dispatched: ``dispatched_at ≤ dispatch_due_at`` (the category's dispatch
  deadline per urgency; after a return it is the last dispatch against its own deadline).
- 按期处置率 = handled on time / handled. *Handled* = the unit's last feedback stands (state feedback,
  verified or closed; a case sent back for rework is not handled until it is fed back again). On time =
  ``feedback_at ≤ handle_due_at``: the last handling attempt's deadline, approved extensions included.
- 结案率 = closed / registered (registered = 立案, merged excluded).
- 返工率 = handled cases with at least one failed verification (``rework_count > 0``) / handled.
- 满意率 = (满意 + 基本满意) / rated. 基本满意 counts in full as satisfied (weight 1); unrated cases are in no
  denominator.
- 12345 (``source = 'hotline_12345'``): 响应率 = tickets answered (registered or voided) by their response
  deadline (``register_due_at``) / tickets whose answer is due (answered, or deadline passed);
  解决率 = closed / registered tickets; 满意率 as above, tickets only.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, literal_column, or_, select, true
from sqlalchemy.orm import Session

from cityloop.cases import rollup, routing
from cityloop.cases.models import Case, CaseReturn, CaseRollup
from cityloop.cases.permissions import CASES_INDICATORS
from cityloop.cases.states import ROLE_SCOPE, Scope
from cityloop.core.clock import display_zone, now, to_display
from cityloop.core.errors import Forbidden, NotFound, ValidationFailed
from cityloop.core.permissions import Principal, roles_with
from cityloop.core.validation import in_years

PERIODS = ("day", "week", "month", "custom")
BUCKETS = ("day", "week", "month")
GROUPS = ("unit", "street")
HOTLINE = "hotline_12345"
MAX_BUCKETS = 400
HANDLED_STATES = ("feedback", "verified", "closed")
SATISFIED = ("satisfied", "basically_satisfied")


@dataclass
class Counts:
    """The counts every rate is made of (one SQL aggregate each)."""

    reported: int = 0
    voided: int = 0
    merged: int = 0
    registered: int = 0
    dispatched: int = 0
    dispatched_on_time: int = 0
    dispatched_accurately: int = 0
    handled: int = 0
    handled_on_time: int = 0
    extended: int = 0
    closed: int = 0
    closed_on_time: int = 0
    reworked: int = 0
    rated: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    dissatisfied: int = 0
    hotline: int = 0
    hotline_due: int = 0
    hotline_responded: int = 0
    hotline_registered: int = 0
    hotline_closed: int = 0
    hotline_rated: int = 0
    hotline_satisfied: int = 0

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


COUNT_NAMES = tuple(f.name for f in fields(Counts))
# rate → (numerator, denominator); the order is the order of columns everywhere.
RATES: dict[str, tuple[tuple[str, ...], str]] = {
    "dispatch_on_time": (("dispatched_on_time",), "dispatched"),
    "accurate_dispatch": (("dispatched_accurately",), "dispatched"),
    "handle_on_time": (("handled_on_time",), "handled"),
    "closure": (("closed",), "registered"),
    "close_on_time": (("closed_on_time",), "registered"),
    "rework": (("reworked",), "handled"),
    "extension": (("extended",), "handled"),
    "satisfaction": (("satisfied", "basically_satisfied"), "rated"),
    "hotline_response": (("hotline_responded",), "hotline_due"),
    "hotline_resolution": (("hotline_closed",), "hotline_registered"),
    "hotline_satisfaction": (("hotline_satisfied",), "hotline_rated"),
}


def rates_of(c: Counts) -> dict[str, float | None]:
    """Each rate as a fraction in [0, 1], or None when its denominator is 0."""
    out: dict[str, float | None] = {}
    for name, (num, den) in RATES.items():
        d = getattr(c, den)
        out[name] = (sum(getattr(c, n) for n in num) / d) if d else None
    return out


# --- periods ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Days ``first``..``last`` (inclusive, display zone) and their UTC bounds [start, end)."""

    period: str
    first: date
    last: date
    start: datetime
    end: datetime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=display_zone()).astimezone(UTC)


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _next(day: date, bucket: str) -> date:
    if bucket == "day":
        return day + timedelta(days=1)
    if bucket == "week":
        return day - timedelta(days=day.weekday()) + timedelta(days=7)
    y, m = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(y, m, 1)


def parse_day(text: str | None, *, end: bool = False) -> date | None:
    """``YYYY-MM-DD``, or ``YYYY-MM`` (its first day, or its last with ``end``); None when empty."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    try:
        if not _DAY_OR_MONTH.fullmatch(raw):
            raise ValueError(raw)
        if len(raw) == 7:
            y, m = int(raw[:4]), int(raw[5:7])
            day = date(y, m, calendar.monthrange(y, m)[1] if end else 1)
        else:
            day = date.fromisoformat(raw)
        if not in_years(day):  # a window is widened by weeks and months: stay far from year 1 and 9999
            raise ValueError(raw)
        return day
    except ValueError as exc:
        raise ValidationFailed("cases.indicators.error.date", value=raw[:40]) from exc


_DAY_OR_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}(-[0-9]{2})?")


def window(
    *, period: str = "month", first: str | date | None = None, last: str | date | None = None
) -> Window:
    """The period asked for. Nothing given: the day/week/month containing today (custom: the last 30 days);
    only ``first``: the day/week/month starting there (custom: up to today); only ``last``: the
    day/week/month ending there (custom: the 30 days ending there)."""
    if period not in PERIODS:
        raise ValidationFailed("cases.indicators.error.period", period=period, allowed=", ".join(PERIODS))
    a = first if isinstance(first, date) else parse_day(first)
    b = last if isinstance(last, date) else parse_day(last, end=True)
    if b is None:
        today = to_display(now()).date()  # type: ignore[union-attr]
        if a is None:
            b = today
        elif period == "custom":
            b = max(today, a)
        else:
            b = _next(a, period) - timedelta(days=1)
    if a is None:
        a = b - timedelta(days=29) if period == "custom" else period_start(b, period)
    if b < a:
        raise ValidationFailed("cases.indicators.error.range", first=a.isoformat(), last=b.isoformat())
    return Window(period, a, b, _midnight(a), _midnight(b + timedelta(days=1)))


@dataclass(frozen=True)
class Bucket:
    label: str
    first: date
    last: date
    start: datetime
    end: datetime


def buckets(w: Window, bucket: str) -> list[Bucket]:
    """The window cut at day/week/month boundaries (the first and last pieces may be partial)."""
    if bucket not in BUCKETS:
        raise ValidationFailed("cases.indicators.error.bucket", bucket=bucket, allowed=", ".join(BUCKETS))
    out: list[Bucket] = []
    day = w.first
    while day <= w.last:
        nxt = min(_next(day, bucket), w.last + timedelta(days=1))
        if bucket == "month":
            label = f"{day.year:04d}-{day.month:02d}"
        elif bucket == "week":
            iso = day.isocalendar()
            label = f"{iso.year:04d}-W{iso.week:02d}"
        else:
            label = day.isoformat()
        out.append(Bucket(label, day, nxt - timedelta(days=1), _midnight(day), _midnight(nxt)))
        if len(out) > MAX_BUCKETS:
            raise ValidationFailed("cases.indicators.error.too_many_buckets", limit=MAX_BUCKETS)
        day = nxt
    return out


# --- the aggregate --------------------------------------------------------------------------------------


ONE: ColumnElement[int] = literal_column("1")


def _n(cond: ColumnElement[bool] | Any) -> Any:
    return func.count(case((cond, ONE)))


def count_columns(at: datetime) -> list[Any]:
    """One labelled aggregate per ``Counts`` field (the definitions in the module docstring, as SQL)."""
    kept = Case.state != "merged"
    handled = Case.state.in_(HANDLED_STATES)
    # The case's columns describe its current dispatch; a returned one is a CaseReturn row (``returns``).
    current = and_(Case.dispatched_at.is_not(None), kept, Case.state != "returned")
    # ``handle_late`` holds the last attempt too (its feedback closes a late step; the import and the
    # migration set it from feedback_at > handle_due_at): no second comparison per row.
    handled_on_time = and_(handled, ~Case.handle_late)
    closed_on_time = and_(
        Case.state == "closed",
        ~Case.handle_late,
        ~Case.verify_late,
        Case.registered_at <= Case.register_due_at,
        Case.dispatched_at <= Case.dispatch_due_at,
    )
    hot = and_(Case.source == HOTLINE, kept)
    answered = func.coalesce(Case.registered_at, Case.voided_at)
    registered = and_(Case.registered_at.is_not(None), kept)
    cols: dict[str, Any] = {
        "reported": func.count(),
        "voided": _n(Case.state == "voided"),
        "merged": _n(Case.state == "merged"),
        "registered": _n(registered),
        "dispatched": _n(current),
        "dispatched_on_time": _n(and_(current, Case.dispatched_at <= Case.dispatch_due_at)),
        "dispatched_accurately": _n(current),
        "handled": _n(handled),
        "handled_on_time": _n(handled_on_time),
        "extended": _n(and_(handled, Case.handle_extended)),
        "closed": _n(Case.state == "closed"),
        "closed_on_time": _n(closed_on_time),
        "reworked": _n(and_(handled, Case.rework_count > 0)),
        "rated": func.count(Case.rating),
        "satisfied": _n(Case.rating == "satisfied"),
        "basically_satisfied": _n(Case.rating == "basically_satisfied"),
        "dissatisfied": _n(Case.rating == "dissatisfied"),
        "hotline": _n(hot),
        "hotline_due": _n(and_(hot, (answered.is_not(None)) | (Case.register_due_at <= at))),
        "hotline_responded": _n(and_(hot, answered <= Case.register_due_at)),
        "hotline_registered": _n(and_(hot, Case.registered_at.is_not(None))),
        "hotline_closed": _n(and_(hot, Case.state == "closed")),
        "hotline_rated": _n(and_(hot, Case.rating.is_not(None))),
        "hotline_satisfied": _n(and_(hot, Case.rating.in_(SATISFIED))),
    }
    assert tuple(cols) == COUNT_NAMES
    return [v.label(k) for k, v in cols.items()]


def _counts(row: Any, offset: int) -> Counts:
    return Counts(*(int(v or 0) for v in row[offset : offset + len(COUNT_NAMES)]))


def _subtree(a: routing.Areas, path: str) -> list[int]:
    return sorted(r.id for r in a.by_id.values() if r.path.startswith(path))


def scope_units(session: Session, principal: Principal | None, unit: str | None) -> list[list[int]]:
    """The responsible units a caller may count, as id lists that all must hold (empty: everything).
    District-wide roles: everything; a unit's staff: their subtree; ``unit`` narrows to that unit's
    subtree (it must lie in the caller's)."""
    a = routing.areas(session)
    out: list[list[int]] = []
    if principal is not None:
        if principal.role not in roles_with(CASES_INDICATORS):
            raise Forbidden("cases.indicators.error.role", role=principal.role.value)
        if ROLE_SCOPE[principal.role] is not Scope.district:
            out.append(_subtree(a, principal.scope_path))
    if unit:
        ref = a.by_code.get(unit)
        if ref is None or (principal is not None and not principal.sees_path(ref.path)):
            raise NotFound("cases.indicators.error.unit", unit=unit)
        out.append(_subtree(a, ref.path))
    return out


def units_clause(units: list[list[int]], column: Any = Case.unit_id) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = true()
    for ids in units:
        clause = and_(clause, column.in_(ids))
    return clause


def scope_clause(session: Session, principal: Principal | None, unit: str | None) -> ColumnElement[bool]:
    """``scope_units`` as a condition on ``cases.unit_id``."""
    return units_clause(scope_units(session, principal, unit))


@dataclass
class Row:
    """One group (a responsible unit, a street/town, the total or a trend bucket) and its counts."""

    key: str | None  # unit/street code; None = not yet dispatched / not located; "total" for the total
    name: str
    kind: str | None
    counts: Counts = field(default_factory=Counts)

    @property
    def rates(self) -> dict[str, float | None]:
        return rates_of(self.counts)


@dataclass
class Result:
    window: Window
    group_by: str
    rows: list[Row]
    total: Row
    trend_bucket: str
    trend: list[tuple[Bucket, Counts]]
    computed_at: datetime


def _spans(column: Any, ranges: tuple[tuple[datetime, datetime], ...]) -> ColumnElement[bool]:
    return or_(*(and_(column >= a, column < b) for a, b in ranges))


def _base(
    w: Window,
    clause: ColumnElement[bool],
    *lead: Any,
    ranges: tuple[tuple[datetime, datetime], ...] | None = None,
) -> Select[Any]:
    at = now()
    spans = ranges if ranges is not None else ((w.start, w.end),)
    return select(*lead, *count_columns(at)).where(_spans(Case.reported_at, spans)).where(clause)


def returns_query(
    ranges: tuple[tuple[datetime, datetime], ...], units: list[list[int]], *lead: Any
) -> Select[Any]:
    """``SELECT lead…, dispatched, dispatched_on_time`` over the dispatches units returned (退回), each
    counted for the unit that returned it, in the period its case was reported in (merged cases: none)."""
    return (
        select(*lead, func.count().label("dispatched"), _n(CaseReturn.dispatched_on_time).label("on_time"))
        .select_from(CaseReturn)
        .join(Case, Case.id == CaseReturn.case_id)
        .where(_spans(CaseReturn.reported_at, ranges), Case.state != "merged")
        .where(units_clause(units, CaseReturn.unit_id))
    )


def returned_counts(row: Any, offset: int) -> Counts:
    """What returned dispatches add: dispatches (on time or not), none of them accurate."""
    return Counts(dispatched=int(row[offset] or 0), dispatched_on_time=int(row[offset + 1] or 0))


def _split(session: Session, w: Window, rollups: bool) -> rollup.Split:
    if not rollups:
        return rollup.Split((), ((w.start, w.end),))
    return rollup.split(session, w.first, w.last, w.start, w.end)


def _check_group(group_by: str) -> None:
    if group_by not in GROUPS:
        raise ValidationFailed(
            "cases.indicators.error.group_by", group_by=group_by, allowed=", ".join(GROUPS)
        )


def grouped_many(
    session: Session,
    *,
    w: Window,
    units: list[list[int]],
    group_bys: tuple[str, ...],
    rollups: bool = True,
) -> dict[str, list[Row]]:
    """Counts per responsible unit (``unit``) and/or per street/town of the case's place (``street``),
    for the cases whose unit lies in every list of ``units`` (``scope_units``; empty: all).

    One scan whatever the number of groupings: the query groups by every asked key together and the
    (few hundred) combinations are summed per grouping here. With ``rollups``, whole past months come
    from the roll-ups (cases/rollup.py) and only the rest is scanned; without, everything is live."""
    for g in group_bys:
        _check_group(g)
    clause = units_clause(units)
    cols = {"unit": Case.unit_id, "street": Case.street_id}
    # ``+ 0``: a plain column lets SQLite's planner walk the (unit_id, reported_at) index to skip the sort
    # and then read every row from the table; the covering index ix_cases_indicators is twice as fast.
    keys = [(cols[g] + 0).label(f"grp_{g}") for g in group_bys]
    sums: dict[str, dict[int | None, Counts]] = {g: {} for g in group_bys}
    n = len(keys)
    part = _split(session, w, rollups)
    found: list[tuple[Any, Counts]] = []
    if part.live:
        for r in session.execute(_base(w, clause, *keys, ranges=part.live).group_by(*keys)):
            found.append((r, _counts(r, n)))
        rcols = {"unit": CaseReturn.unit_id, "street": Case.street_id}
        rkeys = [rcols[g] for g in group_bys]
        for r in session.execute(returns_query(part.live, units, *rkeys).group_by(*rkeys)):
            found.append((r, returned_counts(r, n)))
    if part.months:
        mcols = {"unit": CaseRollup.unit_id, "street": CaseRollup.street_id}
        mkeys = [mcols[g] for g in group_bys]
        stmt = rollup.summed(session, part.months, *mkeys).where(units_clause(units, CaseRollup.unit_id))
        for r in session.execute(stmt.group_by(*mkeys)):
            found.append((r, _counts(r, n)))
    for r, counts in found:
        for i, g in enumerate(group_bys):
            sums[g].setdefault(r[i], Counts()).add(counts)
    a = routing.areas(session)
    out: dict[str, list[Row]] = {}
    for g, by_id in sums.items():
        rows = []
        for ident, counts in by_id.items():
            ref = a.by_id.get(ident) if ident is not None else None
            rows.append(Row(ref.code, ref.name, ref.kind, counts) if ref else Row(None, "", None, counts))
        rows.sort(key=lambda x: (x.key is None, x.key or ""))
        out[g] = rows
    return out


def grouped(session: Session, *, w: Window, units: list[list[int]], group_by: str) -> list[Row]:
    """Counts per responsible unit (``unit``) or per street/town of the case's place (``street``)."""
    return grouped_many(session, w=w, units=units, group_bys=(group_by,))[group_by]


def trend(
    session: Session,
    *,
    w: Window,
    units: list[list[int]],
    bucket: str,
    rollups: bool = True,
) -> list[tuple[Bucket, Counts]]:
    """Total counts per day/week/month of the window: one query, grouped by a CASE over the boundaries.
    Monthly buckets (with ``rollups``) read whole past months from the roll-ups."""
    parts = buckets(w, bucket)
    part = _split(session, w, rollups and bucket == "month")
    clause = units_clause(units)
    found: dict[int, Counts] = {}

    def which(column: Any) -> Any:
        return case(
            *((column < p.end, literal(i)) for i, p in enumerate(parts[:-1])),
            else_=len(parts) - 1,
        )

    if part.live and len(parts) == 1:
        found[0] = _counts(session.execute(_base(w, clause, ranges=part.live)).one(), 0)
        found[0].add(returned_counts(session.execute(returns_query(part.live, units)).one(), 0))
    elif part.live:
        at = which(Case.reported_at)
        for r in session.execute(_base(w, clause, at, ranges=part.live).group_by(at)):
            found.setdefault(int(r[0]), Counts()).add(_counts(r, 1))
        back = which(CaseReturn.reported_at)
        for r in session.execute(returns_query(part.live, units, back).group_by(back)):
            found.setdefault(int(r[0]), Counts()).add(returned_counts(r, 1))
    if part.months:
        index = {p.first: i for i, p in enumerate(parts)}
        stmt = rollup.summed(session, part.months, CaseRollup.month).where(
            units_clause(units, CaseRollup.unit_id)
        )
        for r in session.execute(stmt.group_by(CaseRollup.month)):
            found.setdefault(index[r[0]], Counts()).add(_counts(r, 1))
    return [(p, found.get(i, Counts())) for i, p in enumerate(parts)]


def compute_many(
    session: Session,
    *,
    principal: Principal | None,
    w: Window,
    group_bys: tuple[str, ...] = GROUPS,
    unit: str | None = None,
    trend_bucket: str | None = None,
    with_trend: bool = True,
) -> dict[str, Result]:
    """Indicators per group for the window, the total (the groups summed) and a trend per bucket, for
    each grouping asked (one scan for all of them, one more for a trend of several steps)."""
    units = scope_units(session, principal, unit)
    by = grouped_many(session, w=w, units=units, group_bys=group_bys)
    bucket = trend_bucket or ("month" if w.period == "custom" else w.period)
    total = Row("total", "", None)
    for r in by[group_bys[0]]:
        total.counts.add(r.counts)
    series: list[tuple[Bucket, Counts]] = []
    if with_trend:
        parts = buckets(w, bucket)
        if len(parts) == 1:  # one step is the whole window: the total is the trend, no second scan
            series = [(parts[0], replace(total.counts))]
        else:
            series = trend(session, w=w, units=units, bucket=bucket)
    at = now()
    return {
        g: Result(
            window=w,
            group_by=g,
            rows=rows,
            total=Row("total", "", None, replace(total.counts)),
            trend_bucket=bucket,
            trend=series,
            computed_at=at,
        )
        for g, rows in by.items()
    }


def compute(
    session: Session,
    *,
    principal: Principal | None,
    w: Window,
    group_by: str = "unit",
    unit: str | None = None,
    trend_bucket: str | None = None,
    with_trend: bool = True,
) -> Result:
    """Indicators per ``group_by`` for the window, the total (the groups summed) and a trend per bucket."""
    return compute_many(
        session,
        principal=principal,
        w=w,
        group_bys=(group_by,),
        unit=unit,
        trend_bucket=trend_bucket,
        with_trend=with_trend,
    )[group_by]


def months_back(last: date, months: int = 12) -> Window:
    """The ``months`` calendar months ending with the one containing ``last`` (the dashboard's trend)."""
    y, m = last.year, last.month - (months - 1)
    while m < 1:
        y, m = y - 1, m + 12
    return window(period="month", first=date(y, m, 1), last=last)


# --- output ---------------------------------------------------------------------------------------------


def row_dict(r: Row) -> dict[str, Any]:
    return {
        "key": r.key,
        "name": r.name,
        "kind": r.kind,
        "counts": {k: getattr(r.counts, k) for k in COUNT_NAMES},
        "rates": {k: (round(v, 4) if v is not None else None) for k, v in r.rates.items()},
    }


def to_dict(res: Result) -> dict[str, Any]:
    w = res.window
    return {
        "period": w.period,
        "from": w.first.isoformat(),
        "to": w.last.isoformat(),
        "group_by": res.group_by,
        "date_basis": "reported_at",
        "computed_at": res.computed_at.isoformat(),
        "rates": {k: {"numerator": list(num), "denominator": den} for k, (num, den) in RATES.items()},
        "rows": [row_dict(r) for r in res.rows],
        "total": row_dict(res.total),
        "trend_bucket": res.trend_bucket,
        "trend": trend_dicts(res.trend),
    }


def trend_dicts(trend: list[tuple[Bucket, Counts]]) -> list[dict[str, Any]]:
    return [
        {
            "label": b.label,
            "from": b.first.isoformat(),
            "to": b.last.isoformat(),
            **row_dict(Row(b.label, b.label, None, c)),
        }
        for b, c in trend
    ]
