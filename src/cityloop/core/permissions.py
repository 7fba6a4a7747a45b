"""Roles, permissions and scope.

A permission names something a role may do (``"org.write"``); each domain registers its own in its
``permissions.py`` at import. Scope is separate: an account sees its unit and the units below it;
district-level roles (the command centre, the task-force office, leaders, administrators) see the
whole district; a citizen sees only what they themselves sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cityloop.core.errors import Forbidden


class Role(StrEnum):
    admin = "admin"
    supervisor = "supervisor"
    leader = "leader"
    department = "department"
    street = "street"
    dispatcher = "dispatcher"
    inspector = "inspector"
    enforcement = "enforcement"
    operator = "operator"
    citizen = "citizen"


STAFF = frozenset(Role) - {Role.citizen}
# Roles whose scope is the whole district whatever unit the account is filed under.
DISTRICT_WIDE = frozenset({Role.admin, Role.supervisor, Role.leader, Role.dispatcher})

_PERMISSIONS: dict[str, frozenset[Role]] = {}


def register(name: str, roles: frozenset[Role] | set[Role]) -> str:
    """Declare which roles hold a permission. Domains call this once per permission at import."""
    _PERMISSIONS[name] = frozenset(roles)
    return name


def roles_with(name: str) -> frozenset[Role]:
    return _PERMISSIONS.get(name, frozenset())


@dataclass(frozen=True)
class Principal:
    """Who is acting: an account with its role and the unit subtree it may see."""

    user_id: int
    username: str
    display_name: str
    role: Role
    unit_id: int
    unit_path: str
    scope_path: str  # materialised path prefix of everything this account may see
    locale: str = "zh-CN"

    @property
    def is_citizen(self) -> bool:
        return self.role is Role.citizen

    def can(self, permission: str) -> bool:
        return self.role in roles_with(permission)

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden("error.forbidden_permission", permission=permission)

    def sees_path(self, path: str) -> bool:
        """True when a unit with materialised ``path`` lies inside this account's scope."""
        return not self.is_citizen and path.startswith(self.scope_path)


# The foundation's own permissions.
ORG_READ = register("org.read", STAFF)
ORG_WRITE = register("org.write", {Role.admin})
USERS_READ = register("users.read", {Role.admin, Role.supervisor})
USERS_WRITE = register("users.write", {Role.admin})
AUDIT_READ = register("audit.read", {Role.admin, Role.supervisor})
