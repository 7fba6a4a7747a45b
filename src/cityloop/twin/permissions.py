"""Who may do what in the twin. Scope is separate: a network belongs to its operator unit, so an
operator sees their utility's networks, district-wide roles see all, citizens see nothing."""

from __future__ import annotations

from cityloop.core.permissions import STAFF, Role, register

TWIN_READ = register("twin.read", STAFF)
TWIN_WRITE = register("twin.write", {Role.admin, Role.operator})
# Sensor gateways post readings with an operator (or admin) account's token.
TELEMETRY_WRITE = register("twin.telemetry", {Role.admin, Role.operator})
DEAD_LETTERS_READ = register("twin.dead_letters", {Role.admin, Role.supervisor})
