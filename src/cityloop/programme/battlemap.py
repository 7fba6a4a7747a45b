"""挂图作战: the compact data behind the battle map, its Gantt timeline and its progress charts.

The map endpoint sends rows, not objects ("fields" names the columns once): 2,000 tasks are a few
hundred kilobytes and one indexed query, so the page can refetch on every filter change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import Integer, String, Table, case, func, literal_column, select
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from cityloop.core.db import is_postgresql
from cityloop.core.errors import ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.org.models import Person, Unit
from cityloop.programme import permissions as perm
from cityloop.programme import service
from cityloop.programme.models import Action, Milestone, Programme, Status, Task
from cityloop.programme.service import TaskQuery

SEVERITY = {Status.red: 0, Status.yellow: 1, Status.green: 2, Status.done: 3}
TASKS = cast(Table, Task.__table__)


def _round(coords: Any) -> Any:
    if isinstance(coords, list | tuple):
        if coords and isinstance(coords[0], int | float):
            return [round(float(c), 5) for c in coords[:2]]
        return [_round(c) for c in coords]
    return coords


@dataclass
class Viewport:
    """What part of the map the page shows: a bounding box (lon/lat degrees) and the cluster cell."""

    bbox: tuple[float, float, float, float] | None = None
    cell: float = 0.02  # degrees; the page sends about 60 screen pixels' worth for its zoom
    max_points: int = 3000  # above this many tasks in view, clusters are sent instead of points

    @classmethod
    def parse(cls, bbox: str | None, cell: float | None, max_points: int | None) -> Viewport:
        box = None
        if bbox:
            try:
                w, s, e, n = (float(v) for v in bbox.split(","))
            except ValueError:
                raise ValidationFailed("error.programme.bbox_invalid", field="bbox") from None
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValidationFailed("error.programme.bbox_invalid", field="bbox")
            box = (w, s, e, n)
        return cls(box, max(cell or 0.02, 1e-5), max_points or 3000)


def map_data(
    session: Session,
    *,
    principal: Principal,
    query: TaskQuery,
    shapes: bool = True,
    view: Viewport | None = None,
) -> dict[str, Any]:
    """The tasks with a place under the filters. Up to ``max_points`` of them come column by
    column (``mode`` "tasks"); more than that in view come as clusters per grid cell with their
    counts by status (``mode`` "clusters"), so the page stays readable and the answer small.

    Coordinates are integers of 1e-5 degree (about a metre). Names are not sent: a popup asks for
    the one task it shows."""
    principal.require(perm.READ)
    view = view or Viewport()
    t = TASKS
    conds = [t.c.lon.is_not(None), *service.task_conditions(principal, query)]
    if view.bbox:
        w, s_, e, n = view.bbox
        conds += [t.c.lon >= w, t.c.lon <= e, t.c.lat >= s_, t.c.lat <= n]
    conn = session.connection()
    total = conn.execute(select(func.count()).select_from(t).where(*conds)).scalar() or 0
    if total > view.max_points:
        return _clusters(session, conds, total, view.cell)
    stmt = select(
        t.c.id,
        t.c.action_id,
        t.c.responsible_unit_id,
        t.c.status,
        t.c.place_kind,
        t.c.lon,
        t.c.lat,
        t.c.progress_pct,
    ).where(*conds)
    rows = conn.execute(stmt.order_by(t.c.id)).all()
    cols: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(8)]
    data: dict[str, Any] = {
        "mode": "tasks",
        "count": len(rows),
        "columns": {
            "id": cols[0],
            "action": cols[1],
            "unit": cols[2],
            "status": cols[3],
            "kind": cols[4],
            "lon_e5": [round(v * 1e5) for v in cols[5]],
            "lat_e5": [round(v * 1e5) for v in cols[6]],
            "pct": [round(v) for v in cols[7]],
        },
    }
    if shapes:
        data["shapes"] = _shapes(session, [r[0] for r in rows if r[4] and r[4] != "Point"])
    return data


def _clusters(session: Session, conds: list[Any], total: int, cell: float) -> dict[str, Any]:
    t = TASKS
    gx: Any
    gy: Any
    if is_postgresql(session):
        gx, gy = func.floor((t.c.lon + 180) / cell), func.floor((t.c.lat + 90) / cell)
    else:  # shifted to be positive, so truncation is the floor
        gx, gy = cast_((t.c.lon + 180) / cell, Integer), cast_((t.c.lat + 90) / cell, Integer)
    counts = [func.sum(case((t.c.status == s.value, 1), else_=0)) for s in Status]
    stmt = select(func.count(), func.avg(t.c.lon), func.avg(t.c.lat), *counts).where(*conds).group_by(gx, gy)
    rows = session.connection().execute(stmt).all()
    out: dict[str, list[Any]] = {"n": [], "lon_e5": [], "lat_e5": [], **{s.value: [] for s in Status}}
    for n, lon, lat, *by_status in rows:
        out["n"].append(int(n))
        out["lon_e5"].append(round(float(lon) * 1e5))
        out["lat_e5"].append(round(float(lat) * 1e5))
        for s, k in zip(Status, by_status, strict=True):
            out[s.value].append(int(k or 0))
    return {"mode": "clusters", "count": total, "cell": cell, "clusters": out}


def _shapes(session: Session, ids: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for chunk in range(0, len(ids), 5000):
        part = ids[chunk : chunk + 5000]
        for tid, place in session.execute(select(Task.id, Task.place).where(Task.id.in_(part))):
            if place:
                out[str(tid)] = {"type": place["type"], "coordinates": _round(place["coordinates"])}
    return out


def legend(session: Session, *, programme: Programme, principal: Principal) -> dict[str, Any]:
    """Names for the ids in the map rows: actions, and the units that carry tasks in scope."""
    actions = service.list_actions(session, programme=programme)
    stmt = select(Unit.id, Unit.code, Unit.name, Unit.kind).where(
        Unit.id.in_(select(Task.responsible_unit_id).where(Task.programme_id == programme.id))
    )
    scope = perm.task_filter(principal)
    if scope is not None:
        stmt = stmt.where(Unit.id.in_(select(Task.responsible_unit_id).where(scope)))
    units = session.execute(stmt.order_by(Unit.kind, Unit.name)).all()
    return {
        "actions": [{"id": a.id, "code": a.code, "name": a.name, "visions": a.visions} for a in actions],
        "units": [{"id": u.id, "code": u.code, "name": u.name, "kind": u.kind} for u in units],
    }


@dataclass
class TimelineRow:
    id: int
    code: str
    name: str
    status: str
    starts_on: date
    due_on: date
    person: str
    milestones: list[dict[str, Any]]


def timeline(session: Session, *, principal: Principal, query: TaskQuery, limit: int = 60) -> dict[str, Any]:
    """The Gantt beside the map: the most urgent tasks under the filters, with their milestones."""
    principal.require(perm.READ)
    base = select(Task.id)
    for cond in service.task_conditions(principal, query):
        base = base.where(cond)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    severity = case({s.value: rank for s, rank in SEVERITY.items()}, value=Task.status, else_=9)
    stmt = (
        select(Task.id, Task.code, Task.name, Task.status, Task.starts_on, Task.due_on, Person.name)
        .join(Person, Person.id == Task.responsible_person_id)
        .where(Task.id.in_(base))
        .order_by(severity, Task.due_on, Task.id)
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    ms: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if rows:
        q = (
            select(Milestone.task_id, Milestone.seq, Milestone.name, Milestone.due_on, Milestone.done_on)
            .where(Milestone.task_id.in_([r[0] for r in rows]))
            .order_by(Milestone.task_id, Milestone.seq)
        )
        for tid, seq, name, due_on, done_on in session.execute(q):
            ms[tid].append(
                {
                    "seq": seq,
                    "name": name,
                    "due_on": due_on.isoformat(),
                    "done_on": done_on.isoformat() if done_on else None,
                }
            )
    tasks = [
        {
            "id": r[0],
            "code": r[1],
            "name": r[2],
            "status": r[3],
            "starts_on": r[4].isoformat(),
            "due_on": r[5].isoformat(),
            "person": r[6],
            "milestones": ms.get(r[0], []),
        }
        for r in rows
    ]
    return {"total": total, "shown": len(tasks), "tasks": tasks}


def stats(
    session: Session, *, principal: Principal, query: TaskQuery, programme: Programme
) -> dict[str, Any]:
    """Per action: tasks by colour, mean progress, and milestones planned vs done per month.

    The monthly counts come from a per-process summary of the programme's milestones by task group
    (action, responsible unit, colour, state), rebuilt only when the programme's tasks change (see
    ``_group_months``). The filters (scope, action, unit, colour) select the groups with one
    aggregate over the tasks, which also gives the per-action counts. A text filter (``q``) is not
    a group property: it counts the milestones directly.
    """
    principal.require(perm.READ)
    conds = service.task_conditions(principal, query)
    actions = {a.id: a for a in service.list_actions(session, programme=programme)}
    per_action: dict[int, dict[str, Any]] = {
        a.id: {
            "id": a.id,
            "name": a.name,
            "counts": {s.value: 0 for s in Status},
            "progress": 0.0,
            "tasks": 0,
        }
        for a in actions.values()
    }
    t = TASKS
    groups = select(
        t.c.action_id,
        t.c.responsible_unit_id,
        t.c.status,
        t.c.state,
        func.count(),
        func.sum(t.c.progress_pct),
    ).where(*conds)
    groups = groups.group_by(t.c.action_id, t.c.responsible_unit_id, t.c.status, t.c.state)
    visible_groups = []
    for action_id, unit_id, status, state, count, total_pct in session.connection().execute(groups):
        visible_groups.append((action_id, unit_id, status, state))
        if action_id not in per_action:
            continue
        entry = per_action[action_id]
        entry["tasks"] += count
        entry["counts"][status] += count
        entry["progress"] += float(total_pct or 0)
    for entry in per_action.values():
        entry["progress"] = round(entry["progress"] / entry["tasks"], 1) if entry["tasks"] else 0.0
    if query.q:
        visible = select(Task.id)
        for cond in conds:
            visible = visible.where(cond)
        planned, done = _monthly(session, visible, programme.year)
    else:
        planned, done = [0] * 12, [0] * 12
        summary = _group_months(session, programme)
        for key in visible_groups:
            months = summary.get(key)
            if months is not None:
                for i in range(12):
                    planned[i] += months[0][i]
                    done[i] += months[1][i]
    return {
        "actions": [e for e in per_action.values() if e["tasks"]],
        "months": list(range(1, 13)),
        "planned": planned,
        "done": done,
    }


# --- the monthly summary behind the charts --------------------------------------------------------

MILESTONES = cast(Table, Milestone.__table__)
GroupKey = tuple[int, int, str, str]  # action, responsible unit, colour, state


@dataclass
class _Summary:
    """Per task: its version, group and milestone months; per group: the monthly sums."""

    fingerprint: tuple[int, ...]
    year: int
    tasks: dict[int, tuple[int, GroupKey, tuple[int, ...], tuple[int, ...]]]
    groups: dict[GroupKey, tuple[list[int], list[int]]]

    def move(
        self, task_id: int, entry: tuple[int, GroupKey, tuple[int, ...], tuple[int, ...]] | None
    ) -> None:
        """Replace a task's contribution (None removes it)."""
        old = self.tasks.pop(task_id, None)
        if old is not None:
            planned, done = self.groups[old[1]]
            for month in old[2]:
                planned[month - 1] -= 1
            for month in old[3]:
                done[month - 1] -= 1
        if entry is not None:
            self.tasks[task_id] = entry
            planned, done = self.groups.setdefault(entry[1], ([0] * 12, [0] * 12))
            for month in entry[2]:
                planned[month - 1] += 1
            for month in entry[3]:
                done[month - 1] += 1


