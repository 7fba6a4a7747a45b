"""What the org API takes and returns."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cityloop.core.permissions import Role
from cityloop.core.schemas import Out, Patch, Strict, ZonedDatetime
from cityloop.org.models import UnitKind


class UnitOut(Out):
    id: int
    code: str
    name: str
    name_en: str | None
    kind: str
    parent: str | None = Field(description="code of the parent unit")
    geometry: dict[str, Any] | None = Field(description="GeoJSON geometry (WGS84) when the unit has one")
    geometry_schematic: bool
    administered_by: str | None
    version: int
    updated_at: ZonedDatetime


class UnitCreate(Strict):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=120)
    kind: UnitKind
    parent: str = Field(description="code or name of the parent unit")
    name_en: str | None = Field(default=None, max_length=160)
    geometry: dict[str, Any] | None = None
    administered_by: str | None = Field(default=None, max_length=120)


class UnitUpdate(Patch):
    clearable = frozenset(
        {"name_en", "administered_by", "geometry"}
    )  # null clears these; any other null is a 422
    version: int = Field(description="the version you read; a stale one gets 409")
    name: str | None = Field(default=None, min_length=1, max_length=120)
    name_en: str | None = Field(default=None, max_length=160)
    code: str | None = Field(default=None, min_length=1, max_length=40)
    parent: str | None = None
    geometry: dict[str, Any] | None = None
    administered_by: str | None = Field(default=None, max_length=120)
    active: bool | None = None


class MeOut(Out):
    id: int
    username: str
    display_name: str
    role: Role
    unit: UnitOut
    locale: str
    scope: str = Field(description="materialised path prefix of the units this account sees")


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: str
    unit_code: str
    active: bool
    locked_until: ZonedDatetime | None
    last_login_at: ZonedDatetime | None
    created_at: ZonedDatetime


class UserCreate(Strict):
    username: str = Field(min_length=2, max_length=80)
    password: str = Field(min_length=8, max_length=200)
    role: Role
    unit: str = Field(description="code or name of the unit")
    display_name: str | None = Field(default=None, max_length=120)


class UserUpdate(Patch):
    display_name: str | None = Field(default=None, max_length=120)
    role: Role | None = None
    unit: str | None = Field(default=None, description="code or name of the new unit")
    active: bool | None = None
    password: str | None = Field(default=None, min_length=8, max_length=200, description="reset the password")
    unlock: bool | None = Field(default=None, description="clear a lock after failed sign-ins")


class PersonOut(Out):
    id: int
    name: str
    title: str | None
    phone: str | None
    unit_code: str
    active: bool


class PersonCreate(Strict):
    name: str = Field(min_length=1, max_length=80)
    unit: str = Field(description="code or name of the unit")
    title: str | None = Field(default=None, max_length=120)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+\- ]{3,40}$")
