"""The task's plan → dispatch → acceptance machine, as a table: (state, action) → new state.

Who may take an action is the permission next to it; *which* task they may take it on (their own
responsibility, an action they lead) is checked by the workflow functions.
"""

from __future__ import annotations

from cityloop.core.errors import Conflict
from cityloop.programme import permissions as perm
from cityloop.programme.models import TaskState as S

TRANSITIONS: dict[tuple[S, str], S] = {
    (S.planned, "report"): S.in_progress,
    (S.in_progress, "report"): S.in_progress,
    (S.returned, "report"): S.returned,
    (S.in_progress, "submit"): S.submitted,
    (S.returned, "submit"): S.submitted,
    (S.submitted, "pass"): S.accepted,
    (S.submitted, "fail"): S.returned,
}

PERMISSION = {"report": perm.REPORT, "submit": perm.REPORT, "pass": perm.ACCEPT, "fail": perm.ACCEPT}

# Tasks that still count as open work for supervision.
OPEN_STATES = frozenset({S.planned, S.in_progress, S.returned, S.submitted})


def next_state(state: str, action: str) -> S:
    """The state after ``action``, or 409 naming the state the task is in."""
    try:
        return TRANSITIONS[(S(state), action)]
    except (KeyError, ValueError):
        raise Conflict("error.programme.transition", state=state, action=action) from None


def allowed(state: str) -> list[str]:
    """The actions the task's state admits (for showing the right buttons)."""
    return [a for (s, a) in TRANSITIONS if s.value == state]
