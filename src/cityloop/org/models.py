"""The district's organisation: units in a tree, the people in them, and their accounts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cityloop.core.clock import now
from cityloop.core.db import Base, IdMixin, JSONDoc, UTCDateTime


class UnitKind(StrEnum):
    district = "district"
    leadership = "leadership"  # 区领导
    general_taskforce = "general_taskforce"  # 总专班
    special_taskforce = "special_taskforce"  # 专项专班
    department = "department"  # 部门
    street = "street"  # 街道
    town = "town"  # 镇
    community = "community"  # 社区
    grid = "grid"  # 网格
    enforcement_team = "enforcement_team"  # 综合执法大队
    enforcement_squadron = "enforcement_squadron"  # 执法中队
    utility = "utility"  # 供水/排水/燃气 operators


# Kinds that are areas of the district and may carry a polygon.
AREA_KINDS = frozenset({UnitKind.district, UnitKind.street, UnitKind.town, UnitKind.community, UnitKind.grid})


class Unit(IdMixin, Base):
    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    name_en: Mapped[str | None] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    # Materialised path of ids, "/1/4/27/": scope checks are a prefix match, no recursive query.
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # True for the demo's drawn shapes; an import of real boundaries sets it False.
    geometry_schematic: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who administers the area when it is not the district itself (e.g. 重庆高新区 for six towns).
    administered_by: Mapped[str | None] = mapped_column(String(120))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    parent: Mapped[Unit | None] = relationship(remote_side="Unit.id", lazy="joined", join_depth=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Person(IdMixin, Base):
    """A named member of staff (责任到人); may or may not have an account."""

    __tablename__ = "people"

    name: Mapped[str] = mapped_column(String(80), index=True)
    title: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)

    unit: Mapped[Unit] = relationship(lazy="joined")


class User(IdMixin, Base):
    """An account: signs in, holds one role, belongs to one unit."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(30), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Unused since 0016: failed sign-ins are counted in ``login_throttle`` (org/throttle.py). Kept so
    # that SQLite need not rebuild the table every account refers to.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    # Set by an administrator ("lock for N minutes"): no sign-in, no session, no token until then.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped whenever the account's sessions are ended (password, role, deactivation, lock, "sign out
    # everywhere"); a session made under an older epoch is refused even if its row was missed.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now, onupdate=now)

    unit: Mapped[Unit] = relationship(lazy="joined")


class ApiToken(IdMixin, Base):
    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="cli")
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # None: never expires (`tokens create --days 0`).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class UserSession(Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored, as the key, so
    every request checks its row by primary key and a revoked row ends the session on every server."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)  # users.session_epoch when it began
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # logout, password, role, deactivated, locked, admin
    revoked_reason: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    # Per-session page preferences (request.session, e.g. the programme shown).
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)

    user: Mapped[User] = relationship(lazy="joined")


class LoginThrottle(Base):
    """Sign-in attempts per key: ``p:<address>|<name>`` (account at an address), ``a:<name>`` (account,
    known or not), ``i:<address>``. Times are Unix seconds, so the rules need no date arithmetic."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[float] = mapped_column(Float, default=0.0)  # no attempt before this
    last_at: Mapped[float] = mapped_column(Float, index=True)  # last attempt let through