_SUMMARIES: dict[int, _Summary] = {}


def clear_summaries() -> None:
    """Forget the per-process summaries (tests that roll back and reuse ids)."""
    _SUMMARIES.clear()


def _fingerprint(session: Session, programme_id: int) -> tuple[int, ...]:
    """Changes when any task of the programme is added or changed: every ORM change bumps the
    task's version; the supervision scan's bulk colour update moves the colour-weighted id sum."""
    t = TASKS
    weight = case({"green": 1, "yellow": 3, "red": 7, "done": 13}, value=t.c.status, else_=17)
    row = (
        session.connection()
        .execute(
            select(func.count(), func.sum(t.c.version), func.max(t.c.id), func.sum(t.c.id * weight)).where(
                t.c.programme_id == programme_id
            )
        )
        .one()
    )
    return tuple(int(v or 0) for v in row)


_MONTH_OF = {f"{m:02d}": m for m in range(1, 13)}


def _months(dates: str | None, year: str) -> tuple[int, ...]:
    """'2026-03-01,2026-05-31,…' → the months (1–12) of the dates that fall in ``year``."""
    if not dates:
        return ()
    return tuple(_MONTH_OF[d[5:7]] for d in dates.split(",") if d.startswith(year))


def _milestone_months(
    session: Session, year: int, task_ids: Any
) -> dict[int, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Months of the milestones of ``task_ids`` (a list, or a select of ids): due and done.

    One row per task with its dates joined as text (group_concat / string_agg): 20,000 rows to
    read instead of 200,000, and no date objects to build."""
    m = MILESTONES
    if is_postgresql(session):
        due = func.string_agg(cast_(m.c.due_on, String), literal_column("','"))
        done = func.string_agg(cast_(m.c.done_on, String), literal_column("','"))
    else:
        due, done = func.group_concat(m.c.due_on), func.group_concat(m.c.done_on)
    stmt = select(m.c.task_id, due, done).group_by(m.c.task_id)
    if isinstance(task_ids, list):
        chunks = [task_ids[i : i + 5000] for i in range(0, len(task_ids), 5000)]
        stmts = [stmt.where(m.c.task_id.in_(chunk)) for chunk in chunks]
    else:
        stmts = [stmt.where(m.c.task_id.in_(task_ids))]
    conn = session.connection()
    prefix = f"{year:04d}-"
    return {
        task_id: (_months(due_dates, prefix), _months(done_dates, prefix))
        for query in stmts
        for task_id, due_dates, done_dates in conn.execute(query)
    }


def _group_months(session: Session, programme: Programme) -> dict[GroupKey, tuple[list[int], list[int]]]:
    """Milestones planned and done per month of the programme's year, per task group.

    Kept per process and brought up to date from the tasks' versions and groups: a task whose
    version moved has its milestones read again (reports, replans, edits change the version); a
    task that only changed colour or state moves its months to its new group without a read.
    """
    fingerprint = _fingerprint(session, programme.id)
    summary = _SUMMARIES.get(programme.id)
    if summary is not None and summary.fingerprint == fingerprint and summary.year == programme.year:
        return summary.groups
    t = TASKS
    rows = session.connection().execute(
        select(t.c.id, t.c.version, t.c.action_id, t.c.responsible_unit_id, t.c.status, t.c.state).where(
            t.c.programme_id == programme.id
        )
    )
    current = {r[0]: (int(r[1]), (r[2], r[3], r[4], r[5])) for r in rows}
    if summary is None or summary.year != programme.year:
        summary = _Summary(fingerprint, programme.year, {}, {})
        months = _milestone_months(
            session, programme.year, select(t.c.id).where(t.c.programme_id == programme.id)
        )
        for task_id, (version, key) in current.items():
            due, done = months.get(task_id, ((), ()))
            summary.move(task_id, (version, key, due, done))
    else:
        reread = [
            tid
            for tid, (version, _) in current.items()
            if tid not in summary.tasks or summary.tasks[tid][0] != version
        ]
        months = _milestone_months(session, programme.year, reread) if reread else {}
        for task_id, (version, key) in current.items():
            old = summary.tasks.get(task_id)
            if task_id in months or old is None:
                due, done = months.get(task_id, ((), ()))
                summary.move(task_id, (version, key, due, done))
            elif old[1] != key:
                summary.move(task_id, (version, key, old[2], old[3]))
        for task_id in [tid for tid in summary.tasks if tid not in current]:
            summary.move(task_id, None)
    summary.fingerprint = fingerprint
    _SUMMARIES[programme.id] = summary
    return summary.groups


def warm(session: Session) -> int:
    """Build every programme's chart summary now, so the first visitor of a fresh server process
    does not pay for it (~0.8 s with 20,000 tasks); returns the number of programmes warmed."""
    programmes = session.scalars(select(Programme)).all()
    for programme in programmes:
        _group_months(session, programme)
    return len(programmes)


def _month_key(session: Session, column: Any) -> Any:
    """The month of a date column, cheaply: date_trunc on PostgreSQL, the 'YYYY-MM' prefix on
    SQLite (dates are ISO text there; strftime over every milestone is slow)."""
    if is_postgresql(session):
        return func.date_trunc("month", column)
    return func.substr(column, 1, 7)


def _year_month(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return int(value[:4]), int(value[5:7])
    return value.year, value.month


def _monthly(session: Session, visible: Any, year: int) -> tuple[list[int], list[int]]:
    """Milestones planned and done per month of ``year``, in one pass over the milestones."""
    due_key, done_key = _month_key(session, Milestone.due_on), _month_key(session, Milestone.done_on)
    stmt = (
        select(due_key, done_key, func.count())
        .where(Milestone.task_id.in_(visible))
        .group_by(due_key, done_key)
    )
    planned, done = [0] * 12, [0] * 12
    for due_month, done_month, n in session.connection().execute(stmt):
        for value, counts in ((due_month, planned), (done_month, done)):
            ym = _year_month(value)
            if ym is not None and ym[0] == year:
                counts[ym[1] - 1] += int(n)
    return planned, done


def action_of(session: Session, *, programme: Programme, ref: str | None) -> Action | None:
    return service.find_action(session, programme=programme, ref=ref) if ref else None
