"""Programme, checklists, actions, tasks and their milestone plans (事前计划).

Keyword-only functions taking a session; they flush, never commit, and audit every change. Each
refusal raises before anything is written, so a 4xx leaves the database as it was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityloop.core import audit
from cityloop.core.clock import now
from cityloop.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityloop.core.permissions import Principal
from cityloop.core.validation import parse_id
from cityloop.org.models import Person, Unit, UnitKind
from cityloop.programme import permissions as perm
from cityloop.programme.models import (
    VISIONS,
    Action,
    ActionChecklist,
    ActionUnit,
    Checklist,
    Milestone,
    Programme,
    Task,
    TaskIndicator,
)
from cityloop.programme.plans import (
    IndicatorInput,
    MilestoneInput,
    TaskInput,
    check_milestones,
    check_place,
    check_task,
)

Actor = Principal | audit.Actor | None

DEFAULT_SUPERVISION: dict[str, float] = {
    "behind_margin_pct": 10,  # yellow when actual progress trails the plan by more than this
    "due_soon_days": 7,  # yellow when a milestone is due within this many days …
    "stale_report_days": 14,  # … and nothing was reported for this long
    "reply_days": 3,  # a supervision notice must be answered within this many days
    "remind_before_hours": 24,  # remind the unit this long before a reply is due
    "ranking_size": 3,  # names on each side of the 红黑榜
}
DEFAULT_WEIGHTS: dict[str, float] = {
    "completion": 0.35,
    "timeliness": 0.30,
    "problem_closure": 0.20,
    "acceptance_pass": 0.15,
}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


# --- programmes and settings ----------------------------------------------------------------------


def get_programme(session: Session, *, ref: str | None = None) -> Programme:
    """A programme by code; without a code, the latest one (the current iteration)."""
    stmt = select(Programme)
    stmt = stmt.where(Programme.code == ref) if ref else stmt.order_by(Programme.year.desc(), Programme.id)
    found = session.execute(stmt.limit(1)).scalars().first()
    if found is None:
        raise NotFound("error.programme.not_found", ref=ref or "-")
    return found


def list_programmes(session: Session) -> Sequence[Programme]:
    return session.execute(select(Programme).order_by(Programme.year.desc(), Programme.id)).scalars().all()


def create_programme(
    session: Session,
    *,
    actor: Actor,
    code: str,
    name: str,
    year: int,
    owner: Unit,
    starts_on: date | None = None,
    ends_on: date | None = None,
    name_en: str | None = None,
) -> Programme:
    _check_code(code)
    if session.execute(select(Programme.id).where(Programme.code == code)).first():
        raise Conflict("error.programme.code_taken", code=code)
    starts_on = starts_on or date(year, 1, 1)
    ends_on = ends_on or date(year, 12, 31)
    if ends_on < starts_on:
        raise ValidationFailed("error.programme.dates_order", field="ends_on")
    programme = Programme(
        code=code,
        name=name.strip(),
        name_en=name_en,
        year=year,
        starts_on=starts_on,
        ends_on=ends_on,
        owner_unit_id=owner.id,
        supervision=dict(DEFAULT_SUPERVISION),
        weights=dict(DEFAULT_WEIGHTS),
    )
    session.add(programme)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="programme",
        entity_id=programme.id,
        after=audit.snapshot(programme),
    )
    return programme


def supervision_settings(programme: Programme) -> dict[str, float]:
    return {**DEFAULT_SUPERVISION, **(programme.supervision or {})}


def evaluation_weights(programme: Programme) -> dict[str, float]:
    return {**DEFAULT_WEIGHTS, **(programme.weights or {})}


def update_settings(
    session: Session,
    *,
    actor: Actor,
    programme: Programme,
    supervision: dict[str, float] | None = None,
    weights: dict[str, float] | None = None,
) -> Programme:
    """Change supervision margins and evaluation weights (each value checked, all or nothing)."""
    before = {"supervision": programme.supervision, "weights": programme.weights}
    if supervision:
        merged = supervision_settings(programme)
        for key, value in supervision.items():
            if key not in DEFAULT_SUPERVISION:
                raise ValidationFailed("error.unknown_field", field=key)
            if value is None or value < 0 or (key == "behind_margin_pct" and value > 100):
                raise ValidationFailed("error.programme.setting_range", field=key)
            merged[key] = value
        programme.supervision = merged
    if weights:
        merged_w = evaluation_weights(programme)
        for key, value in weights.items():
            if key not in DEFAULT_WEIGHTS:
                raise ValidationFailed("error.unknown_field", field=key)
            if value is None or value < 0:
                raise ValidationFailed("error.programme.setting_range", field=key)
            merged_w[key] = value
        if sum(merged_w.values()) <= 0:
            raise ValidationFailed("error.programme.weights_zero")
        programme.weights = merged_w
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="settings",
        entity_type="programme",
        entity_id=programme.id,
        before=before,
        after={"supervision": programme.supervision, "weights": programme.weights},
    )
    return programme


# --- checklists -----------------------------------------------------------------------------------


def create_checklist(
    session: Session,
    *,
    actor: Actor,
    code: str,
    name: str,
    items: list[str],
    source: str | None = None,
) -> Checklist:
    _check_code(code)
    texts = [t.strip() for t in items if t and t.strip()]
    if not texts:
        raise ValidationFailed("error.programme.checklist_empty")
    if session.execute(select(Checklist.id).where(Checklist.code == code)).first():
        raise Conflict("error.programme.code_taken", code=code)
    checklist = Checklist(
        code=code,
        name=name.strip(),
        source=source,
        items=[{"code": str(i), "text": t} for i, t in enumerate(texts, start=1)],
    )
    session.add(checklist)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="checklist",
        entity_id=checklist.id,
        after=audit.snapshot(checklist),
    )
    return checklist


def list_checklists(session: Session) -> Sequence[Checklist]:
    return session.execute(select(Checklist).order_by(Checklist.code)).scalars().all()


def find_checklist(session: Session, *, code: str) -> Checklist:
    found = session.execute(select(Checklist).where(Checklist.code == code)).scalar_one_or_none()
    if found is None:
        raise NotFound("error.programme.checklist_not_found", ref=code)
    return found


def action_checklists(session: Session, *, action: Action) -> list[Checklist]:
    stmt = (
        select(Checklist)
        .join(ActionChecklist, ActionChecklist.checklist_id == Checklist.id)
        .where(ActionChecklist.action_id == action.id)
        .order_by(Checklist.code)
    )
    return list(session.execute(stmt).scalars())


# --- actions --------------------------------------------------------------------------------------


@dataclass
class ActionInput:
    code: str
    name: str
    lead_unit: Unit | None
    taskforce_unit: Unit | None = None
    lead_leader: Person | None = None
    visions: list[str] | None = None
    co_units: list[Unit] | None = None
    local_units: list[Unit] | None = None
    checklists: list[Checklist] | None = None
    name_en: str | None = None
    description: str | None = None
    seq: int = 0


def create_action(session: Session, *, actor: Actor, programme: Programme, data: ActionInput) -> Action:
    _check_code(data.code)
    if data.lead_unit is None:
        raise ValidationFailed("error.programme.lead_unit_required", field="lead_unit")
    if data.lead_unit.kind not in (UnitKind.department, UnitKind.special_taskforce):
        raise ValidationFailed("error.programme.lead_unit_kind", unit=data.lead_unit.name)
    if not data.name.strip():
        raise ValidationFailed("error.required_field", field="name")
    visions = _check_visions(data.visions or [])
    taken = select(Action.id).where(Action.programme_id == programme.id, Action.code == data.code)
    if session.execute(taken).first():
        raise Conflict("error.programme.code_taken", code=data.code)
    action = Action(
        programme_id=programme.id,
        code=data.code,
        seq=data.seq,
        name=data.name.strip(),
        name_en=data.name_en,
        description=data.description,
        taskforce_unit_id=data.taskforce_unit.id if data.taskforce_unit else None,
        lead_unit_id=data.lead_unit.id,
        lead_leader_id=data.lead_leader.id if data.lead_leader else None,
        visions=visions,
    )
    session.add(action)
    session.flush()
    for role, units in (("co", data.co_units or []), ("local", data.local_units or [])):
        for unit in {u.id: u for u in units}.values():
            session.add(ActionUnit(action_id=action.id, unit_id=unit.id, role=role))
    for checklist in {c.id: c for c in data.checklists or []}.values():
        session.add(ActionChecklist(action_id=action.id, checklist_id=checklist.id))
    session.flush()
    after = audit.snapshot(action)
    after["co_units"] = [u.code for u in data.co_units or []]
    after["local_units"] = [u.code for u in data.local_units or []]
    after["checklists"] = [c.code for c in data.checklists or []]
    audit.record(
        session, actor=actor, action="create", entity_type="action", entity_id=action.id, after=after
    )
    return action


def _check_visions(visions: list[str]) -> list[str]:
    unknown = [v for v in visions if v not in VISIONS]
    if unknown:
        raise ValidationFailed("error.programme.vision_unknown", vision=", ".join(unknown))
    return [v for v in VISIONS if v in visions]


def list_actions(session: Session, *, programme: Programme) -> Sequence[Action]:
    stmt = select(Action).where(Action.programme_id == programme.id).order_by(Action.seq, Action.id)
    return session.execute(stmt).scalars().all()


def get_action(session: Session, *, principal: Principal, action_id: int) -> Action:
    """An action the principal may read (all programme roles see the list of actions)."""
    principal.require(perm.READ)
    action = session.get(Action, action_id)
    if action is None:
        raise NotFound("error.programme.action_not_found", ref=action_id)
    return action


def find_action(session: Session, *, programme: Programme, ref: str) -> Action:
    stmt = select(Action).where(Action.programme_id == programme.id)
    action_id = parse_id(ref)
    stmt = stmt.where(Action.id == action_id) if action_id is not None else stmt.where(Action.code == ref)
    action = session.execute(stmt).scalar_one_or_none()
    if action is None:
        raise NotFound("error.programme.action_not_found", ref=ref)
    return action


def action_units(session: Session, *, action: Action) -> dict[str, list[Unit]]:
    rows = session.execute(
        select(ActionUnit.role, Unit)
        .join(Unit, Unit.id == ActionUnit.unit_id)
        .where(ActionUnit.action_id == action.id)
        .order_by(Unit.sort_order)
    ).all()
    out: dict[str, list[Unit]] = {"co": [], "local": []}
    for role, unit in rows:
        out.setdefault(role, []).append(unit)
    return out


# --- tasks and milestones -------------------------------------------------------------------------


def next_task_code(session: Session, *, action: Action) -> str:
    count = session.scalar(select(func.count()).select_from(Task).where(Task.action_id == action.id)) or 0
    return f"{action.code}-{count + 1:03d}"


def create_task(
    session: Session, *, actor: Actor, principal: Principal | None, action: Action, data: TaskInput
) -> Task:
    """A new ledger item with its milestone plan. ``principal`` None means a trusted caller (seed, CLI)."""
    if principal is not None:
        principal.require(perm.PLAN)
        if not perm.leads(principal, action):
            raise Forbidden("error.programme.not_lead")
    check_task(data)
    code = data.code or next_task_code(session, action=action)
    _check_code(code)
    taken = select(Task.id).where(Task.programme_id == action.programme_id, Task.code == code)
    if session.execute(taken).first():
        raise Conflict("error.programme.code_taken", code=code)
    place, kind, lon, lat = check_place(data.place)
    task = Task(
        programme_id=action.programme_id,
        action_id=action.id,
        code=code,
        name=data.name.strip(),
        target=data.target,
        indicator=data.indicator.strip(),
        indicator_unit=data.indicator_unit.strip(),
        baseline=data.baseline,
        target_value=data.target_value,
        current_value=data.baseline,
        progress_pct=0.0,
        responsible_unit_id=data.responsible_unit.id,
        responsible_person_id=data.responsible_person.id,
        place=place,
        place_kind=kind,
        lon=lon,
        lat=lat,
        site_plan=data.site_plan,
        starts_on=data.starts_on,
        due_on=data.due_on,
    )
    session.add(task)
    session.flush()
    for seq, ms in enumerate(data.milestones, start=1):
        session.add(_milestone(task, seq, ms))
    for seq, ind in enumerate(data.indicators, start=2):
        session.add(_indicator(task, seq, ind))
    session.flush()
    session.refresh(task)
    audit.record(
        session,
        actor=actor,
        action="create",
        entity_type="task",
        entity_id=task.id,
        after=task_snapshot(task),
    )
    return task


def _milestone(task: Task, seq: int, ms: MilestoneInput) -> Milestone:
    return Milestone(
        task_id=task.id,
        seq=seq,
        name=ms.name.strip(),
        due_on=ms.due_on,
        deliverable=ms.deliverable,
        planned_pct=float(ms.planned_pct),
    )


def _indicator(task: Task, seq: int, ind: IndicatorInput, current: float | None = None) -> TaskIndicator:
    return TaskIndicator(
        task_id=task.id,
        seq=seq,
        name=ind.name.strip(),
        unit=ind.unit.strip(),
        baseline=ind.baseline,
        target_value=ind.target_value,
        current_value=ind.baseline if current is None else current,
    )


def task_snapshot(task: Task) -> dict[str, Any]:
    snap = audit.snapshot(task, exclude={"place"})
    snap["indicators"] = [
        {"seq": i.seq, "name": i.name, "unit": i.unit, "baseline": i.baseline, "target_value": i.target_value}
        for i in task.extra_indicators
    ]
    snap["milestones"] = [
        {"seq": m.seq, "name": m.name, "due_on": m.due_on, "planned_pct": m.planned_pct, "done_on": m.done_on}
        for m in task.milestones
    ]
    out: dict[str, Any] = audit.jsonable(snap)
    return out


def replan(
    session: Session,
    *,
    actor: Actor,
    principal: Principal,
    task: Task,
    milestones: list[MilestoneInput],
    due_on: date | None = None,
    expected_version: int | None = None,
) -> Task:
    """Replace the milestones not yet done (done ones keep their place at the front)."""
    principal.require(perm.PLAN)
    if not perm.leads(principal, task.action):
        raise Forbidden("error.programme.not_lead")
    if expected_version is not None and expected_version != task.version:
        raise Conflict("error.stale_version", current=task.version)
    done = [m for m in task.milestones if m.done_on is not None]
    kept = [MilestoneInput(m.name, m.due_on, m.planned_pct, m.deliverable) for m in done]
    new_due = due_on or task.due_on
    check_milestones(kept + milestones, starts_on=task.starts_on, due_on=new_due)
    before = task_snapshot(task)
    for m in [m for m in task.milestones if m.done_on is None]:
        task.milestones.remove(m)
    session.flush()
    for seq, ms in enumerate(milestones, start=len(done) + 1):
        task.milestones.append(_milestone(task, seq, ms))
    task.due_on = new_due
    task.updated_at = now()  # marks the row changed, so its version moves too
    session.flush()
    session.refresh(task)
    audit.record(
        session,
        actor=actor,
        action="replan",
        entity_type="task",
        entity_id=task.id,
        before=before,
        after=task_snapshot(task),
    )
    return task


# What PATCH /tasks/{id} may change (the code, action, state and milestones have their own paths).
EDITABLE_TASK_FIELDS = frozenset(
    {
        "name",
        "target",
        "indicator",
        "indicator_unit",
        "baseline",
        "target_value",
        "responsible_unit",
        "responsible_person",
        "starts_on",
        "due_on",
        "place",
        "site_plan",
        "indicators",
    }
)


def update_task(
    session: Session,
    *,
    actor: Actor,
    principal: Principal,
    task: Task,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> Task:
    """Edit a task's plan: the same checks as at creation, on the task as it would become.

    Only the lead of the action edits; an accepted task is closed (409). A new baseline or target
    keeps the value last reported inside the new bounds (else 422) and recomputes the progress; a
    further indicator keeps its reported value when its name stays. Nothing is written on a refusal.
    """
    from cityloop.programme.models import TaskState
    from cityloop.programme.workflow import progress_of_values

    principal.require(perm.PLAN)
    if not perm.leads(principal, task.action):
        raise Forbidden("error.programme.not_lead")
    if expected_version is not None and expected_version != task.version:
        raise Conflict("error.stale_version", current=task.version)
    if task.state == TaskState.accepted:
        raise Conflict("error.programme.task_closed", error_code="task_closed")
    unknown = set(changes) - EDITABLE_TASK_FIELDS
    if unknown:
        raise ValidationFailed("error.unknown_field", field=", ".join(sorted(unknown)))
    current = {
        "name": task.name,
        "target": task.target,
        "indicator": task.indicator,
        "indicator_unit": task.indicator_unit,
        "baseline": task.baseline,
        "target_value": task.target_value,
        "responsible_unit": task.responsible_unit,
        "responsible_person": task.responsible_person,
        "starts_on": task.starts_on,
        "due_on": task.due_on,
        "place": task.place,
        "site_plan": task.site_plan,
        "indicators": [
            IndicatorInput(i.name, i.unit, i.baseline, i.target_value) for i in task.extra_indicators
        ],
    }
    merged = {**current, **changes}
    milestones = [MilestoneInput(m.name, m.due_on, m.planned_pct, m.deliverable) for m in task.milestones]
    data = TaskInput(milestones=milestones, **merged)
    check_task(data)
    low, high = sorted((data.baseline, data.target_value))
    # Nothing reported yet: the value is the (new) baseline, whatever it is.
    task_current = data.baseline if task.last_report_at is None else task.current_value
    if not (low <= task_current <= high):
        raise ValidationFailed(
            "error.programme.current_out_of_bounds",
            field="baseline" if "baseline" in changes else "target_value",
            value=task_current,
            low=low,
            high=high,
        )
    reported = task.last_report_at is not None
    old_values = {i.name: i.current_value for i in task.extra_indicators} if reported else {}
    for seq, ind in enumerate(data.indicators, start=2):
        kept = old_values.get(ind.name.strip())
        lo, hi = sorted((ind.baseline, ind.target_value))
        if kept is not None and not (lo <= kept <= hi):
            raise ValidationFailed(
                "error.programme.current_out_of_bounds",
                field=f"indicators.{seq}",
                value=kept,
                low=lo,
                high=hi,
            )
    place, kind, lon, lat = (
        check_place(data.place) if "place" in changes else (task.place, task.place_kind, task.lon, task.lat)
    )
    before = task_snapshot(task)
    task.name = data.name.strip()
    task.target = data.target
    task.indicator, task.indicator_unit = data.indicator.strip(), data.indicator_unit.strip()
    task.baseline, task.target_value = data.baseline, data.target_value
    task.current_value = task_current
    task.progress_pct = progress_of_values(task.baseline, task.target_value, task.current_value)
    task.responsible_unit_id = data.responsible_unit.id
    task.responsible_person_id = data.responsible_person.id
    task.starts_on, task.due_on = data.starts_on, data.due_on
    task.place, task.place_kind, task.lon, task.lat = place, kind, lon, lat
    task.site_plan = data.site_plan
    if "indicators" in changes:
        # Rows are reused by position (one UPDATE each), so (task, seq) never collides mid-flush.
        rows = list(task.extra_indicators)
        for seq, ind in enumerate(data.indicators, start=2):
            fresh = _indicator(task, seq, ind, old_values.get(ind.name.strip()))
            if seq - 2 < len(rows):
                row = rows[seq - 2]
                row.name, row.unit, row.baseline = fresh.name, fresh.unit, fresh.baseline
                row.target_value, row.current_value = fresh.target_value, fresh.current_value
            else:
                task.extra_indicators.append(fresh)
        for row in rows[len(data.indicators) :]:
            task.extra_indicators.remove(row)
    task.updated_at = now()
    session.flush()
    session.refresh(task)
    audit.record(
        session,
        actor=actor,
        action="update",
        entity_type="task",
        entity_id=task.id,
        before=before,
        after=task_snapshot(task),
    )
    return task


def get_task(session: Session, *, principal: Principal, task_id: int) -> Task:
    """A task inside the principal's scope; otherwise 404, as if it did not exist."""
    principal.require(perm.READ)
    stmt = select(Task).where(Task.id == task_id)
    scope = perm.task_filter(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    task = session.execute(stmt).scalar_one_or_none()
    if task is None:
        raise NotFound("error.programme.task_not_found", ref=task_id)
    return task


@dataclass
class TaskQuery:
    programme_id: int | None = None
    action_id: int | None = None
    unit_path: str | None = None  # responsible unit or anything below it
    status: str | None = None
    state: str | None = None
    q: str | None = None
    limit: int = 200
    offset: int = 0


def list_tasks(session: Session, *, principal: Principal, query: TaskQuery) -> tuple[list[Task], int]:
    principal.require(perm.READ)
    stmt = select(Task)
    for cond in task_conditions(principal, query):
        stmt = stmt.where(cond)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(Task.action_id, Task.code).limit(query.limit).offset(query.offset)
    return list(session.execute(stmt).scalars().unique()), total


def task_conditions(principal: Principal, query: TaskQuery) -> list[Any]:
    """WHERE clauses for a task list: the principal's scope plus the filters asked for."""
    conds: list[Any] = []
    scope = perm.task_filter(principal)
    if scope is not None:
        conds.append(scope)
    if query.programme_id:
        conds.append(Task.programme_id == query.programme_id)
    if query.action_id:
        conds.append(Task.action_id == query.action_id)
    if query.unit_path:
        conds.append(
            Task.responsible_unit_id.in_(select(Unit.id).where(Unit.path.startswith(query.unit_path)))
        )
    if query.status:
        conds.append(Task.status == query.status)
    if query.state:
        conds.append(Task.state == query.state)
    if query.q:
        like = f"%{query.q}%"
        conds.append(Task.name.ilike(like) | Task.code.ilike(like))
    return conds


def find_person(session: Session, *, ref: str, unit: Unit | None = None) -> Person:
    """A person by id, or by name (inside ``unit``'s subtree when given)."""
    person_id = parse_id(ref)
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is not None:
            return person
    stmt = select(Person).where(Person.name == ref.strip(), Person.active.is_(True))
    if unit is not None:
        stmt = stmt.join(Unit, Unit.id == Person.unit_id).where(Unit.path.startswith(unit.path))
    matches = session.execute(stmt).scalars().all()
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise Conflict("error.programme.person_ambiguous", ref=ref)
    raise NotFound("error.programme.person_not_found", ref=ref)


def _check_code(code: str) -> None:
    if not CODE_RE.match(code or ""):
        raise ValidationFailed("error.programme.code_invalid", field="code", code=code)
