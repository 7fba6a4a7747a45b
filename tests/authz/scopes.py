"""The words of the authorization table: who calls (roles, accounts) and what makes a record theirs (scopes).

Everything here is written out, not imported from ``cityloop``: the table is the documented rule the code
is held to, so a permission that loses a role or a scope check that goes missing in the code shows up
as a difference instead of changing the expectation along with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ANON = "anonymous"
ROLES = (
    "admin",
    "supervisor",
    "leader",
    "department",
    "street",
    "dispatcher",
    "inspector",
    "enforcement",
    "operator",
    "citizen",
)

# Role sets the rows name (frozen sets of role names; ``ANON`` is the caller without credentials).
PUBLIC = frozenset((*ROLES, ANON))
SIGNED_IN = frozenset(ROLES)
STAFF = SIGNED_IN - {"citizen"}
DISTRICT = frozenset({"admin", "supervisor", "leader", "dispatcher"})  # the whole district, whatever unit
OFFICE = frozenset({"admin", "supervisor"})  # 总专班: the task-force office and administrators
ADMIN = frozenset({"admin"})
PROGRAMME = OFFICE | {"leader", "department", "street"}  # the three tiers of the ten actions
UNIT_STAFF = frozenset({"department", "street", "enforcement", "operator"})  # units that handle cases
NAMED_SETS = {
    PUBLIC: "anyone (no sign-in)",
    SIGNED_IN: "every signed-in role",
    STAFF: "every staff role (not citizen)",
    DISTRICT: "district roles",
    OFFICE: "office",
    PROGRAMME: "programme roles",
}


@dataclass(frozen=True)
class Account:
    """One caller of the matrix: a demo account (or an extra one the matrix adds) or nobody."""

    username: str
    role: str
    user_id: int = 0
    unit_path: str = ""
    unit_code: str = ""
    note: str = ""
    # A department whose subtree holds the lead unit or the task force (tf-shq) of the 15-minute-circle
    # action: worked out from the programme's data when the world is built.
    leads_15min: bool = False

    @property
    def anonymous(self) -> bool:
        return self.role == ANON

    @property
    def district(self) -> bool:
        return self.role in DISTRICT

    def holds(self, path: str | None) -> bool:
        """The unit at ``path`` lies in this account's subtree (district roles: every unit)."""
        if path is None or self.role in (ANON, "citizen"):
            return False
        return self.district or path.startswith(self.unit_path)


@dataclass(frozen=True)
class Who:
    """An allowance beyond the role: e.g. the department that leads the 15-minute-circle action."""

    text: str
    test: Callable[[Account], bool]


@dataclass(frozen=True)
class Scope:
    """What makes a record in or out of a caller's scope; ``sees(account, facts)`` is the rule."""

    name: str
    text: str
    sees: Callable[[Account, dict[str, Any]], bool] = field(compare=False)
    never: str | None = None  # a facts key: text no caller may ever be shown (public views)
    reads: Scope | None = None  # for a scope of acting: the scope of seeing the record at all

    def visible(self, a: Account, facts: dict[str, Any]) -> bool:
        """May ``a`` be shown the record (a refusal to act may still show what the caller may read)?"""
        return (self.reads or self).sees(a, facts)

    @property
    def hidden_key(self) -> str | None:
        return (self.reads or self).never


def _case_read(a: Account, f: dict[str, Any]) -> bool:
    if a.district:
        return True
    if a.role == "citizen":
        return f["reporter_id"] == a.user_id
    return any(a.holds(p) for p in (f["unit_path"], f["grid_path"], f["street_path"]))


def _case_act(a: Account, f: dict[str, Any]) -> bool:
    if a.district:
        return True
    if a.role == "citizen":
        return f["reporter_id"] == a.user_id
    if a.role == "inspector":
        return any(a.holds(p) for p in (f["grid_path"], f["street_path"]))
    return a.holds(f["unit_path"])


def _leads(a: Account, f: dict[str, Any]) -> bool:
    return a.district or any(a.holds(p) for p in f["lead_paths"])


def _task_read(a: Account, f: dict[str, Any]) -> bool:
    return a.district or a.holds(f["responsible_path"]) or _leads(a, f)


def _problem_read(a: Account, f: dict[str, Any]) -> bool:
    return _task_read(a, f) or (f["task"] is not None and _task_read(a, f["task"]))


def _notice_read(a: Account, f: dict[str, Any]) -> bool:
    return a.district or a.holds(f["to_path"]) or _task_read(a, f["task"])


def _lead_department(a: Account) -> bool:
    return a.role == "department" and a.leads_15min


LEAD_15MIN = Who(
    "the department leading the 15-minute-circle action (demo: 民政局, account `mzj`)", _lead_department
)

