"""Which cases an account may see and act on.

Read: district-wide roles see every case; other staff see cases dispatched to a unit in their subtree
or located in an area (grid, street/town) of their subtree; a citizen sees the cases they reported.
Act: stricter, by the role's scope mode in ``states.ROLE_SCOPE`` (a street's staff handle what was
dispatched to their street, not every case that happens to lie in it).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from cityloop.cases.models import Case
from cityloop.cases.routing import Areas
from cityloop.cases.states import ROLE_SCOPE, SYSTEM, Scope
from cityloop.core import audit
from cityloop.core.permissions import Principal
from cityloop.org.models import Unit

Actor = Principal | audit.Actor


def role_of(actor: Actor | None) -> str:
    return actor.role.value if isinstance(actor, Principal) else SYSTEM


def _path(case: Case, name: str, units: Areas | None) -> str | None:
    """The unit's path, from the cached area index when given (no lazy load), else the relationship."""
    unit_id = getattr(case, f"{name}_id")
    if unit_id is None:
        return None
    if units is not None and unit_id in units.by_id:
        return units.by_id[unit_id].path
    unit = getattr(case, name)
    return unit.path if unit is not None else None


def _in(principal: Principal, case: Case, names: tuple[str, ...], units: Areas | None) -> bool:
    for name in names:
        path = _path(case, name, units)
        if path is not None and path.startswith(principal.scope_path):
            return True
    return False


def can_see(principal: Principal, case: Case, units: Areas | None = None) -> bool:
    mode = ROLE_SCOPE[principal.role]
    if mode is Scope.district:
        return True
    if mode is Scope.reporter:
        return case.reporter_user_id == principal.user_id
    return _in(principal, case, ("unit", "grid", "street"), units)


def can_act(actor: Actor, case: Case, units: Areas | None = None) -> bool:
    if not isinstance(actor, Principal):
        return True  # system actors (worker, sensors) are trusted code paths
    mode = ROLE_SCOPE[actor.role]
    if mode is Scope.district:
        return True
    if mode is Scope.reporter:
        return case.reporter_user_id == actor.user_id
    if mode is Scope.unit:
        return _in(actor, case, ("unit",), units)
    return _in(actor, case, ("grid", "street"), units)


def unit_ids_in_scope(session: Session, principal: Principal) -> list[int]:
    stmt = select(Unit.id).where(Unit.path.startswith(principal.scope_path))
    return list(session.execute(stmt).scalars())


def read_clause(session: Session, principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause limiting a case query to what ``principal`` may read (index-friendly)."""
    mode = ROLE_SCOPE[principal.role]
    if mode is Scope.district:
        return true()
    if mode is Scope.reporter:
        return Case.reporter_user_id == principal.user_id
    ids = unit_ids_in_scope(session, principal)
    return or_(Case.unit_id.in_(ids), Case.grid_id.in_(ids), Case.street_id.in_(ids))
