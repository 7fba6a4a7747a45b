"""What each role may do with cases. Which *case* is decided by scope (``states.ROLE_SCOPE``)."""

from __future__ import annotations

from cityloop.core.permissions import Role, register

# Report a problem: every account (a citizen only through the web/app channels).
CASES_REPORT = register("cases.report", set(Role))
# Read cases: staff in scope; a citizen reads only what they reported (scope "reporter").
CASES_READ = register("cases.read", set(Role))
# See the whole queue with duplicates offered, merge duplicates.
CASES_DISPATCH = register("cases.dispatch", {Role.dispatcher})
CASES_ATTACH = register("cases.attach", set(Role))
CASES_RATE = register("cases.rate", {Role.citizen, Role.dispatcher})
CASES_SUPPORT = register("cases.support", {Role.citizen})
ROUTING_READ = register("cases.routing.read", {Role.admin, Role.dispatcher, Role.supervisor})
ROUTING_WRITE = register("cases.routing.write", {Role.admin})
CATEGORIES_WRITE = register("cases.categories.write", {Role.admin})
# The pages: the queue/inbox lists (staff, each in their scope) and the overdue list (督办).
CASES_QUEUE = register("cases.queue", set(Role) - {Role.citizen})
CASES_SUPERVISE = register("cases.supervise", {Role.admin, Role.supervisor, Role.leader, Role.dispatcher})
# Indicators (按时派遣率 …): district-wide roles for the district, a unit's staff for their own subtree.
CASES_INDICATORS = register(
    "cases.indicators",
    {Role.admin, Role.supervisor, Role.leader, Role.dispatcher, Role.department, Role.street}
    | {Role.enforcement, Role.operator},
)
