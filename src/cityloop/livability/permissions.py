"""Who may do what in the 15-minute circle. Scope (which street's rows) is checked separately.

Facilities are a public directory (any signed-in account, citizens included, sees every facility):
where the nearest clinic or canteen is, is what residents need to know and is on every public map.
Residential areas, their elderly counts and the coverage analysis are not public: elderly counts
per compound would point fraudsters at the elderly, and gaps are planning material.
"""

from cityloop.core.permissions import STAFF, Role, register

LIVABILITY_PUBLIC = register("livability.facilities.read", set(Role))
LIVABILITY_READ = register("livability.read", STAFF)
# Streets keep their own compounds and facilities up to date, within their own area.
LIVABILITY_WRITE = register("livability.write", {Role.admin, Role.supervisor, Role.street})
LIVABILITY_TYPES = register("livability.types", {Role.admin})
LIVABILITY_NETWORK = register("livability.network", {Role.admin})
# District-wide computations and plans: the district roles that plan and supervise.
LIVABILITY_ANALYSE = register("livability.analyse", {Role.admin, Role.supervisor, Role.leader})
LIVABILITY_PROPOSE = register("livability.propose_task", {Role.admin, Role.supervisor, Role.leader})
