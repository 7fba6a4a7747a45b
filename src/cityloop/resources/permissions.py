"""Who may do what with idle spaces and industrial buildings. Nothing here is public: owners,
conditions, tax and output figures are commercial and fiscal data, so citizens see none of it."""

from cityloop.core.permissions import STAFF, Role, register

RESOURCES_READ = register("resources.read", STAFF)
# Streets register and update the idle spaces and buildings in their own area.
RESOURCES_WRITE = register("resources.write", {Role.admin, Role.supervisor, Role.street})
GRADING_WRITE = register("resources.grading", {Role.admin})
