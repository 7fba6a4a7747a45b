"""Who may see and do what with case intelligence.

- Suggestions: any staff account that may see the case (the case's own scope rules decide).
- Manual triage list and model versions (read): the dispatchers and the district roles over them;
  activating or training a version: administrators.
- Hotspots: district-wide roles see all; a street/town or department account sees those located in
  its own subtree.
- Proposals (demand → action): the task-force office (admin, supervisor) for every action, and an
  account filed under an action's special task force for that action only.
"""

from __future__ import annotations

from cityloop.core.permissions import DISTRICT_WIDE, STAFF, Principal, Role, register
from cityloop.programme.models import Action

OFFICE = frozenset({Role.admin, Role.supervisor})

SUGGESTIONS = register("insight.suggestions.read", STAFF)
TRIAGE = register("insight.triage", {Role.admin, Role.supervisor, Role.dispatcher})
MODELS_READ = register("insight.models.read", {Role.admin, Role.supervisor, Role.dispatcher})
MODELS_MANAGE = register("insight.models.manage", {Role.admin})
HOTSPOTS = register(
    "insight.hotspots.read",
    {Role.admin, Role.supervisor, Role.leader, Role.dispatcher, Role.department, Role.street},
)
PROPOSALS = register("insight.proposals", {Role.admin, Role.supervisor, Role.department, Role.street})


def district_wide(principal: Principal) -> bool:
    return principal.role in DISTRICT_WIDE


def on_taskforce(principal: Principal, action: Action) -> bool:
    """True for the office, and for an account filed under ``action``'s special task force."""
    if not principal.can(PROPOSALS):
        return False
    if principal.role in OFFICE:
        return True
    tf = action.taskforce_unit
    return tf is not None and principal.unit_path.startswith(tf.path)
