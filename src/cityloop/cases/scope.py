"""Which cases an account may see and act on.

Read: district-wide roles see every case; other staff see cases dispatched to a unit in their subtree
or located in an area (grid, street/town) of their subtree; a citizen sees the cases they reported.
Act: stricter, by the role's scope mode in ``states.ROLE_SCOPE`` (a street's staff handle what was
dispatched to their street, not every case that happens to lie in it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from cityloop.cases.models import Case
from cityloop.cases.states import ROLE_SCOPE, SYSTEM, Scope
from cityloop.core import audit
from cityloop.core.permissions import Principal
from cityloop.org.models import Unit

Actor = Principal | audit.Actor


def role_of(actor: Actor | None) -> str:
    return actor.role.value if isinstance(actor, Principal) else SYSTEM


def _in(principal: Principal, *units: Any) -> bool:
    return any(u is not None and u.path.startswith(principal.scope_path) for u in units)


def can_see(principal: Principal, case: Case) -> bool:
    mode = ROLE_SCOPE[principal.role]
    if mode is Scope.district:
        return True
    if mode is Scope.reporter:
        return case.reporter_user_id == principal.user_id
    return _in(principal, case.unit, case.grid, case.street)


def can_act(actor: Actor, case: Case) -> bool:
    if not isinstance(actor, Principal):
        return True  # system actors (worker, sensors) are trusted code paths
    mode = ROLE_SCOPE[actor.role]
    if mode is Scope.district:
        return True
    if mode is Scope.reporter:
        return case.reporter_user_id == actor.user_id
    if mode is Scope.unit:
        return _in(actor, case.unit)
    return _in(actor, case.grid, case.street)


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
