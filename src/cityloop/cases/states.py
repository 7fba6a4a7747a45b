"""The case loop of GB/T 30428 as ONE table: (state, action) → new state, who may do it, and how.

collect (上报) → register (立案) or void (作废) → dispatch (派遣) → handle (处置: accept, progress,
extension 延期, return 退回, park 挂账) → feedback (处理反馈) → verify (核查: pass, or fail = rework 返工)
→ close (结案) → evaluate (评价). Everything else in the domain (the API, pages, Open311, the worker,
indicators) reads this table instead of repeating it.

Who may act is the role; *on which case* is the role's scope mode (``ROLE_SCOPE``): a unit's staff act
on cases dispatched to a unit in their subtree, inspectors on cases located in their grid/street, a
citizen on cases they reported themselves, district-wide roles on every case.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cityloop.core.permissions import Role


class State(StrEnum):
    reported = "reported"  # 上报, awaiting registration (待立案)
    registered = "registered"  # 立案, awaiting dispatch (待派遣)
    dispatched = "dispatched"  # 派遣, awaiting acceptance by the unit (待受理)
    handling = "handling"  # 处置中
    extension_requested = "extension_requested"  # 延期申请中
    park_requested = "park_requested"  # 挂账申请中
    parked = "parked"  # 挂账: long-term, no clock running
    returned = "returned"  # 退回, awaiting re-dispatch
    feedback = "feedback"  # 处理反馈, awaiting verification (待核查)
    verified = "verified"  # 核查通过, awaiting closure (待结案)
    closed = "closed"  # 结案
    voided = "voided"  # 作废
    merged = "merged"  # 合并 into a parent case (duplicate)


class Action(StrEnum):
    register = "register"
    void = "void"
    dispatch = "dispatch"
    accept = "accept"
    progress = "progress"
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    deny_extension = "deny_extension"
    request_park = "request_park"
    approve_park = "approve_park"
    deny_park = "deny_park"
    resume = "resume"
    return_ = "return"
    feedback = "feedback"
    verify_pass = "verify_pass"
    verify_fail = "verify_fail"
    close = "close"
    merge = "merge"
    rate = "rate"
    note = "note"


CLOSED_STATES = frozenset({State.closed, State.voided, State.merged})
OPEN_STATES = frozenset(State) - CLOSED_STATES
# The unit holds the case (its handling clock runs or is paused by a pending request).
WITH_UNIT = frozenset({State.dispatched, State.handling, State.extension_requested, State.park_requested})
# Open311 and the public page speak in two words.
PUBLIC_STATUS = {s: ("closed" if s in CLOSED_STATES else "open") for s in State}

SYSTEM = "system"  # sensors, the worker, other domains acting through the service layer


class Scope(StrEnum):
    district = "district"  # every case
    unit = "unit"  # the responsible unit lies in the account's subtree
    area = "area"  # the case's grid or street lies in the account's subtree
    reporter = "reporter"  # the account reported the case


ROLE_SCOPE: dict[str, Scope] = {
    Role.admin: Scope.district,
    Role.supervisor: Scope.district,
    Role.leader: Scope.district,
    Role.dispatcher: Scope.district,
    Role.department: Scope.unit,
    Role.street: Scope.unit,
    Role.enforcement: Scope.unit,
    Role.operator: Scope.unit,
    Role.inspector: Scope.area,
    Role.citizen: Scope.reporter,
    SYSTEM: Scope.district,
}

DISPATCH = frozenset({Role.dispatcher.value, SYSTEM})
UNIT = frozenset({Role.department.value, Role.street.value, Role.enforcement.value, Role.operator.value})
VERIFY = frozenset({Role.inspector.value, Role.dispatcher.value, Role.citizen.value, SYSTEM})
STAFF_NOTE = frozenset(r.value for r in Role if r is not Role.citizen) | {SYSTEM}


@dataclass(frozen=True)
class Transition:
    state: State
    action: Action
    to: State
    roles: frozenset[str]
    # What the actor must send besides the version (checked before anything changes).
    needs: tuple[str, ...] = ()
    # Visible on the public tracking page.
    public: bool = True
    # Reached only through its own endpoint (merge, rating), not /actions/{action}.
    own_endpoint: bool = False


def _t(
    states: tuple[State, ...],
    action: Action,
    to: State | None,
    roles: frozenset[str],
    needs: tuple[str, ...] = (),
    *,
    public: bool = True,
    own_endpoint: bool = False,
) -> list[Transition]:
    return [Transition(s, action, to or s, roles, needs, public, own_endpoint) for s in states]


S = State
A = Action
_ROWS: list[Transition] = [
    *_t((S.reported,), A.register, S.registered, DISPATCH),
    *_t((S.reported,), A.void, S.voided, DISPATCH, ("reason",)),
    *_t((S.registered, S.returned), A.dispatch, S.dispatched, DISPATCH),
    *_t((S.dispatched,), A.accept, S.handling, UNIT | {SYSTEM}),
    *_t((S.dispatched, S.handling), A.return_, S.returned, UNIT, ("reason",), public=False),
    *_t((S.handling,), A.progress, None, UNIT | DISPATCH, ("note",)),
    *_t((S.handling,), A.request_extension, S.extension_requested, UNIT, ("hours", "reason"), public=False),
    *_t((S.extension_requested,), A.approve_extension, S.handling, DISPATCH, public=False),
    *_t((S.extension_requested,), A.deny_extension, S.handling, DISPATCH, public=False),
    *_t((S.handling,), A.request_park, S.park_requested, UNIT, ("reason",), public=False),
    *_t((S.park_requested,), A.approve_park, S.parked, DISPATCH),
    *_t((S.park_requested,), A.deny_park, S.handling, DISPATCH, public=False),
    *_t((S.parked,), A.resume, S.handling, DISPATCH),
    *_t((S.handling,), A.feedback, S.feedback, UNIT | {SYSTEM}, ("note",)),
    *_t((S.feedback,), A.verify_pass, S.verified, VERIFY),
    *_t((S.feedback,), A.verify_fail, S.handling, VERIFY, ("reason",)),
    *_t((S.verified,), A.close, S.closed, DISPATCH),
    *_t((S.reported, S.registered, S.returned), A.merge, S.merged, DISPATCH, own_endpoint=True),
    *_t((S.closed,), A.rate, None, frozenset({Role.citizen.value, Role.dispatcher.value}), own_endpoint=True),
    *_t(tuple(State), A.note, None, STAFF_NOTE, ("note",), public=False),
]

TRANSITIONS: dict[tuple[State, Action], Transition] = {(t.state, t.action): t for t in _ROWS}


def find(state: str, action: str) -> Transition | None:
    """The row for doing ``action`` in ``state``, or None when the table has none."""
    try:
        return TRANSITIONS.get((State(state), Action(action)))
    except ValueError:
        return None


def actions_from(state: str, role: str) -> list[Action]:
    """Actions the table offers ``role`` in ``state`` (scope still decides per case)."""
    return [t.action for t in _ROWS if t.state == state and role in t.roles]


def states_allowing(action: str) -> list[State]:
    return [t.state for t in _ROWS if t.action == action]
