"""The transition table itself: complete, reachable, and every row names real roles."""

from cityloop.cases.states import CLOSED_STATES, TRANSITIONS, Action, State, actions_from, find
from cityloop.core.permissions import Role

ROLES = {r.value for r in Role} | {"system"}


def test_every_open_state_has_a_way_forward_and_closed_states_stay_closed() -> None:
    for state in State:
        moves = {t.to for (s, _), t in TRANSITIONS.items() if s == state and t.to != state}
        if state in CLOSED_STATES:
            assert moves == set(), state
        else:
            assert moves, f"{state} is a dead end"


def test_every_state_is_reachable_from_reported() -> None:
    seen, todo = {State.reported}, [State.reported]
    while todo:
        s = todo.pop()
        for (frm, _), t in TRANSITIONS.items():
            if frm == s and t.to not in seen:
                seen.add(t.to)
                todo.append(t.to)
    assert seen == set(State)


def test_rows_name_known_roles_and_the_gb_t_30428_order_holds() -> None:
    assert all(t.roles and t.roles <= ROLES for t in TRANSITIONS.values())
    assert find("reported", "dispatch") is None  # no dispatch before registration
    assert find("handling", "close") is None  # no closure without verification
    assert find("feedback", "verify_fail").to == State.handling
    assert Action.accept in actions_from("dispatched", "street")
    assert Action.accept not in actions_from("dispatched", "dispatcher")
    assert find("nonsense", "register") is None and find("reported", "nonsense") is None
