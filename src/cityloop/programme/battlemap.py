"""挂图作战: the compact data behind the battle map, its Gantt timeline and its progress charts.

The map endpoint sends rows, not objects ("fields" names the columns once): 2,000 tasks are a few
hundred kilobytes and one indexed query, so the page can refetch on every filter change.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import case, extract, func, select
from sqlalchemy.orm import Session

from cityloop.core.permissions import Principal
from cityloop.org.models import Person, Unit
from cityloop.programme import permissions as perm
from cityloop.programme import service
from cityloop.programme.models import Action, Milestone, Programme, Status, Task
from cityloop.programme.service import TaskQuery

MAP_FIELDS = ("id", "code", "name", "action", "unit", "status", "state", "kind", "lon", "lat", "pct")
SEVERITY = {Status.red: 0, Status.yellow: 1, Status.green: 2, Status.done: 3}


def _round(coords: Any) -> Any:
    if isinstance(coords, list | tuple):
        if coords and isinstance(coords[0], int | float):
            return [round(float(c), 5) for c in coords[:2]]
        return [_round(c) for c in coords]
    return coords


def map_data(
    session: Session, *, principal: Principal, query: TaskQuery, shapes: bool = True
) -> dict[str, Any]:
    """Every task with a place under the filters, one row each; shapes for lines and areas."""
    principal.require(perm.READ)
    stmt = select(
        Task.id,
        Task.code,
        Task.name,
        Task.action_id,
        Task.responsible_unit_id,
        Task.status,
        Task.state,
        Task.place_kind,
        Task.lon,
        Task.lat,
        Task.progress_pct,
    ).where(Task.lon.is_not(None))
    for cond in service.task_conditions(principal, query):
        stmt = stmt.where(cond)
    rows = session.execute(stmt.order_by(Task.id)).all()
    out_rows = [[*r[:8], round(r[8] or 0.0, 5), round(r[9] or 0.0, 5), round(r[10], 1)] for r in rows]
    data: dict[str, Any] = {"fields": list(MAP_FIELDS), "rows": out_rows, "count": len(out_rows)}
    if shapes:
        ids = [r[0] for r in rows if r[7] and r[7] != "Point"]
        data["shapes"] = _shapes(session, ids)
    return data


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
    """Per action: tasks by colour, mean progress, and milestones planned vs done per month."""
    principal.require(perm.READ)
    conds = service.task_conditions(principal, query)
    by_status = select(Task.action_id, Task.status, func.count(), func.avg(Task.progress_pct)).group_by(
        Task.action_id, Task.status
    )
    for cond in conds:
        by_status = by_status.where(cond)
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
    for action_id, status, count, avg in session.execute(by_status):
        if action_id not in per_action:
            continue
        entry = per_action[action_id]
        entry["progress"] = (entry["progress"] * entry["tasks"] + float(avg or 0) * count) / (
            entry["tasks"] + count
        )
        entry["tasks"] += count
        entry["counts"][status] = count
    visible = select(Task.id)
    for cond in conds:
        visible = visible.where(cond)
    planned = _monthly(session, Milestone.due_on, visible, programme.year)
    done = _monthly(session, Milestone.done_on, visible, programme.year)
    for entry in per_action.values():
        entry["progress"] = round(entry["progress"], 1)
    return {
        "actions": [e for e in per_action.values() if e["tasks"]],
        "months": list(range(1, 13)),
        "planned": planned,
        "done": done,
    }


def _monthly(session: Session, column: Any, visible: Any, year: int) -> list[int]:
    month = extract("month", column)
    stmt = (
        select(month, func.count())
        .where(Milestone.task_id.in_(visible), column.is_not(None), extract("year", column) == year)
        .group_by(month)
    )
    counts = [0] * 12
    for m, n in session.execute(stmt):
        counts[int(m) - 1] = int(n)
    return counts


def action_of(session: Session, *, programme: Programme, ref: str | None) -> Action | None:
    return service.find_action(session, programme=programme, ref=ref) if ref else None