SUBTREE = Scope(
    "subtree",
    "the record's unit (the unit itself; a network's, sensor's or warning's utility; an area's, "
    "facility's, space's or building's street/town; an account's or person's unit) lies in the caller's "
    "unit subtree (`units.path` prefix); district roles see the whole district",
    lambda a, f: a.holds(f["unit_path"]),
)
LIVABILITY_VIEW = Scope(
    "livability",
    "subtree, except that the department leading the 15-minute-circle action reads district-wide",
    lambda a, f: a.holds(f["unit_path"]) or _lead_department(a),
)
PLACE = Scope(
    "place",
    "a new record at a point: the street/town containing the point lies in the caller's subtree "
    "(refused with 422 `places.outside_scope`)",
    lambda a, f: a.holds(f["unit_path"]),
)
CASE_READ = Scope(
    "case-read",
    "district roles: every case; other staff: the responsible unit, the grid or the street/town of the case "
    "lies in their subtree; a citizen: the cases they reported",
    _case_read,
)
CASE_ACT = Scope(
    "case-act",
    "district roles: every case; a unit's staff: the case was dispatched to a unit in their subtree; an "
    "inspector: the case lies in their grid/street; a citizen: the cases they reported (and the loop "
    "table `cases/states.py` decides which role may take which step in which state)",
    _case_act,
    reads=CASE_READ,
)
CASE_PUBLIC = Scope(
    "public-case",
    "any case by its tracking number, but never the reporter's name, phone or words",
    lambda a, f: True,
    never="private",
)
OPEN311_PUBLIC = Scope(
    "open311",
    "any case (GeoReport v2 publishes the description), never the reporter's name or phone",
    lambda a, f: True,
    never="personal",
)
OPEN_CASE = Scope(
    "open-case",
    "any open case a citizen did not report themselves (found on the public map)",
    lambda a, f: f["open"] and f["reporter_id"] != a.user_id,
    reads=CASE_PUBLIC,
)
OWN_REPORTS = Scope(
    "own-reports",
    "the cases the caller reported themselves",
    lambda a, f: f["reporter_id"] == a.user_id,
)
INBOX = Scope(
    "inbox",
    "cases dispatched to a unit in the caller's subtree (departments, streets/towns, squadrons, utilities)",
    lambda a, f: a.role in UNIT_STAFF and a.holds(f["unit_path"]),
)
TASK_READ = Scope(
    "task",
    "district roles: every task; others: the task's responsible unit lies in their subtree, or they lead "
    "its action (the action's lead department or task force lies in their subtree)",
    _task_read,
)
TASK_LEAD = Scope(
    "task-lead",
    "the caller leads the task's action (district roles: every action)",
    lambda a, f: _task_read(a, f) and _leads(a, f),
    reads=TASK_READ,
)
ACTIONS = Scope("actions", "every programme role sees every action", lambda a, f: a.role in PROGRAMME)
ACTION_LEAD = Scope(
    "action-lead", "the caller leads the action (district roles: every action)", _leads, reads=ACTIONS
)
TASK_RESPONSIBLE = Scope(
    "task-responsible",
    "the task's responsible unit lies in the caller's subtree (district roles: every task)",
    lambda a, f: a.district or a.holds(f["responsible_path"]),
    reads=TASK_READ,
)
TASK_ACCEPT = Scope(
    "task-accept",
    "the caller leads the task's action and is not the responsible unit itself (no self-acceptance)",
    lambda a, f: _leads(a, f) and (a.district or not a.holds(f["responsible_path"])),
    reads=TASK_READ,
)
PROBLEM_READ = Scope(
    "problem",
    "district roles: every problem; others: its responsible unit lies in their subtree, they lead its "
    "action, or they see its task",
    _problem_read,
)
PROBLEM_RESPONSIBLE = Scope(
    "problem-responsible",
    "the problem's responsible unit lies in the caller's subtree (district roles: every problem)",
    lambda a, f: a.district or a.holds(f["responsible_path"]),
    reads=PROBLEM_READ,
)
PROBLEM_CLOSE = Scope(
    "problem-close",
    "the caller leads the problem's action and is not filed under its responsible unit (no self-approval)",
    lambda a, f: (
        _problem_read(a, f)
        and _leads(a, f)
        and (a.district or not a.unit_path.startswith(f["responsible_path"]))
    ),
    reads=PROBLEM_READ,
)
NOTICE_READ = Scope(
    "notice",
    "district roles: every notice; others: addressed to a unit in their subtree, or about a task they see",
    _notice_read,
)
NOTICE_RESPONSIBLE = Scope(
    "notice-reply",
    "the notice is addressed to a unit in the caller's subtree (district roles: every notice)",
    lambda a, f: a.district or a.holds(f["to_path"]),
    reads=NOTICE_READ,
)
EVIDENCE = Scope(
    "evidence",
    "follows what the file belongs to: its task (task scope) or its problem (problem scope)",
    lambda a, f: _problem_read(a, f["owner"]) if f["kind"] == "problem" else _task_read(a, f["owner"]),
)
HOTSPOT = Scope(
    "hotspot",
    "district roles: every hotspot; others: the hotspot's street/town lies in their subtree",
    lambda a, f: a.holds(f["street_path"]),
)
PROPOSAL = Scope(
    "proposal",
    "the office (admin, supervisor): every proposal; others: the caller is filed under the special task "
    "force of the proposal's action",
    lambda a, f: (
        a.role in OFFICE or (a.role not in (ANON, "citizen") and a.unit_path.startswith(f["tf_path"]))
    ),
)
SCOPES = [
    SUBTREE,
    LIVABILITY_VIEW,
    PLACE,
    CASE_READ,
    CASE_ACT,
    CASE_PUBLIC,
    OPEN311_PUBLIC,
    OPEN_CASE,
    OWN_REPORTS,
    INBOX,
    TASK_READ,
    TASK_LEAD,
    ACTIONS,
    ACTION_LEAD,
    TASK_RESPONSIBLE,
    TASK_ACCEPT,
    PROBLEM_READ,
    PROBLEM_RESPONSIBLE,
    PROBLEM_CLOSE,
    NOTICE_READ,
    NOTICE_RESPONSIBLE,
    EVIDENCE,
    HOTSPOT,
    PROPOSAL,
]
