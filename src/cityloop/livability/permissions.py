"""Who may do what in the 15-minute circle. Scope (which street's rows) is checked separately.

Facilities are a public directory (any signed-in account, citizens included, sees every facility):
where the nearest clinic or canteen is, is what residents need to know and is on every public map.
Residential areas, their elderly counts and the coverage analysis are not public: elderly counts
per compound would point fraudsters at the elderly, and gaps are planning material.
"""

from dataclasses import replace
from typing import Any

from cityloop.core.permissions import STAFF, Principal, Role, register

LIVABILITY_PUBLIC = register("livability.facilities.read", set(Role))
LIVABILITY_READ = register("livability.read", STAFF)
# Streets keep their own compounds and facilities up to date, within their own area.
LIVABILITY_WRITE = register("livability.write", {Role.admin, Role.supervisor, Role.street})
LIVABILITY_TYPES = register("livability.types", {Role.admin})
LIVABILITY_NETWORK = register("livability.network", {Role.admin})
# District-wide computations and plans: the district roles that plan and supervise.
LIVABILITY_ANALYSE = register("livability.analyse", {Role.admin, Role.supervisor, Role.leader})
LIVABILITY_PROPOSE = register("livability.propose_task", {Role.admin, Role.supervisor, Role.leader})


# --- the department that leads the 15-minute-circle action ------------------------------------------
# Scope rule (docs/decisions/0006-livability.md, "Lead department"): the programme's three-tier chain
# gives a department every task of the actions it leads. For the 15-minute circle the planning
# material is the coverage and the site plans, so a department whose scope holds the lead unit or
# the task force of that action (demo: 民政局 leads “15分钟高品质生活服务圈”) reads coverage and gaps
# district-wide, sees the site plans and makes the one-click task. It does not run analyses, make
# plans or edit streets' data. Other departments still see only their own subtree (usually nothing).


def leads_the_action(session: Any, principal: Principal) -> bool:
    if principal.role is not Role.department:
        return False
    from cityloop.core.errors import AppError
    from cityloop.livability.task_bridge import find_action
    from cityloop.programme.permissions import leads

    try:
        action = find_action(session)
    except AppError:
        return False
    return leads(principal, action)


def view_of(session: Any, principal: Principal) -> Principal:
    """The principal livability reads with: the lead department reads district-wide."""
    if not leads_the_action(session, principal):
        return principal
    from sqlalchemy import select

    from cityloop.org.models import Unit, UnitKind

    root = session.execute(
        select(Unit.path).where(Unit.kind == UnitKind.district.value).order_by(Unit.path).limit(1)
    ).scalar_one_or_none()
    return replace(principal, scope_path=root) if root else principal


def can_see_plans(session: Any, principal: Principal) -> bool:
    return principal.can(LIVABILITY_ANALYSE) or leads_the_action(session, principal)


def can_propose(session: Any, principal: Principal) -> bool:
    return principal.can(LIVABILITY_PROPOSE) or leads_the_action(session, principal)


def require_plans(session: Any, principal: Principal) -> None:
    if not can_see_plans(session, principal):
        principal.require(LIVABILITY_ANALYSE)


def require_propose(session: Any, principal: Principal) -> None:
    if not can_propose(session, principal):
        principal.require(LIVABILITY_PROPOSE)
