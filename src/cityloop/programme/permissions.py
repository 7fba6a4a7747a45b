"""Who may do what in the programme, and which rows each account sees (the three-tier chain).

- The task-force office, leaders and administrators are district-wide: they see everything.
- A department sees the tasks it is responsible for and every task of the actions it leads.
- A street/town sees the tasks and problems it is responsible for (its subtree: communities, grids).
- An account filed under a special task force sees the tasks of that task force's action.
Out-of-scope rows are indistinguishable from absent ones (404).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select

from cityloop.core.permissions import DISTRICT_WIDE, Principal, Role, register
from cityloop.org.models import Unit
from cityloop.programme.models import Action, Notice, Problem, Task

PROGRAMME_ROLES = {Role.admin, Role.supervisor, Role.leader, Role.department, Role.street}
OFFICE = {Role.admin, Role.supervisor}

READ = register("programme.read", PROGRAMME_ROLES)
MANAGE = register("programme.manage", OFFICE)  # programmes, actions, checklists, settings, ledger import
PLAN = register("programme.plan", OFFICE | {Role.department})  # tasks and milestones
REPORT = register("programme.report", OFFICE | {Role.department, Role.street})  # progress, replies
ACCEPT = register("programme.accept", OFFICE | {Role.leader, Role.department})
RAISE = register("programme.problem_raise", OFFICE | {Role.leader, Role.department})
CLOSE = register("programme.problem_close", OFFICE | {Role.leader, Role.department})
SUPERVISE = register("programme.supervise", OFFICE)


def district_wide(principal: Principal) -> bool:
    return principal.role in DISTRICT_WIDE


def _units_in_scope(principal: Principal) -> ColumnElement[bool]:
    return Unit.path.startswith(principal.scope_path)


def _scope_unit_ids(principal: Principal) -> Select[Any]:
    return select(Unit.id).where(_units_in_scope(principal))


def led_action_ids(principal: Principal) -> Select[Any]:
    """Actions whose lead department or special task force lies in the principal's scope."""
    ids = _scope_unit_ids(principal)
    return select(Action.id).where(or_(Action.lead_unit_id.in_(ids), Action.taskforce_unit_id.in_(ids)))


def task_filter(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause restricting tasks to the principal's scope; None when it sees them all."""
    if district_wide(principal):
        return None
    return or_(
        Task.responsible_unit_id.in_(_scope_unit_ids(principal)),
        Task.action_id.in_(led_action_ids(principal)),
    )


def problem_filter(principal: Principal) -> ColumnElement[bool] | None:
    if district_wide(principal):
        return None
    visible_tasks = select(Task.id).where(task_filter(principal))  # type: ignore[arg-type]
    return or_(
        Problem.responsible_unit_id.in_(_scope_unit_ids(principal)),
        Problem.action_id.in_(led_action_ids(principal)),
        Problem.task_id.in_(visible_tasks),
    )


def notice_filter(principal: Principal) -> ColumnElement[bool] | None:
    if district_wide(principal):
        return None
    visible_tasks = select(Task.id).where(task_filter(principal))  # type: ignore[arg-type]
    return or_(Notice.to_unit_id.in_(_scope_unit_ids(principal)), Notice.task_id.in_(visible_tasks))


def leads(principal: Principal, action: Action) -> bool:
    """True when the principal's scope holds the action's lead department or task force."""
    if district_wide(principal):
        return True
    units = [action.lead_unit, action.taskforce_unit]
    return any(u is not None and principal.sees_path(u.path) for u in units)


def responsible_for(principal: Principal, unit: Unit) -> bool:
    """True when ``unit`` (a task's or problem's responsible unit) is in the principal's scope."""
    return district_wide(principal) or principal.sees_path(unit.path)
